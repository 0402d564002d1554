"""includes.py: _READER_ (0.x) and _BASE_ (2.x) includes, merged the legacy way, with cycle detection."""

import copy
from pathlib import Path

import pytest

from slimdet.config.includes import merge, read_with_includes
from slimdet.config.tags import TaggedMapping
from slimdet.errors import ConfigError

READER = """
TrainReader:
  inputs_def:
    fields: ['image', 'gt_bbox', 'gt_class', 'gt_score']
    num_max_boxes: 50
  dataset:
    !COCODataSet
      image_dir: train2017
      anno_path: annotations/instances_train2017.json
      dataset_dir: dataset/coco
      with_background: false
  sample_transforms:
  - !DecodeImage
    to_rgb: True
  - !PadBox
    num_max_boxes: 50
  batch_size: 8
  worker_num: 8
"""

MAIN = """
architecture: YOLOv3
max_iters: 70000
num_classes: 20
_READER_: 'yolov3_reader.yml'
TrainReader:
  inputs_def:
    num_max_boxes: 100
  dataset:
    !VOCDataSet
    dataset_dir: dataset/voc
    anno_path: trainval.txt
    use_default_label: true
  batch_size: 4
"""


def test_reader_is_merged_first_and_main_file_wins(write_yaml):
    write_yaml("yolov3_reader.yml", READER)
    merged = read_with_includes(write_yaml("main.yml", MAIN))
    train = merged["TrainReader"]
    assert train["batch_size"] == 4  # main file wins
    assert train["worker_num"] == 8  # reader value kept where main is silent
    assert train["inputs_def"] == {"fields": ["image", "gt_bbox", "gt_class", "gt_score"], "num_max_boxes": 100}
    assert [t["type"] for t in train["sample_transforms"]] == ["DecodeImage", "PadBox"]
    assert "_READER_" not in merged


def test_tagged_dataset_replaces_the_readers_one_whole(write_yaml):
    write_yaml("yolov3_reader.yml", READER)
    dataset = read_with_includes(write_yaml("main.yml", MAIN))["TrainReader"]["dataset"]
    # no COCO image_dir leaks into the VOC dataset
    assert dataset == {
        "type": "VOCDataSet",
        "dataset_dir": "dataset/voc",
        "anno_path": "trainval.txt",
        "use_default_label": True,
    }


def test_base_list_merges_in_order_and_including_file_last(write_yaml):
    write_yaml("a.yml", "x: a\ny: a\nz: a\nsection: {from_a: 1, shared: a}\n")
    write_yaml("b.yml", "y: b\nz: b\nsection: {shared: b}\n")
    merged = read_with_includes(write_yaml("top.yml", "_BASE_: [a.yml, b.yml]\nz: top\n"))
    assert merged == {"x": "a", "y": "b", "z": "top", "section": {"from_a": 1, "shared": "b"}}


def test_bases_nest_and_paths_are_relative_to_the_including_file(write_yaml):
    write_yaml("base/reader.yml", "r: reader\nlevel: reader\n")
    write_yaml("base/model.yml", "_READER_: reader.yml\nm: model\nlevel: model\n")
    merged = read_with_includes(write_yaml("exp/top.yml", "_BASE_:\n  - ../base/model.yml\nlevel: top\n"))
    assert merged == {"r": "reader", "m": "model", "level": "top"}


def test_a_single_base_string_is_accepted(write_yaml):
    write_yaml("a.yml", "x: 1\n")
    assert read_with_includes(write_yaml("top.yml", "_BASE_: a.yml\ny: 2\n")) == {"x": 1, "y": 2}


def test_diamond_includes_are_not_a_cycle(write_yaml):
    write_yaml("common.yml", "c: 1\n")
    write_yaml("left.yml", "_BASE_: [common.yml]\nl: 1\n")
    write_yaml("right.yml", "_BASE_: [common.yml]\nr: 1\n")
    assert read_with_includes(write_yaml("top.yml", "_BASE_: [left.yml, right.yml]\n")) == {"c": 1, "l": 1, "r": 1}


def test_include_cycle_is_an_error_naming_the_cycle(write_yaml):
    write_yaml("a.yml", "_BASE_: [b.yml]\n")
    write_yaml("b.yml", "_READER_: c.yml\n")
    write_yaml("c.yml", "_BASE_: [a.yml]\n")
    with pytest.raises(ConfigError, match=r"^include cycle: a\.yml -> b\.yml -> c\.yml -> a\.yml$"):
        read_with_includes(write_yaml("top.yml", "_BASE_: [a.yml]\n"))


def test_a_file_including_itself_is_a_cycle(write_yaml):
    with pytest.raises(ConfigError, match=r"include cycle: self\.yml -> self\.yml"):
        read_with_includes(write_yaml("self.yml", "_READER_: self.yml\n"))


def test_missing_include_names_the_including_file(write_yaml, tmp_path: Path):
    top = write_yaml("top.yml", "_READER_: 'yolov3_reader.yml'\n")
    with pytest.raises(ConfigError, match="config file not found: .*yolov3_reader.yml \\(included by .*top.yml\\)"):
        read_with_includes(top)


def test_bad_base_value_is_an_error(write_yaml):
    with pytest.raises(ConfigError, match="_BASE_ a list of file paths"):
        read_with_includes(write_yaml("top.yml", "_BASE_: {a: 1}\n"))


def test_top_level_must_be_a_mapping(write_yaml):
    with pytest.raises(ConfigError, match="must be a mapping of keys, got list"):
        read_with_includes(write_yaml("list.yml", "- a\n- b\n"))


def test_merge_recurses_into_plain_mappings_and_replaces_everything_else():
    base = {"a": {"x": 1, "y": [1, 2]}, "t": TaggedMapping(type="Old", k=1), "s": 1}
    top = {"a": {"y": [3]}, "t": TaggedMapping(type="New"), "s": {"now": "mapping"}}
    assert merge(base, top) == {"a": {"x": 1, "y": [3]}, "t": {"type": "New"}, "s": {"now": "mapping"}}


def test_plain_mapping_merges_into_a_tagged_one():
    merged = merge({"d": TaggedMapping(type="VOCDataSet", dataset_dir="a", anno_path="t")}, {"d": {"dataset_dir": "b"}})
    assert merged == {"d": {"type": "VOCDataSet", "dataset_dir": "b", "anno_path": "t"}}


def test_merge_leaves_its_inputs_untouched():
    base, top = {"a": {"x": 1}}, {"a": {"y": 2}}
    before = copy.deepcopy((base, top))
    merge(base, top)
    assert (base, top) == before
