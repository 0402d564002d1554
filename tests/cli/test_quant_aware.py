"""``slimdet train --quant-aware``: fake-quant fine-tuning of the shared overfit model, exported as int8 and scored
against float; on a pruned checkpoint with a teacher; resume; one-line errors with nothing written."""

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from slimdet.cli import app
from tests.cli.one_line import one_error_line

STEPS = 4
# How far int8 may fall below the float model's mAP on the overfit model's 4 images (one box of ~16 in the AP
# curve). Fine-tuning may lift it above: quantization-aware training goes on training the float weights too.
INT8_TOLERANCE = 0.1
PRUNED = {"yolo_block.0.0.0.conv.weights": 0.2, "yolo_block.0.2.conv.weights": 0.4}  # conv_block_num 1


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _json(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def quant_aware(overfit_tiny, tmp_path_factory) -> dict:
    """The overfit model fine-tuned quantization-aware for a few steps (a checkpoint half way), exported, and
    scored: the float checkpoint, the quantization-aware checkpoint (dygraph, fake quant) and its int8 folder
    (Paddle Inference, oneDNN int8 kernels)."""
    out = tmp_path_factory.mktemp("quant_aware")
    config = overfit_tiny.config
    report = _json(run("train", "-c", config, "--quant_aware", "--not_quant_pattern", "yolo_output", "-q", "--json",
                       "-o", f"pretrain_weights={overfit_tiny.weights}", f"save_dir={out}", f"max_iters={STEPS}",
                       f"snapshot_iter={STEPS // 2}"))  # fmt: skip
    final = report["final_checkpoint"]
    exported = _json(run("export", "-c", config, "-o", f"weights={final}", "--output-dir", out / "int8", "--json"))
    int8 = _json(run("eval", "-c", config, "--model-dir", exported["out_dir"], "--json"))
    checkpoint = _json(run("eval", "-c", config, "-w", final, "--json"))
    return {"out": out, "train": report, "export": exported, "int8": int8, "checkpoint": checkpoint}


def test_training_reports_what_it_left_float_and_marks_each_checkpoint(quant_aware):
    report = quant_aware["train"]
    assert report["quant_aware"]["left_float"] == [f"yolo_output.{i}.conv.weights" for i in range(3)]
    assert report["quant_aware"]["weight_quantize_type"] == "channel_wise_abs_max"
    assert report["pretrained"]["missing"] == 0  # the trained model, loaded whole
    for stem in (report["final_checkpoint"], str(Path(report["output_dir"]) / str(STEPS // 2))):
        assert Path(f"{stem}.quant.json").is_file()


def test_int8_model_stays_within_tolerance_of_float(quant_aware, overfit_tiny):
    float_map, int8_map = overfit_tiny.metrics["mAP"], quant_aware["int8"]["metrics"]["mAP"]
    assert float_map > 0.3  # not two zeros
    assert int8_map >= float_map - INT8_TOLERANCE, (float_map, int8_map)


def test_int8_export_scores_what_the_fake_quant_checkpoint_scored(quant_aware):
    """The frozen int8 graph rounds as the fake-quant ops trained it to: its mAP is the checkpoint's, within
    the oneDNN kernels' rounding."""
    checkpoint, int8 = quant_aware["checkpoint"]["metrics"]["mAP"], quant_aware["int8"]["metrics"]["mAP"]
    assert checkpoint > 0.3 and int8 == pytest.approx(checkpoint, abs=0.05)
    assert quant_aware["int8"]["precision"] == "int8" and quant_aware["int8"]["backend"] == "paddle_inference"


def test_export_writes_the_quantize_folder_layout(quant_aware):
    exported = quant_aware["export"]
    folder = Path(exported["out_dir"])
    assert exported["precision"] == "int8" and exported["ok"]
    assert sorted(p.name for p in folder.iterdir()) == ["infer_cfg.yml", "model.pdiparams", "model.pdmodel"]
    assert yaml.safe_load((folder / "infer_cfg.yml").read_text())["precision"] == "int8"
    float_bytes = exported["parameters_mib"] * 2**20
    assert 0.2 < exported["files"]["model.pdiparams"] / float_bytes < 0.3  # int8 weights: a quarter of float32


def test_infer_draws_with_the_int8_model(quant_aware, synthetic_voc, tmp_path):
    image = min((synthetic_voc / "JPEGImages").glob("train_*.jpg"))
    report = _json(run("infer", "--model-dir", quant_aware["export"]["out_dir"], "--image", image, "--threshold",
                       "0.2", "--output-dir", tmp_path, "--json"))  # fmt: skip
    assert Path(report["images"][0]["drawn"]).is_file()


def test_resume_continues_quantization_aware_exactly_without_the_flag(quant_aware, overfit_tiny, tmp_path):
    """The scales (moving averages and their state) are checkpointed by stable names: a resumed run, not told
    --quant-aware again, ends with the same weights and scales as the uninterrupted one."""
    import numpy as np
    import paddle

    report = quant_aware["train"]
    resumed = _json(run("train", "-c", overfit_tiny.config, "-r", Path(report["output_dir"]) / str(STEPS // 2),
                        "-q", "--json", "-o", f"save_dir={tmp_path}", f"max_iters={STEPS}"))  # fmt: skip
    assert resumed["quant_aware"] == report["quant_aware"] and resumed["start_iter"] == STEPS // 2
    ours, theirs = (paddle.load(f"{r['final_checkpoint']}.pdparams") for r in (resumed, report))
    assert sorted(ours) == sorted(theirs) and any(name.endswith(".fake_quant_input.scale") for name in ours)
    assert all(np.array_equal(np.asarray(ours[name]), np.asarray(theirs[name])) for name in ours)


@pytest.fixture(scope="module")
def pruned_checkpoint(overfit_tiny, tmp_path_factory) -> Path:
    """The overfit model pruned (no fine-tuning: its mAP does not matter here), saved with its plan sidecar."""
    import paddle

    from slimdet.config import load_config
    from slimdet.modeling.build import build_model
    from slimdet.slim.plan import PruningPlan, save_plan
    from slimdet.weights import load_weights, save_weights

    stem = tmp_path_factory.mktemp("pruned") / "pruned"
    paddle.seed(0)
    model = build_model(load_config(overfit_tiny.config).to_dict(), random_init=False)
    load_weights(model, overfit_tiny.weights, strict=True)
    plan = PruningPlan(PRUNED)
    plan.prune(model)
    save_weights(model, f"{stem}.pdparams")
    save_plan(plan, stem)
    return stem


def test_pruned_checkpoint_is_distilled_quantization_aware_and_exports_int8(pruned_checkpoint, overfit_tiny, tmp_path):
    config = overfit_tiny.config
    report = _json(run("train", "-c", config, "--quant-aware", "-t", config,
                       f"--teacher_pretrained={overfit_tiny.weights}", "-q", "--json",
                       "-o", "use_fine_grained_loss=true", f"pretrain_weights={pruned_checkpoint}",
                       f"save_dir={tmp_path}", "max_iters=1", "snapshot_iter=1"))  # fmt: skip
    assert {"distill_loss", "teacher_loss"} <= set(report["losses"]) and report["quant_aware"]
    assert report["plan"]["ratios"] == PRUNED and Path(report["final_plan"]).is_file()
    final = report["final_checkpoint"]
    exported = _json(run("export", "-c", config, "-o", f"weights={final}", "--output-dir", tmp_path / "x", "--json"))
    assert exported["precision"] == "int8" and exported["plan"]["ratios"] == PRUNED


@pytest.mark.parametrize(
    "case, expected",
    [
        ("unknown_pattern", "'yolo_outptu' matches no quantizable layer (did you mean 'yolo_output'?)"),
        ("config_mismatch", "does not fit the model"),
        ("pattern_without_flag", "--not_quant_pattern needs --quant-aware"),
        ("no_weights", "add -o pretrain_weights=CHECKPOINT"),
        ("prune_flags_on_float", "prune it first"),
        ("onnx_export", "runs on Paddle Inference only"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(case, expected, quant_aware, overfit_tiny, tmp_path):
    config, weights = overfit_tiny.config, overfit_tiny.weights
    args = ["train", "-c", config, "--quant-aware", "-o", f"save_dir={tmp_path / 'out'}", f"pretrain_weights={weights}"]
    if case == "unknown_pattern":
        args += ["--not_quant_pattern", "yolo_outptu"]
    elif case == "config_mismatch":
        args += ["-o", "YOLOv3Head.conv_block_num=2"]
    elif case == "pattern_without_flag":
        args = ["train", "-c", config, "--not-quant-pattern", "yolo_output", "-o", f"save_dir={tmp_path / 'out'}"]
    elif case == "no_weights":
        args[-1] = "pretrain_weights=null"
    elif case == "prune_flags_on_float":
        args += ["--pruned_params", "yolo_block.0.2.conv.weights", "--pruned_ratios", "0.5"]
    elif case == "onnx_export":
        final = quant_aware["train"]["final_checkpoint"]
        args = ["export", "-c", config, "-o", f"weights={final}", "--output-dir", tmp_path / "out", "--onnx"]
    line = one_error_line(run(*args))
    assert expected in line and "as pretrain_weights" not in line  # it is one already: no partial load to suggest
    assert not (tmp_path / "out").exists()
