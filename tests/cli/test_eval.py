"""``slimdet eval``: reproduces the mAP training recorded, per class, with bbox.json; user errors are one line."""

import json

import pytest
from typer.testing import CliRunner

from slimdet.cli import app


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_eval_reproduces_the_map_recorded_in_training(overfit_tiny, tmp_path):
    config, weights = overfit_tiny.config, overfit_tiny.weights
    result = run("eval", "-c", config, "-o", f"weights={weights}", "--json", "--output_eval", tmp_path / "dets")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    # Four 64 px images are too little work to pay for compiling a graph: both the trainer's snapshots and
    # eval ran the model in dygraph, so the very same detections and metrics.
    assert report["backend"] == "dygraph"
    assert report["metrics"] == pytest.approx(overfit_tiny.metrics, abs=1e-9)
    assert report["metrics"]["mAP"] > 0.3  # a trained model: equal mAPs are not two zeros
    assert report["description"] == "mAP(0.50, 11point)"
    assert [row["name"] for row in report["classes"]] == ["circle", "square", "triangle"]
    assert report["images"] == 4 and report["pruned"] is False

    records = json.loads((tmp_path / "dets" / "bbox.json").read_text())
    assert report["bbox_json"] == str(tmp_path / "dets" / "bbox.json")
    assert len(records) == sum(row["num_det"] for row in report["classes"])
    assert {"image_id", "category_id", "bbox", "score"} <= set(records[0])

    compiled = run("eval", "-c", config, "-w", weights, "--engine", "inference", "--json")
    assert compiled.exit_code == 0, compiled.output
    assert json.loads(compiled.stdout)["backend"] == "inference"
    # fused kernels round differently: the same mAP within 0.1 point
    assert json.loads(compiled.stdout)["metrics"]["mAP"] == pytest.approx(report["metrics"]["mAP"], abs=1e-3)

    table = run("eval", "-c", config, "-w", weights, "-o", "map_type=integral")
    assert table.exit_code == 0, table.output
    assert "mAP(0.50, integral)" in table.stdout
    assert all(name in table.stdout for name in ("circle", "square", "triangle"))


def test_missing_weights_is_one_line_exit_2(tiny_train_config, tmp_path):
    result = run(
        "eval", "-c", tiny_train_config, "--weights", tmp_path / "nothing.pdparams", "--output_eval", tmp_path / "dets"
    )
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "nothing.pdparams" in lines[0]
    assert not (tmp_path / "dets").exists()


@pytest.mark.parametrize(
    "flags, expected",
    [
        (["--model-dir", "m", "-w", "w.pdparams"], "drop --weights"),
        (["--onnx"], "add --model-dir"),
        (["--model-dir", "nowhere"], "'nowhere' does not exist"),
    ],
)
def test_model_dir_flag_mistakes_are_one_line(tiny_train_config, tmp_path, flags, expected):
    flags = [str(tmp_path / f) if f in ("m", "nowhere") else f for f in flags]
    result = run("eval", "-c", tiny_train_config, *flags)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0].replace(str(tmp_path) + "/", "")
