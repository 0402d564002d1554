"""``slimdet distill-prune``: the legacy command line end to end, its checkpoint read back by ``slimdet eval``
(from the sidecar alone and with the legacy flags) and its curves beside the training it started from by
``slimdet curves``, the tables, and one-line errors with exit 2."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from slimdet.cli import app

ROOT = Path(__file__).resolve().parents[2]
TEACHER_CONFIG = ROOT / "configs" / "shapes_yolov3_r34.yml"
PARAMS = "yolo_block.0.0.0.conv.weights,yolo_block.0.0.1.conv.weights,yolo_block.0.2.conv.weights"  # conv_block_num 1
RATIOS = "0.2,0.3,0.4"
STEPS = 4


def _run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def trained(overfit_tiny, tmp_path_factory):
    """(config, JSON result) of the README's command line, legacy spellings and all, with --eval: the trained
    tiny model pruned and distilled from its unpruned self (the teacher), evaluated on its 4 images. The
    teacher's YAML says 4 classes, as a user's does before -o num_classes moves it to their data."""
    out = tmp_path_factory.mktemp("cli_distill_prune")
    config = overfit_tiny.config
    teacher = out / "teacher.yml"
    teacher.write_text(f"_BASE_: {config}\nnum_classes: 4\n")
    result = _run(
        "distill-prune", "-c", config, "-t", teacher, f"--teacher_pretrained={overfit_tiny.weights}",
        "--pruned_params", PARAMS, f"--pruned_ratios={RATIOS}", "--prune_criterion", "l1_norm",
        "--eval", "--quiet", "--json",  # the default weight, balanced for the input size: about 11 at 64 px
        "-o", "use_fine_grained_loss=true", f"pretrain_weights={overfit_tiny.weights}", f"max_iters={STEPS}",
        f"snapshot_iter={STEPS}", f"save_dir={out}", "num_classes=3",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return config, json.loads(result.stdout)


def test_legacy_command_line_prunes_distills_and_reports_json(trained, overfit_tiny):
    _, report = trained
    assert report["iterations"] == STEPS and report["teacher_config"] == "teacher"
    assert report["teacher_backend"] == "dygraph"  # auto: a few steps of 64 px images do not pay for compiling
    assert report["teacher_overrides"] == [  # -o reached the teacher: its weights fit only with 3 classes
        "use_fine_grained_loss=true", f"pretrain_weights={overfit_tiny.weights}", f"max_iters={STEPS}",
        f"snapshot_iter={STEPS}", f"save_dir={Path(report['output_dir']).parent}", "num_classes=3",
    ]  # fmt: skip
    assert report["plan"]["criterion"] == "l1_norm"
    assert [(r["name"], r["channels_before"], r["channels_after"]) for r in report["pruning"]["rows"]] == [
        ("yolo_block.0.0.0.conv.weights", 512, 410),
        ("yolo_block.0.0.1.conv.weights", 1024, 717),
        ("yolo_block.0.2.conv.weights", 512, 307),
    ]
    assert report["pretrained"]["matched"] > 0  # the student's pretrain_weights override reached it
    assert {"loss", "distill_loss", "teacher_loss"} <= set(report["losses"])
    assert Path(report["final_plan"]).is_file()


def test_curves_overlay_the_distill_pruned_run_and_the_training_it_started_from(trained, overfit_tiny, tmp_path):
    """slimdet curves with two runs: one picture, each run labelled by as much of its path as tells them apart (both
    folders are named after the config), the distilled run's terms its own."""
    _, report = trained
    folders = [overfit_tiny.weights.parent, Path(report["output_dir"])]
    assert (folders[1] / "curves.png").is_file()  # the distilled run drew its own

    result = _run("curves", *folders, "--out", tmp_path / "both.png", "--json")

    assert result.exit_code == 0, result.output
    drawn = json.loads(result.stdout)
    assert drawn["path"] == str(tmp_path / "both.png") and (tmp_path / "both.png").stat().st_size > 0
    assert [run["checkpoint"] for run in drawn["runs"]] == [str(folder / "model_final") for folder in folders]
    labels = [run["label"] for run in drawn["runs"]]
    assert labels == [f"{folder.parent.name}/overfit/model_final" for folder in folders]
    plain, distilled = (set(run["terms"]) for run in drawn["runs"])
    assert not any(name.startswith("distill_") for name in plain) and {"distill_loss", "teacher_loss"} <= distilled
    assert [point[0] for point in drawn["runs"][1]["mAP"]] == [STEPS]


@pytest.fixture(scope="module")
def evaluated_by_sidecar(trained) -> dict:
    config, report = trained
    result = _run("eval", "-c", config, "-w", report["final_checkpoint"], "--quiet", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_eval_rebuilds_the_pruned_student_from_the_sidecar_alone(trained, evaluated_by_sidecar):
    _, report = trained
    assert evaluated_by_sidecar["pruned"] is True and evaluated_by_sidecar["images"] == 4
    recorded = {name: value for name, value in report["evals"][-1].items() if name != "iteration"}
    assert evaluated_by_sidecar["metrics"] == pytest.approx(recorded, abs=1e-9)
    assert evaluated_by_sidecar["metrics"]["mAP"] > 0.1  # equal mAPs here are not two zeros


def test_distill_prune_training_lifts_the_map_above_where_pruning_left_it(overfit_tiny, trained):
    """The run's training (fine-tuning and distillation together: no prune-only run here tells them apart, the
    benchmarks do) recovers some of what the cut cost."""
    from slimdet.config import load_config
    from slimdet.data import build_loader
    from slimdet.engine.evaluate import build_evaluator, run_inference
    from slimdet.modeling.build import build_model
    from slimdet.slim.plan import PruningPlan
    from slimdet.weights import load_weights

    _, report = trained
    data = load_config(overfit_tiny.config).to_dict()
    model = build_model(data, random_init=False)  # every weight is loaded next, strictly
    load_weights(model, overfit_tiny.weights, strict=True)
    PruningPlan.from_flags(PARAMS, RATIOS).prune(model)  # what distill-prune starts from: the trained weights, pruned
    loader = build_loader(data, "eval")  # scored in place, as training's evaluations are (pruning once, not twice)
    with loader:
        before = run_inference(model, loader, build_evaluator(data, loader.dataset), backend="dygraph")
    assert report["evals"][-1]["iteration"] == STEPS
    assert report["evals"][-1]["mAP"] > before["mAP"] + 0.02, (report["evals"], before)


def test_eval_accepts_the_legacy_flags_that_match_the_sidecar(trained, evaluated_by_sidecar):
    config, report = trained
    result = _run("eval", "-c", config, "-w", report["final_checkpoint"], "--pruned_params", PARAMS,
                  "--pruned_ratios", RATIOS, "--quiet", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["metrics"] == evaluated_by_sidecar["metrics"]


def test_eval_refuses_flags_that_contradict_the_sidecar_with_one_line(trained):
    config, report = trained
    result = _run("eval", "-c", config, "-w", report["final_checkpoint"], "--pruned_params", PARAMS,
                  "--pruned_ratios", "0.5", "--quiet", "--json")  # fmt: skip
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "contradict the checkpoint's saved plan" in lines[0]
    assert result.stdout == ""


def _forbid_weights_and_data(monkeypatch, must_not_run) -> None:
    """Pre-flight may build an architecture, but reads (or downloads) no weights and loads no data."""
    for target in (
        "slimdet.weights.load_weights",
        "slimdet.commands.train.load_weights",  # where the cores look them up
        "slimdet.commands.distill.load_weights",
        "slimdet.commands.train.build_loader",
        "slimdet.data.build_loader",
    ):
        monkeypatch.setattr(target, must_not_run)


def test_every_preflight_problem_is_one_line_before_any_weight_or_data_is_read(
    tiny_train_config, tmp_path, monkeypatch
):
    def must_not_run(*args, **kwargs):
        raise AssertionError("read weights or data before the checks passed")

    _forbid_weights_and_data(monkeypatch, must_not_run)
    result = _run("distill-prune", "-c", tiny_train_config, "-t", TEACHER_CONFIG,
                  "--teacher-pretrained", tmp_path / "no_teacher.pdparams",
                  "--pruned-params", "yolo_block.0.0.0.conv.weight", "--pruned-ratios", "0.5",
                  "--distill-confidence", "1.5",
                  "-o", f"TrainReader.dataset.dataset_dir={tmp_path / 'no_data'}",
                  f"pretrain_weights={tmp_path / 'no_student.pdparams'}")  # fmt: skip
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert "'yolo_block.0.0.0.conv.weight' is not a parameter of this model" in line
    assert "(did you mean 'yolo_block.0.0.0.conv.weights'?)" in line
    assert "no_teacher.pdparams' does not exist" in line and "no_student.pdparams' does not exist" in line
    assert "TrainReader.dataset.dataset_dir" in line and "no_data does not exist" in line
    assert "--distill-confidence must be in [0, 1) (0: off, the legacy loss), got 1.5" in line
    assert not (tmp_path / "output").exists()


def test_the_opt_in_levers_run_end_to_end_and_log_the_feature_term(tiny_train_config, shapes_teacher_weights):
    # The compiled teacher is traced with its tips for --distill-feature.
    result = _run("distill-prune", "-c", tiny_train_config, "-t", TEACHER_CONFIG, "--teacher-backend", "inference",
                  "--teacher-pretrained", shapes_teacher_weights, "--pruned-params", PARAMS, "--pruned-ratios", RATIOS,
                  "--distill-feature", "50", "--distill-confidence", "0.5", "--quiet", "--json",
                  "-o", "max_iters=2", "snapshot_iter=2")  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["distill_feature"], report["distill_confidence"], report["teacher_backend"]) == (
        50,
        0.5,
        "inference",
    )
    losses = report["losses"]
    assert losses["distill_feature"] > 0
    parts = ("distill_reg", "distill_cls", "distill_obj", "distill_feature")
    assert losses["distill_loss"] == pytest.approx(sum(losses[key] for key in parts), rel=1e-4)


def test_missing_fine_grained_loss_exits_2_with_its_fix_before_anything_is_built(
    tiny_train_config, shapes_teacher_weights, tmp_path, monkeypatch
):
    def must_not_run(*args, **kwargs):
        raise AssertionError("built something before the checks passed")

    _forbid_weights_and_data(monkeypatch, must_not_run)
    result = _run("distill-prune", "-c", tiny_train_config, "-t", TEACHER_CONFIG,
                  "--teacher-pretrained", shapes_teacher_weights, "--pruned-params", PARAMS, "--pruned-ratios", RATIOS,
                  "-o", "use_fine_grained_loss=false")  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "error: distillation needs the split YOLOv3 outputs but use_fine_grained_loss is false in the student "
        "config: set -o use_fine_grained_loss=true"
    ]
    assert not (tmp_path / "output").exists()


def test_tables_show_channels_flops_and_params_then_the_training_summary(tiny_train_config, monkeypatch):
    from slimdet.commands.distill import DistillResult
    from slimdet.commands.train import TrainResult
    from slimdet.slim.distill_settings import DistillSettings
    from slimdet.slim.plan import PrunedParam, PruneReport, PruningPlan

    report = PruneReport(
        criterion="l1_norm", input_size=608, gflops_before=20.0, gflops_after=15.0, params_before=1000,
        params_after=600, rows=(PrunedParam("yolo_block.0.0.0.conv.weights", 0.5, 512, 256, ("a[axis 0]",)),),
    )  # fmt: skip
    training = TrainResult(
        config="tiny", output_dir="out/tiny", device="cpu", start_iter=0, iterations=2,
        final_checkpoint="out/tiny/model_final", losses={"loss": 3.0, "distill_loss": 2.0, "teacher_loss": 0.5},
        loss_history=((1, 3.5), (2, 3.0)), seconds=1.0, eval_seconds=0.0, seconds_per_iter=0.5, pruning=report,
    )  # fmt: skip
    seen = {}

    def fake_train_distilled(student_cfg, request, **kwargs):
        teacher_cfg = request.teacher_cfg
        seen.update(vars(request), student=student_cfg.name, teacher=teacher_cfg.name,
                    keep=teacher_cfg.section("YOLOv3Head"))  # fmt: skip
        plan = PruningPlan({"yolo_block.0.0.0.conv.weights": 0.5})
        return DistillResult("shapes_yolov3_r34", request.teacher_pretrained, "inference", request.distill, plan,
                             training, teacher_cfg.overrides)  # fmt: skip

    monkeypatch.setattr("slimdet.commands.distill.train_distilled", fake_train_distilled)
    result = _run("distill-prune", "--config", tiny_train_config, "--teacher-config", TEACHER_CONFIG,
                  "--teacher-pretrained", "t.pdparams", "--pruned-params", "yolo_block.0.0.0.conv.weights",
                  "--pruned-ratios", "0.5", "--criterion", "geometry_median", "--distill_weight", "30", "--eval",
                  "--seed", "3", "--distill-balance", "legacy", "-o", "log_iter=2", "YOLOv3Head.nms.keep_top_k=9",
                  "MobileNet.norm_decay=0.0", "-to", "YOLOv3Head.nms.keep_top_k=7", "YOLOv3Head.nms.nms_top_k=70")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (seen["student"], seen["teacher"], seen["criterion"]) == ("tiny", "shapes_yolov3_r34", "geometry_median")
    assert seen["distill"] == DistillSettings(weight=30.0, balance="legacy")
    assert (seen["keep"]["nms"]["keep_top_k"], seen["keep"]["nms"]["nms_top_k"]) == (7, 70)  # -to wins over -o
    assert seen["eval"] is True and seen["seed"] == 3
    text = result.stdout
    assert "512 → 256" in text and "-25.00%" in text and "-40.00%" in text  # FLOPs 20 → 15, params 1000 → 600
    assert text.index("512 → 256") < text.index("distill-prune") < text.index("teacher_loss 0.5000")
    assert "out/tiny/model_final.plan.json" in text
    assert "30 (legacy balance)" in text
    rows = text[text.index("teacher overrides") : text.index("distill weight")].splitlines()[:-1]
    assert [row.split("│")[-2].strip() for row in rows] == [
        "log_iter=2", "YOLOv3Head.nms.keep_top_k=9", "YOLOv3Head.nms.keep_top_k=7", "YOLOv3Head.nms.nms_top_k=70"
    ]  # fmt: skip


def test_teacher_opt_wins_over_o_and_a_disagreement_exits_2_before_any_weight_or_data_is_read(
    tiny_train_config, shapes_teacher_weights, monkeypatch
):
    def must_not_run(*args, **kwargs):
        raise AssertionError("read weights or data before the checks passed")

    _forbid_weights_and_data(monkeypatch, must_not_run)
    result = _run("distill-prune", "-c", tiny_train_config, "-t", TEACHER_CONFIG,
                  "--teacher-pretrained", shapes_teacher_weights, "--pruned-params", PARAMS, "--pruned-ratios", RATIOS,
                  "-o", "num_classes=3", "--teacher-opt", "num_classes=4")  # fmt: skip
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "student and teacher disagree on num_classes (3 vs 4)" in lines[0]
