"""overrides.py: -o key=value items, values read as YAML, dotted keys nesting without clobbering."""

from slimdet.config.overrides import parse_overrides
from slimdet.config.tags import TaggedMapping


def test_several_items_with_yaml_typed_values():
    layer, problems = parse_overrides(
        ["use_fine_grained_loss=true", "LearningRate.base_lr=0.001", "sizes=[320,416]", "save_dir=out/x", "weights="]
    )
    assert problems == []
    assert layer == {
        "use_fine_grained_loss": True,
        "LearningRate": {"base_lr": 0.001},
        "sizes": [320, 416],
        "save_dir": "out/x",
        "weights": None,
    }


def test_dotted_keys_reach_nested_sections():
    layer, _ = parse_overrides(["TrainReader.batch_size=4", "TrainReader.dataset.dataset_dir=x"])
    assert layer == {"TrainReader": {"batch_size": 4, "dataset": {"dataset_dir": "x"}}}


def test_deep_keys_sharing_a_prefix_do_not_clobber_each_other():
    # PaddleDetection 0.x kept only the last of these two
    layer, _ = parse_overrides(["TrainReader.dataset.dataset_dir=x", "TrainReader.dataset.anno_path=y.txt"])
    assert layer == {"TrainReader": {"dataset": {"dataset_dir": "x", "anno_path": "y.txt"}}}


def test_value_splits_at_the_first_equals_sign():
    layer, _ = parse_overrides(["note=a=b"])
    assert layer == {"note": "a=b"}


def test_tagged_value_is_read_as_data():
    layer, _ = parse_overrides(["TrainReader.dataset=!VOCDataSet {dataset_dir: d, anno_path: t.txt}"])
    assert layer["TrainReader"]["dataset"] == {"type": "VOCDataSet", "dataset_dir": "d", "anno_path": "t.txt"}
    assert isinstance(layer["TrainReader"]["dataset"], TaggedMapping)


def test_item_without_equals_is_a_problem_and_the_rest_still_applies():
    layer, problems = parse_overrides(["use_fine_grained_loss", "max_iters=10"])
    assert layer == {"max_iters": 10}
    assert problems == ["override 'use_fine_grained_loss' is not key=value (e.g. -o TrainReader.batch_size=4)"]


def test_empty_key_parts_are_problems():
    _, problems = parse_overrides(["=1", "a..b=2", "a.=3"])
    assert len(problems) == 3
    assert all("is not key=value" in problem for problem in problems)


def test_invalid_yaml_value_is_a_problem_naming_the_item():
    _, problems = parse_overrides(["sizes=[1,"])
    assert len(problems) == 1 and problems[0].startswith("override 'sizes=[1,': ")
