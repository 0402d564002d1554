"""``slim.quant_settings``: the flags as one value, the sidecar beside a checkpoint, and a resume's agreement."""

from pathlib import Path

import pytest

from slimdet.errors import SlimdetError, WeightsError
from slimdet.slim.quant_settings import QuantAware, load_quant, resolve_quant, save_quant, sidecar_path


def test_flags_split_like_the_legacy_lists_and_default_to_yolo_output():
    assert QuantAware.from_flags(False, None) is None
    assert QuantAware.from_flags(True, None) == QuantAware(("yolo_output",))
    assert QuantAware.from_flags(True, "yolo_output, yolo_block.0 conv1").not_quant_pattern == (
        "yolo_output", "yolo_block.0", "conv1",
    )  # fmt: skip
    assert QuantAware.from_flags(True, "").not_quant_pattern == ()  # every layer quantized


def test_a_pattern_without_the_flag_is_refused():
    with pytest.raises(SlimdetError, match="needs --quant-aware"):
        QuantAware.from_flags(False, "yolo_output")


def test_sidecar_round_trips_beside_the_checkpoint(tmp_path):
    quant = QuantAware(("yolo_output", "conv1"))
    path = save_quant(quant, tmp_path / "model_final.pdparams")
    assert path == sidecar_path(tmp_path / "model_final") == tmp_path / "model_final.quant.json"
    assert load_quant(tmp_path / "model_final") == quant
    assert load_quant(tmp_path / "other") is None and load_quant(None) is None


def test_a_foreign_sidecar_is_one_line(tmp_path):
    (tmp_path / "w.quant.json").write_text('{"format": "something else"}')
    with pytest.raises(WeightsError, match="not a slimdet quantization-aware sidecar"):
        load_quant(tmp_path / "w")


@pytest.mark.parametrize(
    "flags, saved, expected",
    [
        (None, QuantAware(), QuantAware()),  # the flags may be left out on resume
        (None, None, None),
        (QuantAware(), QuantAware(), QuantAware()),
        (QuantAware(), None, "is a float checkpoint"),
        (QuantAware(("conv1",)), QuantAware(), "contradicts the checkpoint's yolo_output"),
    ],
)
def test_resume_takes_the_checkpoints_quantization(flags, saved, expected):
    if isinstance(expected, str):
        with pytest.raises(WeightsError, match=expected):
            resolve_quant(flags, saved, Path("out/2"))
    else:
        assert resolve_quant(flags, saved, Path("out/2")) == expected
