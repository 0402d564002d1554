"""The one table of section defaults agrees with the schema, and readers see exactly it."""

import pytest

from slimdet.config import schema
from slimdet.config.checks import check, typed_keys
from slimdet.config.defaults import SECTION_DEFAULTS, TAG_DEFAULTS, section_with_defaults, with_tag_defaults

TAG_SCHEMAS = {
    "PiecewiseDecay": schema.PiecewiseDecay,
    "LinearWarmup": schema.LinearWarmup,
    "Momentum": schema.Momentum,
    "L2": schema.Regularizer,
    "L1": schema.Regularizer,
}


@pytest.mark.parametrize("name", sorted(SECTION_DEFAULTS))
def test_every_section_default_is_a_key_the_schema_declares_at_a_value_it_accepts(name):
    keys = typed_keys(typed_keys(schema.Sections)[0][name])[0]
    for key, value in SECTION_DEFAULTS[name].items():
        assert key in keys, f"{name}.{key} has a default but no place in the schema"
        assert check(value, keys[key], f"{name}.{key}") == []


@pytest.mark.parametrize("tag", sorted(TAG_DEFAULTS))
def test_every_tag_default_is_a_key_its_schema_declares_at_a_value_it_accepts(tag):
    keys = typed_keys(TAG_SCHEMAS[tag])[0]
    for key, value in TAG_DEFAULTS[tag].items():
        assert key in keys and check(value, keys[key], f"{tag}.{key}") == []


def test_written_keys_win_and_the_table_is_never_changed_through_a_reader():
    cfg = {"YOLOv3Head": {"conv_block_num": 1}, "TrainReader": "not a mapping"}
    head = section_with_defaults(cfg, "YOLOv3Head")
    assert head["conv_block_num"] == 1 and head["anchors"] == SECTION_DEFAULTS["YOLOv3Head"]["anchors"]
    head["anchors"].append([1, 1])  # a builder's copy
    assert len(SECTION_DEFAULTS["YOLOv3Head"]["anchors"]) == 9
    assert section_with_defaults(cfg, "TrainReader") == SECTION_DEFAULTS["TrainReader"]  # reported elsewhere
    assert with_tag_defaults({"type": "LinearWarmup", "steps": 4}) == {"type": "LinearWarmup", "steps": 4,
                                                                       "start_factor": 1.0 / 3}  # fmt: skip
