"""Hooks: periodic evaluation keeps the best weights, progress shows up on stderr unless quiet."""

import io

import numpy as np
import pytest
from rich.console import Console

from slimdet.engine.hooks import CheckpointHook, EvalHook, Hook, LossHistory, ProgressHook, VisualDLHook
from slimdet.errors import SlimdetError
from slimdet.weights import load_weights
from tests.visualdl_log import read_scalars


def test_eval_hook_runs_every_n_steps_and_at_the_end_and_keeps_the_best_weights(tmp_path, make_trainer):
    scores = iter([0.2, 0.6, 0.4, 0.5])
    snapshots = {}

    class Snapshot(Hook):
        def after_step(self, trainer):
            snapshots[trainer.iter] = {p.name: p.numpy().copy() for p in trainer.model.parameters()}

    evaluator = EvalHook(3, lambda: {"mAP": next(scores)}, best_dir=tmp_path)
    trainer = make_trainer([Snapshot(), evaluator])
    trainer.train(0, 10)

    assert [(r.iteration, r.metrics["mAP"]) for r in evaluator.history] == [(3, 0.2), (6, 0.6), (9, 0.4), (10, 0.5)]
    assert (evaluator.best.iteration, evaluator.best.metrics["mAP"]) == (6, 0.6)
    fresh = make_trainer(seed=9)
    load_weights(fresh.model, tmp_path / "best_model", strict=True)
    for param in fresh.model.parameters():
        np.testing.assert_array_equal(param.numpy(), snapshots[6][param.name])


def test_a_resumed_run_keeps_the_mAP_curve_the_best_model_and_the_loss_curve(tmp_path, make_trainer):
    first, losses = EvalHook(3, lambda: {"mAP": 0.6}, best_dir=tmp_path), LossHistory(3)
    make_trainer([CheckpointHook(2, tmp_path), first, losses]).train(0, 5)  # evaluated at 3; checkpoint at 4
    best_before = load_weights_of(make_trainer(seed=9), tmp_path / "best_model")

    again, losses_again = EvalHook(3, lambda: {"mAP": 0.3}, best_dir=tmp_path), LossHistory(3)
    out = io.StringIO()
    progress = ProgressHook(4, log_iter=0, console=Console(file=out, width=300), eval_hook=again)
    resumed = make_trainer([CheckpointHook(2, tmp_path), again, losses_again, progress])
    resumed.train(resumed.resume(tmp_path / "4"), 7)

    assert [(r.iteration, r.metrics["mAP"]) for r in again.history] == [(3, 0.6), (6, 0.3), (7, 0.3)]
    assert (again.best.iteration, again.best.metrics["mAP"]) == (3, 0.6)  # the worse later models do not replace it
    for name, value in load_weights_of(make_trainer(seed=9), tmp_path / "best_model").items():
        np.testing.assert_array_equal(value, best_before[name])
    assert losses_again.points[0] == losses.points[0] and [i for i, _ in losses_again.points] == [3, 6, 7]
    assert losses_again.terms[0] == losses.terms[0]  # every term's curve travels with the checkpoint too
    assert [(w["iteration"], w["loss"]) for w in losses_again.terms] == losses_again.points
    assert [w["lr"] for w in losses_again.terms] == pytest.approx([0.05] * 3)  # the toy base_lr, warm-up over
    assert "eval at iter 3" not in out.getvalue() and "eval at iter 6: mAP 0.3000" in out.getvalue()


def test_a_run_resumed_from_a_snapshot_scores_it_first(tmp_path, make_trainer):
    make_trainer([CheckpointHook(3, tmp_path), EvalHook(3, lambda: {"mAP": 0.6})]).train(0, 4)
    iterations = []
    again = EvalHook(3, lambda: iterations.append(resumed.iter) or {"mAP": 0.5})
    out = io.StringIO()
    resumed = make_trainer([again, ProgressHook(4, log_iter=0, console=Console(file=out, width=300), eval_hook=again)])
    resumed.train(resumed.resume(tmp_path / "3"), 5)
    assert iterations == [3, 5] and [r.iteration for r in again.history] == [3, 5]
    assert "eval at iter 3: mAP 0.5000" in out.getvalue()  # a new score, so it is shown


def test_a_run_resumed_from_its_final_checkpoint_keeps_the_final_score_without_showing_it_again(tmp_path, make_trainer):
    make_trainer([CheckpointHook(3, tmp_path), EvalHook(3, lambda: {"mAP": 0.6})]).train(0, 3)  # scored, then saved
    again, out = EvalHook(3, lambda: {"mAP": 0.5}), io.StringIO()
    resumed = make_trainer([again, ProgressHook(4, log_iter=0, console=Console(file=out, width=300), eval_hook=again)])
    resumed.train(resumed.resume(tmp_path / "model_final"), 4)
    assert [(r.iteration, r.metrics["mAP"]) for r in again.history] == [(3, 0.6), (4, 0.5)]
    assert "eval at iter 3" not in out.getvalue() and "eval at iter 4: mAP 0.5000" in out.getvalue()


def test_visualdl_gets_each_window_and_evaluation_once_after_a_resume_from_before_where_the_log_ends(
    tmp_path, make_trainer
):
    def logged_run(score):
        history, evaluation = LossHistory(1), EvalHook(3, lambda: {"mAP": score})
        visualdl = VisualDLHook(tmp_path / "vdl", history, 4, evaluation)
        return history, [history, visualdl, CheckpointHook(2, tmp_path), evaluation]

    make_trainer(logged_run(0.75)[1]).train(0, 5)  # logs steps 1 … 5 and the mAP of 3; checkpoints at 2, 4, 5
    history, hooks = logged_run(0.25)
    resumed = make_trainer(hooks)
    resumed.train(resumed.resume(tmp_path / "2"), 6)  # steps 3 … 5 again (as after a crash), then 6

    scalars = read_scalars(tmp_path / "vdl")
    assert set(scalars) == {
        "train/loss",
        "train/loss_mse",
        "train/loss_l1",
        "train/lr",
        "train/images_per_s",
        "eval/mAP",
    }
    for name in ("loss", "loss_mse", "loss_l1", "lr"):  # each step once, the kept ones and the new ones
        assert scalars[f"train/{name}"] == [(w["iteration"], pytest.approx(w[name])) for w in history.terms]
    assert [step for step, _ in scalars["train/loss"]] == [1, 2, 3, 4, 5, 6]
    assert [step for step, speed in scalars["train/images_per_s"] if speed > 0] == [1, 2, 3, 4, 5, 6]
    assert scalars["eval/mAP"] == [(3, 0.25), (6, 0.25)]  # the first run's mAP of 3 came after the resume point


def load_weights_of(trainer, stem):
    load_weights(trainer.model, stem, strict=True)
    return {p.name: p.numpy().copy() for p in trainer.model.parameters()}


def test_eval_hook_rejects_an_evaluator_without_map(make_trainer):
    with pytest.raises(SlimdetError, match="no float 'mAP'"):
        make_trainer([EvalHook(1, lambda: {"AP": 0.1})]).train(0, 2)


def test_progress_logs_a_plain_line_every_log_iter_when_stderr_is_not_a_terminal(make_trainer):
    out = io.StringIO()
    evaluator = EvalHook(4, lambda: {"mAP": 0.25})
    trainer = make_trainer(
        [evaluator, ProgressHook(4, log_iter=2, console=Console(file=out, width=300), eval_hook=evaluator)]
    )
    trainer.train(0, 5)
    lines = out.getvalue().splitlines()
    iter_lines = [line for line in lines if line.startswith("iter ")]
    assert [line.split()[1] for line in iter_lines] == ["2/5", "4/5", "5/5"]
    assert all(word in iter_lines[0] for word in ("loss", "loss_mse", "loss_l1", "lr", "s/iter", "img/s", "eta"))
    assert "eval at iter 4: mAP 0.2500" in lines
    assert "\x1b[" not in out.getvalue()  # no colour codes or bar redraws in a log file


def test_progress_is_silent_when_quiet(make_trainer):
    out = io.StringIO()
    make_trainer([ProgressHook(4, log_iter=1, quiet=True, console=Console(file=out))]).train(0, 3)
    assert out.getvalue() == ""


def test_checkpoint_every_n_steps_and_final(tmp_path, make_trainer):
    saver = CheckpointHook(2, tmp_path)
    make_trainer([saver]).train(0, 6)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(
        f"{stem}{suffix}" for stem in ("2", "4", "model_final") for suffix in (".pdparams", ".pdopt", ".state.json")
    )
    assert saver.last == tmp_path / "model_final"


def test_before_save_runs_before_each_checkpoint_and_best_model(tmp_path, make_trainer):
    written = []

    class Sidecar(Hook):
        def before_save(self, trainer, stem):
            assert not stem.with_name(stem.name + ".state.json").exists()  # before the file that marks it complete
            stem.with_name(stem.name + ".plan.json").write_text("{}")
            written.append(stem.name)

    scores = iter([0.1, 0.3])
    hooks = [Sidecar(), CheckpointHook(2, tmp_path), EvalHook(2, lambda: {"mAP": next(scores)}, best_dir=tmp_path)]
    make_trainer(hooks).train(0, 4)
    assert written == ["2", "best_model", "best_model", "model_final"]  # model_final after the last eval
    assert sorted(p.name for p in tmp_path.glob("*.plan.json")) == [
        "2.plan.json",
        "best_model.plan.json",
        "model_final.plan.json",
    ]
