"""``slimdet data synth|check|show``: exit codes, JSON on stdout, one-line errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from slimdet.cli import app

ROOT = Path(__file__).resolve().parents[2]
SHAPES = ROOT / "configs" / "shapes_yolov3_mobilenet_v1.yml"


def _run(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def _pointing_at(dataset: Path) -> list[str]:
    """-o overrides moving the demo config's readers onto ``dataset``."""
    return ["-o", *(f"{r}.dataset.dataset_dir={dataset}" for r in ("TrainReader", "EvalReader", "TestReader"))]


def test_synth_writes_the_dataset_and_reports_it_as_json(tmp_path):
    result = _run(
        "data", "synth", "--out", tmp_path / "s", "--num-train", 3, "--num-test", 2, "--size", 48, "--seed", 4, "--json"
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["num_train"], report["num_test"], report["size"], report["seed"]) == (3, 2, 48, 4)
    assert len((tmp_path / "s" / "trainval.txt").read_text().splitlines()) == 3
    written = sum(xml.read_text().count("<object>") for xml in (tmp_path / "s" / "Annotations").glob("*.xml"))
    assert sum(report["objects"].values()) == written
    assert report["hard"] is False and list(report["objects"]) == ["circle", "square", "triangle"]


def test_synth_hard_writes_the_nine_class_variant(tmp_path):
    result = _run("data", "synth", "--out", tmp_path / "s", "--num-train", 2, "--num-test", 1, "--size", 48, "--hard")
    assert result.exit_code == 0, result.output
    assert "hard" in result.stdout
    assert len((tmp_path / "s" / "label_list.txt").read_text().split()) == 9


def test_synth_refuses_a_non_empty_folder_with_one_line_and_exit_2_unless_forced(tmp_path):
    out = tmp_path / "s"
    assert _run("data", "synth", "--out", out, "--num-train", 1, "--num-test", 1, "--size", 32).exit_code == 0
    again = _run("data", "synth", "--out", out, "--num-train", 1, "--num-test", 1, "--size", 32)
    assert again.exit_code == 2
    message = f"error: {out} is not empty: pass --force to replace it, or choose another output folder"
    assert again.stderr.strip().splitlines() == [message]
    forced = _run("data", "synth", "--out", out, "--num-train", 2, "--num-test", 1, "--size", 32, "--force")
    assert forced.exit_code == 0
    assert len((out / "trainval.txt").read_text().splitlines()) == 2


def test_check_reports_the_synthetic_set_as_json(synthetic_voc):
    result = _run("data", "check", "-c", SHAPES, *_pointing_at(synthetic_voc), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["problems"] == []
    assert (report["split"], report["images"], report["width_range"]) == ("train", 16, [96, 96])
    assert [c["name"] for c in report["classes"]] == ["circle", "square", "triangle"]
    listed = sum(xml.read_text().count("<object>") for xml in (synthetic_voc / "Annotations").glob("train_*.xml"))
    assert report["objects"] == listed


def test_check_eval_split_prints_tables(synthetic_voc):
    result = _run("data", "check", "-c", SHAPES, *_pointing_at(synthetic_voc), "--split", "eval")
    assert result.exit_code == 0, result.output
    assert "objects per class" in result.stdout and "test.txt" in result.stdout and "ok" in result.stdout


def test_check_exits_1_when_the_dataset_has_problems(synthetic_voc, tmp_path):
    broken = Path(shutil.copytree(synthetic_voc, tmp_path / "shapes"))
    (broken / "JPEGImages" / "train_00002.jpg").write_bytes(b"not a jpeg")
    result = _run("data", "check", "-c", SHAPES, *_pointing_at(broken), "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False and len(report["problems"]) == 1 and "train_00002.jpg" in report["problems"][0]


def test_check_without_the_dataset_is_one_line_saying_how_to_make_it(tmp_path):
    result = _run("data", "check", "-c", SHAPES, *_pointing_at(tmp_path / "missing"))
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert "missing does not exist" in line and "slimdet data synth" in line


def test_show_writes_pngs_and_lists_them(synthetic_voc, tmp_path):
    out = tmp_path / "pics"
    result = _run("data", "show", "-c", SHAPES, *_pointing_at(synthetic_voc), "--num", 2, "--out", out, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert len(report["files"]) == 2 and all(Path(f).is_file() for f in report["files"])
    assert report["boxes"] >= 2


def test_installed_entry_point_runs_data_synth(tmp_path):
    slimdet = Path(sys.executable).with_name("slimdet")
    done = subprocess.run(
        [str(slimdet), "data", "synth", "--out", str(tmp_path / "s"), "--num-train", "1", "--num-test", "1"]
        + ["--size", "32", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["num_train"] == 1
