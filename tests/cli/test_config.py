"""slimdet config show: the merged, validated config as YAML or JSON; user errors exit 2 with one line."""

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from slimdet.cli import app
from slimdet.config import load_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
MOBILENET_VOC = str(CONFIGS / "yolov3_mobilenet_v1_voc.yml")


def run(*args: str):
    return CliRunner().invoke(app, ["config", "show", *args])


def test_json_shows_overrides_applied():
    result = run("-c", MOBILENET_VOC, "-o", "use_fine_grained_loss=true", "TrainReader.batch_size=4", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["use_fine_grained_loss"] is True
    assert data["TrainReader"]["batch_size"] == 4
    assert data["TrainReader"]["dataset"]["type"] == "VOCDataSet"  # tags shown as plain data
    assert data["EvalReader"]["batch_size"] == 8  # from the shared reader file


def test_repeated_o_flags_accumulate():
    result = run("-c", MOBILENET_VOC, "-o", "max_iters=10", "-o", "snapshot_iter=5", "--json")
    data = json.loads(result.stdout)
    assert (data["max_iters"], data["snapshot_iter"]) == (10, 5)


def test_yaml_output_is_itself_a_config_that_loads_to_the_same_data(tmp_path: Path):
    result = run("-c", MOBILENET_VOC, "-o", "TrainReader.batch_size=4")
    assert result.exit_code == 0, result.output
    shown = tmp_path / "shown.yml"
    shown.write_text(result.stdout)
    assert yaml.safe_load(result.stdout)["TrainReader"]["batch_size"] == 4
    assert load_config(shown).to_dict() == load_config(MOBILENET_VOC, ["TrainReader.batch_size=4"]).to_dict()


def _one_error_line(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert result.stdout == ""
    return lines[0]


def test_unknown_override_key_exits_2_suggesting_the_right_one():
    line = _one_error_line(run("-c", MOBILENET_VOC, "-o", "snapshot_iters=5"))
    assert line == f"error: {MOBILENET_VOC}: unknown key 'snapshot_iters' (did you mean 'snapshot_iter'?)"


def test_missing_config_file_exits_2(tmp_path: Path):
    line = _one_error_line(run("-c", str(tmp_path / "nope.yml")))
    assert line == f"error: config file not found: {tmp_path / 'nope.yml'}"


def test_bad_value_type_exits_2_with_the_expected_type():
    line = _one_error_line(run("-c", MOBILENET_VOC, "-o", "TrainReader.batch_size=four"))
    assert line.endswith("TrainReader.batch_size: expected an integer, got 'four'")


def test_override_without_equals_exits_2():
    line = _one_error_line(run("-c", MOBILENET_VOC, "-o", "use_fine_grained_loss"))
    assert "override 'use_fine_grained_loss' is not key=value" in line


def test_several_problems_share_one_line():
    line = _one_error_line(run("-c", MOBILENET_VOC, "-o", "max_iters=x", "metric=voc", "bad"))
    assert "3 problems" in line and "max_iters" in line and "'VOC'" in line and "'bad'" in line


def test_include_cycle_exits_2(tmp_path: Path):
    (tmp_path / "a.yml").write_text("_BASE_: [b.yml]\n")
    (tmp_path / "b.yml").write_text("_BASE_: [a.yml]\n")
    line = _one_error_line(run("-c", str(tmp_path / "a.yml")))
    assert line == "error: include cycle: a.yml -> b.yml -> a.yml"


@pytest.mark.parametrize("where", ["file", "override"])
def test_unsafe_python_tag_exits_2_and_runs_nothing(tmp_path: Path, where: str):
    marker = tmp_path / "executed"
    tag = f"!!python/object/apply:os.system ['touch {marker}']"
    if where == "file":
        config = tmp_path / "evil.yml"
        config.write_text(f"_BASE_: [{MOBILENET_VOC}]\nweights: {tag}\n")
        args = ["-c", str(config)]
    else:
        args = ["-c", MOBILENET_VOC, "-o", f"weights={tag}"]
    line = _one_error_line(run(*args))
    assert "refusing the Python tag !!python/object/apply:os.system" in line
    assert not marker.exists()


def test_list_shows_every_shipped_config_and_c_finds_one_by_name_from_anywhere(tmp_path: Path, monkeypatch):
    listed = CliRunner().invoke(app, ["config", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    names = [entry["name"] for entry in json.loads(listed.stdout)]
    assert names == sorted(p.name for p in CONFIGS.glob("*.yml")) and "yolov3_mobilenet_v1_voc.yml" in names

    monkeypatch.chdir(tmp_path)  # no such file here: the shipped one is read, and the YAML view names it
    for given in ("yolov3_mobilenet_v1_voc.yml", "configs/yolov3_mobilenet_v1_voc.yml", "yolov3_mobilenet_v1_voc"):
        result = run("-c", given)
        assert result.exit_code == 0, result.output
        assert result.stdout.splitlines()[0].strip() == f"# {(CONFIGS / 'yolov3_mobilenet_v1_voc.yml').resolve()}"

    (tmp_path / "yolov3_mobilenet_v1_voc.yml").write_text("architecture: YOLOv3\nmax_iters: 7\nnum_classes: 2\n")
    own = json.loads(run("-c", "yolov3_mobilenet_v1_voc.yml", "--json").stdout)
    assert own["max_iters"] == 7  # a file in the working directory always wins over the shipped one
