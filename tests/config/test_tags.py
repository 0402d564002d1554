"""tags.py: !Tag nodes become plain data, Python tags are refused and never run."""

from pathlib import Path

import pytest

from slimdet.config.tags import TaggedMapping, parse_yaml, read_yaml_file
from slimdet.errors import ConfigError


def test_tagged_mapping_becomes_type_plus_arguments():
    data = parse_yaml("dataset: !VOCDataSet\n  dataset_dir: dataset/voc\n  anno_path: trainval.txt\n", "t.yml")
    assert data == {"dataset": {"type": "VOCDataSet", "dataset_dir": "dataset/voc", "anno_path": "trainval.txt"}}
    assert isinstance(data["dataset"], TaggedMapping)


def test_empty_mapping_and_bare_tags_become_type_only():
    data = parse_yaml("t:\n  - !ColorDistort {}\n  - !RandomCrop\n  - !NormalizeBox ''\n", "t.yml")
    assert data == {"t": [{"type": "ColorDistort"}, {"type": "RandomCrop"}, {"type": "NormalizeBox"}]}


def test_scalar_and_sequence_arguments_are_kept():
    data = parse_yaml("a: !Foo 3\nb: !Bar [1, 2]\n", "t.yml")
    assert data == {"a": {"type": "Foo", "value": "3"}, "b": {"type": "Bar", "args": [1, 2]}}


def test_tags_nest_inside_tagged_arguments():
    data = parse_yaml("x: !Outer\n  inner: !Inner {k: 1}\n", "t.yml")
    assert data == {"x": {"type": "Outer", "inner": {"type": "Inner", "k": 1}}}


def test_plain_yaml_types_are_unchanged_and_exponent_floats_are_numbers():
    data = parse_yaml("a: 0.\nb: true\nc: [320, 416]\nd: 1e-3\ne: -2E+2\nf: 0001\ng: text\n", "t.yml")
    assert data == {"a": 0.0, "b": True, "c": [320, 416], "d": 0.001, "e": -200.0, "f": 1, "g": "text"}
    assert isinstance(data["d"], float)


@pytest.mark.parametrize(
    "tag",
    [
        "!!python/object/apply:os.system",
        "!!python/object/new:os.system",
        "!<tag:yaml.org,2002:python/object/apply:os.system>",
    ],
)
def test_python_tags_are_refused_and_never_executed(tmp_path: Path, tag: str):
    marker = tmp_path / "executed"
    text = f"architecture: YOLOv3\nboom: {tag} ['touch {marker}']\n"
    with pytest.raises(ConfigError, match=r"evil\.yml:2: refusing the Python tag"):
        parse_yaml(text, "evil.yml")
    assert not marker.exists()


def test_python_name_tags_are_refused_too():
    with pytest.raises(ConfigError, match="refusing the Python tag !!python/name:os.system"):
        parse_yaml("x: !!python/name:os.system ''\n", "t.yml")


def test_local_tags_must_be_class_names():
    with pytest.raises(ConfigError, match=r"t\.yml:1: unsupported tag !python/object:os\.system"):
        parse_yaml("x: !python/object:os.system {}\n", "t.yml")


def test_tag_and_type_key_together_is_an_error():
    with pytest.raises(ConfigError, match="!VOCDataSet also has a 'type' key"):
        parse_yaml("d: !VOCDataSet {type: COCODataSet}\n", "t.yml")


def test_syntax_error_names_file_and_line():
    with pytest.raises(ConfigError, match=r"^bad\.yml:3: "):
        parse_yaml("a: 1\nb: [1, 2\nc: 3\n", "bad.yml")


def test_missing_file_is_one_clear_line(tmp_path: Path):
    missing = tmp_path / "nope.yml"
    with pytest.raises(ConfigError, match=f"^config file not found: {missing}$"):
        read_yaml_file(missing)


def test_a_folder_is_not_a_config_file(tmp_path: Path):
    with pytest.raises(ConfigError, match="config path is not a file"):
        read_yaml_file(tmp_path)
