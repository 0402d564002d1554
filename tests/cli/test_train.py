"""``slimdet train``: JSON result and checkpoints, SIGTERM → exit 143 and a checkpoint to resume from (a distilled
run, its VisualDL log and curves), exact resume after SIGKILL (a plain one), user errors, no worker left behind even
after SIGKILL; ``train -t``: an unpruned student distilled from a teacher with every distill-prune flag."""

import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from slimdet.cli import app
from tests.cli.one_line import one_error_line
from tests.conftest import TEACHER_CONFIG
from tests.processes import (
    StderrLines,
    assert_sigkill_leaves_nothing,
    descendants,
    running,
    shared_blocks,
    spawned_workers,
    wait_for,
)


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_train_writes_snapshots_and_reports_as_json(tiny_train_config):
    result = run("train", "-c", tiny_train_config, "--eval", "--json", "-o", "max_iters=2", "snapshot_iter=1")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    output = tiny_train_config.parent / "output" / "tiny"
    assert (report["start_iter"], report["iterations"]) == (0, 2)
    assert report["final_checkpoint"] == str(output / "model_final")
    assert [e["iteration"] for e in report["evals"]] == [1, 2]
    assert report["best"]["mAP"] == max(e["mAP"] for e in report["evals"])
    assert sorted(p.name for p in output.iterdir()) == [
        "1.labels.txt", "1.pdopt", "1.pdparams", "1.state.json", "best_model.labels.txt", "best_model.pdparams",
        "curves.png", "model_final.labels.txt", "model_final.pdopt", "model_final.pdparams", "model_final.state.json",
    ]  # fmt: skip
    assert (output / "best_model.labels.txt").read_text() == "circle\nsquare\ntriangle\n"  # for export without data
    assert report["loss_history"][-1][0] == 2


STRAIGHT_STEPS = ["max_iters=6", "snapshot_iter=1"]


@pytest.fixture(scope="module")
def straight(write_tiny_train_config, tmp_path_factory):
    """The uninterrupted reference of the interrupt tests: the tiny config trained 6 steps in this process
    (log_iter 1: every step's loss), its ``TrainResult``. No step depends on max_iters (constant LR)."""
    from slimdet.commands.train import TrainRequest, train_from_config
    from slimdet.config import load_config

    config = write_tiny_train_config(tmp_path_factory.mktemp("straight"))
    # Its only snapshot at the end: where snapshots are written changes no loss, and each costs 200 MB.
    return train_from_config(TrainRequest(load_config(config, [*STRAIGHT_STEPS, "snapshot_iter=6"])), quiet=True)


@dataclass(frozen=True)
class Sigtermed:
    """A distilled training (``train -t``, no pruning flags) sent SIGTERM once its second step was logged, then
    resumed from its first snapshot to where it stopped: what the SIGTERM and train -t tests read."""

    output: Path  # save_dir/<config>
    lines: list[str]  # the killed run's stderr, a log line per step (log_iter 1), then its last line
    returncode: int
    workers: set[int]  # the processes below it just before the signal
    stopped_at: int
    logged: dict[int, float]  # the killed run's total loss per step, as logged (4 decimals)
    resumed: dict  # the resumed run's --json report


@pytest.fixture(scope="module")
def sigtermed(write_tiny_train_config, shapes_teacher_weights, tmp_path_factory) -> Sigtermed:
    config = write_tiny_train_config(tmp_path_factory.mktemp("sigtermed"))
    teacher = ["-t", str(TEACHER_CONFIG), "--teacher_pretrained", str(shapes_teacher_weights), "--teacher-backend",
               "dygraph"]  # fmt: skip  # the dygraph teacher: exact across a resume
    script = str(Path(sys.executable).with_name("slimdet"))
    command = [script, "train", "-c", str(config), *teacher, "--use_vdl", "-o", "max_iters=500", "snapshot_iter=1",
               "TrainReader.worker_num=2"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    stderr = StderrLines(process)  # a pipe, not a terminal: plain log lines, one per step (log_iter 1)
    stderr.wait_for(lambda line: line.startswith("iter 2/"), timeout=120)
    workers = descendants(process.pid)
    process.send_signal(signal.SIGTERM)
    lines = stderr.rest(timeout=120).splitlines(keepends=True)
    last = lines[-1].strip()
    stopped_at = int(last.split()[3].rstrip(";")) if last.startswith("terminated after iteration ") else -1
    logged = {int(line.split()[1].split("/")[0]): float(line.split()[3]) for line in lines if line.startswith("iter ")}
    output = config.parent / "output" / "tiny"
    until = ["-o", f"max_iters={stopped_at}", "snapshot_iter=1"]
    resumed = run("train", "-c", config, *teacher, "--resume", output / "1", "--use-vdl", "--json", "-q", *until)
    assert resumed.exit_code == 0, resumed.output
    return Sigtermed(output, lines, process.returncode, workers, stopped_at, logged, json.loads(resumed.stdout))


def test_sigterm_stops_with_a_checkpoint_from_which_resume_gives_the_uninterrupted_losses(sigtermed):
    """kill (a scheduler, systemd) mid-run: one line naming the checkpoint, exit 143, the loader workers gone,
    no paddle C++ traceback; resumed from an earlier snapshot, the run computes again the losses it logged before
    the signal. The run is distilled (train -t), so the teacher is rebuilt on resume too; a plain training stops
    and resumes through the same loop (its exact resume after SIGKILL: below; SIGTERM over --nproc:
    tests/engine/test_distributed.py; Ctrl-C: tests/engine/test_trainer.py and tests/cli/test_app.py)."""
    run_ = sigtermed
    assert run_.returncode == 143, "".join(run_.lines)
    assert "Traceback" not in "".join(run_.lines)  # neither Python's nor paddle's "C++ Traceback"
    assert len(run_.workers) >= 2  # two loader workers (and multiprocessing's resource tracker)
    assert wait_for(lambda: not any(map(running, run_.workers)), timeout=10)  # the tracker leaves after its parent
    assert (
        run_.lines[-1].strip()
        == f"terminated after iteration {run_.stopped_at}; resume with --resume {run_.output / str(run_.stopped_at)}"
    )
    assert run_.stopped_at in (2, 3) and sorted(run_.logged) == list(range(1, run_.stopped_at + 1))

    report = run_.resumed
    assert (report["start_iter"], report["iterations"]) == (1, run_.stopped_at)
    assert report["resumed_from"] == str(run_.output / "1")
    # Steps 2 … stopped_at again, from the snapshot of step 1 (whose curve came with it): the losses the run
    # logged before the signal (rounded there to 4 decimals).
    steps = list(range(1, run_.stopped_at + 1))
    assert [it for it, _ in report["loss_history"]] == steps
    assert [loss for _, loss in report["loss_history"]] == pytest.approx([run_.logged[it] for it in steps], abs=6e-5)


def test_train_with_a_teacher_and_no_pruning_flags_distills_the_unpruned_student(sigtermed, straight):
    from slimdet.slim.plan import load_plan
    from slimdet.weights import read_weights

    report = sigtermed.resumed
    assert report["plan"] is None and report["pruning"] is None and report["final_plan"] is None
    assert report["distill_weight"] == 1000.0 and report["teacher_backend"] == "dygraph"
    assert not list(sigtermed.output.glob("*.plan.json"))  # nothing to rebuild: eval and export read the weights
    assert load_plan(sigtermed.output / "model_final") is None
    weights = read_weights(sigtermed.output / "model_final.pdparams")
    assert weights["yolo_block.0.0.0.conv.weights"].shape[0] == 512  # as built: nothing was cut
    assert not any(name.startswith("teacher_") for name in weights)
    losses = report["losses"]
    assert {"loss", "student_loss", "distill_loss", "teacher_loss", "distill_obj"} <= set(losses)
    assert losses["loss"] == pytest.approx(losses["student_loss"] + losses["distill_loss"], rel=1e-5)
    # The same first batch and student as the plain run: the total adds the (positive) distillation loss.
    assert sigtermed.logged[1] > straight.loss_history[0][1]
    # Every window's terms, the student's and the distillation's apart: what a run's curves are drawn from.
    windows = report["loss_terms"]
    assert [[w["iteration"], w["loss"]] for w in windows] == report["loss_history"]
    assert all(w["loss"] == pytest.approx(w["student_loss"] + w["distill_loss"], rel=1e-5) for w in windows)
    assert all(w["lr"] > 0 and "teacher_loss" in w for w in windows)  # log_iter 1: every step logs the teacher's


def test_the_resumed_runs_visualdl_log_shows_every_logged_step_once(sigtermed):
    """The killed run logged steps 1 … stopped_at; resumed from step 1, the run logged 2 … stopped_at again: the
    log keeps the first run's step 1 and the resumed run's others, each once, as VisualDL's reader sees them."""
    from tests.visualdl_log import read_scalars

    scalars = read_scalars(sigtermed.output / "vdl")
    windows = sigtermed.resumed["loss_terms"]
    terms = ("loss", "student_loss", "distill_loss", "teacher_loss", "loss_xy", "distill_obj", "lr")
    for name in terms:
        assert scalars[f"train/{name}"] == [(w["iteration"], pytest.approx(w[name], rel=1e-6)) for w in windows]
    assert [step for step, _ in scalars["train/loss"]] == list(range(1, sigtermed.stopped_at + 1))
    assert [step for step, _ in scalars["train/images_per_s"]] == list(range(1, sigtermed.stopped_at + 1))


def test_a_distilled_runs_curves_draw_its_distillation_terms_apart(sigtermed, tmp_path):
    """curves.png, redrawn as the run ended, is what its final state draws: the student's terms on one panel, the
    distillation's on another."""
    from slimdet.commands.curves import APART
    from slimdet.engine.curves import curves_from_state, draw_curves, write_curves

    state = json.loads((sigtermed.output / "model_final.state.json").read_text())
    run_curves = curves_from_state(state, "tiny")
    panels = {
        axes.get_title(): {line.get_label() for line in axes.get_lines()}
        for axes in draw_curves([run_curves], APART).axes
    }
    assert panels["distillation terms: window means, log scale"] == {
        "tiny: distill_loss", "tiny: distill_reg", "tiny: distill_cls", "tiny: distill_obj",
    }  # fmt: skip
    assert {"tiny: loss", "tiny: student_loss", "tiny: teacher_loss", "tiny: loss_obj"} <= panels[
        "loss terms: window means, log scale"
    ]
    again = write_curves([run_curves], tmp_path / "again.png", APART)
    assert (sigtermed.output / "curves.png").read_bytes() == again.read_bytes()


@pytest.mark.parametrize(
    "args",
    [
        ["train", "--use_vdl"],
        ["train", "--vdl-log-dir", "vdl"],
        ["distill-prune", "-t", TEACHER_CONFIG, "--use-vdl"],
    ],
    ids=["train", "train-dir", "distill-prune"],
)
def test_use_vdl_without_visualdl_is_one_line_saying_how_to_install_it(tiny_train_config, monkeypatch, args):
    monkeypatch.setitem(sys.modules, "visualdl", None)  # as if not installed
    result = run(args[0], "-c", tiny_train_config, *args[1:])
    assert (
        one_error_line(result) == "error: --use-vdl needs VisualDL, which is not installed: pip install 'slimdet[vdl]'"
    )
    assert not (tiny_train_config.parent / "output").exists()  # before any work


def test_a_teachers_flag_without_a_teacher_is_one_line_exit_2(tiny_train_config):
    result = run("train", "-c", tiny_train_config, "--distill-weight", "5", "-to", "num_classes=3")
    assert one_error_line(result) == (
        "error: --distill-weight, --teacher-opt need a teacher: add -t TEACHER_CONFIG --teacher_pretrained WEIGHTS"
    )
    assert not (tiny_train_config.parent / "output").exists()


def test_train_t_gives_every_distillation_flag_to_the_core_distill_prune_runs(tiny_train_config, monkeypatch):
    from slimdet.slim.distill_settings import DistillSettings

    seen = {}

    def fake_train_distilled(student_cfg, request, **kwargs):
        seen.update(vars(request), teacher=request.teacher_cfg.name)
        raise SystemExit(0)

    monkeypatch.setattr("slimdet.commands.distill.train_distilled", fake_train_distilled)
    result = run("train", "-c", tiny_train_config, "--teacher_config", TEACHER_CONFIG, "--teacher_pretrained",
                 "t.pdparams", "--distill_weight", "30", "--distill-balance", "legacy", "--distill-temperature", "2",
                 "--distill-confidence", "0.5", "--distill-feature", "10", "--distill-method", "l2", "--teacher-engine", "dygraph",
                 "--nproc", "1", "--seed", "4", "--eval")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert seen["distill"] == DistillSettings(weight=30.0, balance="legacy", temperature=2.0, confidence=0.5,
                                              feature=10.0, method="l2")  # fmt: skip
    assert (seen["teacher"], seen["teacher_pretrained"], seen["teacher_backend"]) == (
        "shapes_yolov3_r34",
        "t.pdparams",
        "dygraph",
    )
    assert seen["require_plan"] is False and seen["pruned_params"] is None  # unpruned unless flags are given
    assert seen["eval"] is True and seen["seed"] == 4


def test_train_t_without_teacher_weights_is_one_line_exit_2(tiny_train_config):
    result = run("train", "-c", tiny_train_config, "-t", TEACHER_CONFIG, "--nproc", "1")
    assert "--teacher_pretrained is required" in one_error_line(result)
    assert not (tiny_train_config.parent / "output").exists()


def _train_until_killed(args: list[str], after_line: str, delay: float) -> None:
    """``slimdet train ARGS`` in a subprocess, killed with SIGKILL ``delay`` s after it logs ``after_line``."""
    command = [str(Path(sys.executable).with_name("slimdet")), "train", *args]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    stderr = StderrLines(process)
    stderr.wait_for(lambda line: line.startswith(after_line), timeout=120)
    time.sleep(delay)
    assert process.poll() is None, "finished before it could be killed"
    process.kill()
    process.wait(timeout=60)


@pytest.mark.slow  # three processes, two of them killed
def test_after_sigkill_at_any_moment_resuming_the_folder_ends_with_the_uninterrupted_loss(tiny_train_config, straight):
    steps = STRAIGHT_STEPS
    folder = tiny_train_config.parent / "output" / "tiny"
    # Killed during step 2 (checkpoint 1 written), then resumed from the folder and killed again a moment
    # after step 3 logged, where it may be writing checkpoint 3 or computing step 4.
    _train_until_killed(["-c", str(tiny_train_config), "-o", *steps], "iter 1/", 0.0)
    _train_until_killed(["-c", str(tiny_train_config), "--resume", str(folder), "-o", *steps], "iter 3/", 0.3)
    resumed = run("train", "-c", tiny_train_config, "--resume", folder, "--json", "-q", "-o", *steps)
    assert resumed.exit_code == 0, resumed.output
    report = json.loads(resumed.stdout)
    assert 3 <= report["start_iter"] < 6 and report["resumed_from"] == str(folder / str(report["start_iter"]))
    assert report["losses"] == pytest.approx(straight.losses, abs=1e-5)


def test_resuming_from_something_that_is_not_a_checkpoint_is_one_line_exit_2(tiny_train_config):
    result = run("train", "-c", tiny_train_config, "--resume", tiny_train_config.parent / "output" / "nope" / "3")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "is not a resumable checkpoint" in lines[0]
    assert not (tiny_train_config.parent / "output").exists()  # nothing written


def test_a_diverging_loss_is_one_line_exit_2_naming_the_iteration(tiny_train_config):
    result = run("train", "-c", tiny_train_config, "-q", "-o", "LearningRate.base_lr=1e12")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "the loss is not finite at iteration" in lines[0] and "LearningRate.base_lr" in lines[0]
    assert not (tiny_train_config.parent / "output" / "tiny" / "model_final.pdparams").exists()


def test_pruning_flags_prune_then_finetune_and_resume_reads_the_plan_back(tiny_train_config):
    from slimdet.slim.plan import load_plan

    output = tiny_train_config.parent / "output" / "tiny"
    prune = ["--pruned_params", "yolo_block.0.0.0.conv.weights", "--pruned_ratios", "0.5", "--prune_criterion", "fpgm"]
    result = run("train", "-c", tiny_train_config, *prune, "--json", "-o", "max_iters=2", "snapshot_iter=1")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [(r["channels_before"], r["channels_after"]) for r in report["pruning"]["rows"]] == [(512, 256)]
    assert report["pruning"]["criterion"] == "fpgm" and report["pruning"]["input_size"] == 64
    for stem in ("1", "model_final"):
        assert dict(load_plan(output / stem).ratios) == {"yolo_block.0.0.0.conv.weights": 0.5}

    resumed = run("train", "-c", tiny_train_config, "--resume", output / "1", "--json", "-o", "max_iters=2")
    assert resumed.exit_code == 0, resumed.output  # no flags: the structure comes from 1.plan.json
    assert json.loads(resumed.stdout)["pruning"]["rows"][0]["channels_after"] == 256

    unpruned = run("train", "-c", tiny_train_config, "--json", "-o", "max_iters=1")
    assert unpruned.exit_code == 0, unpruned.output
    assert load_plan(output / "model_final") is None  # the pruned run's sidecar does not outlive its weights


def _frozen_with_blocks_waiting(process: subprocess.Popen, timeout: float) -> bool:
    """SIGSTOP the training: frozen, it takes no batch, so those the workers made wait in /dev/shm. Frozen at
    an epoch's last step (all its batches taken, the next epoch's not asked for yet) the workers have nothing
    to make: then it is let go on (SIGCONT) and frozen again a moment later."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        process.send_signal(signal.SIGSTOP)
        if wait_for(lambda: shared_blocks(process.pid), timeout=5):
            return True
        process.send_signal(signal.SIGCONT)
        time.sleep(0.5)
    return False


def test_a_sigkilled_training_leaves_no_worker_and_no_shared_block(tiny_train_config):
    config = tiny_train_config.read_text()
    big = config.replace("sizes: [64]", "sizes: [192]")  # batches of 1.8 MB: they travel through shared memory
    assert big != config
    tiny_train_config.write_text(big)
    log = tiny_train_config.parent / "stderr.txt"
    command = [str(Path(sys.executable).with_name("slimdet")), "train", "-c", str(tiny_train_config),
               "-o", "TrainReader.worker_num=2", "max_iters=500"]  # fmt: skip
    with log.open("w") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        assert wait_for(lambda: len(spawned_workers(process.pid)) == 2, timeout=120), log.read_text()
        assert _frozen_with_blocks_waiting(process, timeout=120), log.read_text()
        killed = assert_sigkill_leaves_nothing(process)
    finally:
        process.kill()
        process.wait()
    assert sum("multiprocessing.spawn" in c for c in killed) == 2  # the data workers
    assert sum("resource_tracker" in c for c in killed) == 1  # it lives as long as a worker holds its pipe
