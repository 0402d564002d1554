"""``slimdet quantize``: an int8 folder that infer draws with and eval scores, the float vs int8 report (on the
shared overfit model, whose mAP is well above 0: int8 stays near it), one-line errors with nothing written."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from slimdet.cli import app
from tests.cli.one_line import one_error_line

# How far an int8 model's mAP may stray from its float model's on the overfit model's 4 images (one box of ~16
# in the AP curve); measured: 0.01–0.05 with 4 calibration images, on both backends.
INT8_TOLERANCE = 0.1


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def float_export(overfit_tiny, tmp_path_factory) -> tuple[Path, Path]:
    """(config, folder): the shared overfit model (64 px, trained and scored on the same 4 images), exported with
    ONNX once."""
    root = tmp_path_factory.mktemp("quantize")
    config, weights = overfit_tiny.config, overfit_tiny.weights
    result = run("export", "-c", config, "-o", f"weights={weights}", "--output-dir", root / "float", "--onnx", "--json")
    assert result.exit_code == 0, result.output
    return config, root / "float" / config.stem


@pytest.fixture(scope="module")
def quantized(float_export) -> tuple[dict, Path]:
    """(the --json report, the int8 folder) of one quantize run on 4 calibration images, both backends, by the
    installed entry point: what the int8 passes print below Python must not reach its stdout."""
    config, folder = float_export
    out = folder.parent.parent / "int8"
    command = [Path(sys.executable).with_name("slimdet"), "--threads", "1", "quantize", "--model-dir", folder, "-c", config,
               "--output-dir", out, "--calib-images", 4, "--onnx", "--algo", "AVG", "--json"]  # fmt: skip
    done = subprocess.run([str(a) for a in command], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "---" not in done.stderr  # the oneDNN passes' log lines stay away from the user
    return json.loads(done.stdout), out


def test_json_compares_float_and_int8_per_engine(quantized):
    report, out = quantized
    assert report["out_dir"] == str(out) and report["calibration_images"] == 4 and report["algo"] == "avg"
    assert report["input_size"] == 64 and report["eval_images"] == 4
    assert [(r["backend"], r["precision"]) for r in report["rows"]] == [
        ("paddle_inference", "float32"), ("paddle_inference", "int8"), ("onnxruntime", "float32"), ("onnxruntime", "int8"),
    ]  # fmt: skip
    for row in report["rows"]:
        assert 0.0 <= row["mAP"] <= 1.0 and row["latency_ms"] > 0
    float_map, int8_map = (
        {r["backend"]: r["mAP"] for r in report["rows"] if r["precision"] == p} for p in ("float32", "int8")
    )
    for backend, value in float_map.items():
        assert value > 0.3 and int8_map[backend] == pytest.approx(value, abs=INT8_TOLERANCE), backend
    for backend, ratios in report["int8_vs_float"].items():
        assert 0.2 < ratios["size"] < 0.3, backend  # int8 weights: about a quarter of float32 on disk
    assert set(report["slower_int8"]) <= {"paddle_inference", "onnxruntime"}


def test_int8_folder_is_an_export_that_says_int8(quantized):
    _, out = quantized
    assert sorted(p.name for p in out.iterdir()) == ["infer_cfg.yml", "model.onnx", "model.pdiparams", "model.pdmodel"]
    infer_cfg = yaml.safe_load((out / "infer_cfg.yml").read_text())
    assert infer_cfg["precision"] == "int8" and infer_cfg["label_list"] == ["circle", "square", "triangle"]
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".")] == []  # no staging folder left


def test_infer_draws_with_the_int8_model(quantized, synthetic_voc, tmp_path):
    _, out = quantized
    image = min((synthetic_voc / "JPEGImages").glob("train_*.jpg"))  # one the overfit model was trained on
    result = run(
        "infer", "--model-dir", out, "--image", image, "--threshold", "0.2", "--output-dir", tmp_path, "--json"
    )
    assert result.exit_code == 0, result.output
    drawn = json.loads(result.stdout)["images"][0]
    assert Path(drawn["drawn"]).is_file() and drawn["detections"]


@pytest.mark.parametrize("backend_flags, backend", [((), "paddle_inference"), (("--onnx",), "onnxruntime")])
def test_eval_model_dir_scores_the_int8_model_as_quantize_reported(quantized, float_export, backend_flags, backend):
    report, out = quantized
    config, _ = float_export
    result = run("eval", "--model-dir", out, "-c", config, *backend_flags, "--json")
    assert result.exit_code == 0, result.output
    scored = json.loads(result.stdout)
    assert scored["backend"] == backend and scored["precision"] == "int8" and scored["images"] == 4
    reported = next(r for r in report["rows"] if r["backend"] == backend and r["precision"] == "int8")
    assert scored["metrics"]["mAP"] == pytest.approx(reported["mAP"], abs=1e-9) and reported["mAP"] > 0.3


def test_table_names_engines_and_ratios(float_export, tmp_path):
    config, folder = float_export
    result = run("quantize", "--model-dir", folder, "-c", config, "--output-dir", tmp_path / "q", "--calib-images", 2)
    assert result.exit_code == 0, result.output
    assert "paddle_inference" in result.stdout and "int8" in result.stdout and "1.00×" in result.stdout
    assert "onnxruntime" not in result.stdout  # only with --onnx
    assert (tmp_path / "q" / "model.pdmodel").is_file() and not (tmp_path / "q" / "model.onnx").exists()


def _no_images(data: Path, tmp_path: Path) -> list[str]:
    """-o pointing the TrainReader at a copy of the data whose training list is empty."""
    empty = tmp_path / "empty_data"
    shutil.copytree(data, empty, ignore=shutil.ignore_patterns("*.jpg", "*.xml"))
    (empty / "trainval.txt").write_text("")
    return ["-o", f"TrainReader.dataset.dataset_dir={empty}", "TrainReader.dataset.anno_path=trainval.txt"]


@pytest.mark.parametrize(
    "case, expected",
    [
        ("not_an_export", "lacks model.pdmodel"),
        ("int8_input", "already int8"),
        ("unknown_algo", "unknown calibration algorithm 'hsit' (did you mean 'hist'?)"),
        ("output_exists", "already exists"),
        ("no_onnx_model", "lacks model.onnx"),
        ("no_calibration_images", "TrainReader"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(case, expected, float_export, quantized, synthetic_voc, tmp_path):
    config, folder = float_export
    model_dir, out, extra = folder, tmp_path / "out", []
    if case == "not_an_export":
        model_dir = tmp_path / "empty"
        model_dir.mkdir()
    elif case == "int8_input":
        model_dir = quantized[1]
    elif case == "unknown_algo":
        extra = ["--algo", "hsit"]
    elif case == "output_exists":
        out.mkdir()
        (out / "keep.txt").write_text("mine")
    elif case == "no_onnx_model":
        model_dir = tmp_path / "no_onnx"
        shutil.copytree(folder, model_dir, ignore=shutil.ignore_patterns("model.onnx"))
        extra = ["--onnx"]
    elif case == "no_calibration_images":
        extra = _no_images(synthetic_voc, tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    line = one_error_line(run("quantize", "--model-dir", model_dir, "-c", config, "--output-dir", out, *extra))
    assert expected in line
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no output, no staging folder
    if case == "output_exists":
        assert [p.name for p in out.iterdir()] == ["keep.txt"]
