"""The training loop: LR per step, exact resume, Ctrl-C, non-finite losses, hook order."""

import os
import signal

import numpy as np
import pytest

from slimdet.engine.hooks import CheckpointHook, Hook
from slimdet.engine.trainer import NonFiniteLossError, TrainingInterrupted, model_losses
from slimdet.errors import SlimdetError
from slimdet.weights import load_weights
from tests.engine.toy import LossRecorder, ToyLoader


def weights_of(model):
    return {p.name: p.numpy().copy() for p in model.parameters()}


def test_losses_fall_and_each_step_uses_the_scheduled_lr(make_trainer):
    seen_lr = []

    class LRProbe(Hook):
        def after_step(self, trainer):
            seen_lr.append(trainer.lr_scheduler.last_lr)

    recorder = LossRecorder()
    trainer = make_trainer([recorder, LRProbe()])
    trainer.train(0, 12)
    assert trainer.iter == 12
    # toy_config: base 0.05, warmup 2 steps from 0.1×, ×0.1 from step 8. The probe sees the LR of the next step.
    assert seen_lr == pytest.approx([0.0275, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.005, 0.005, 0.005, 0.005, 0.005])
    first, last = recorder.steps[0]["loss"], recorder.steps[11]["loss"]
    assert last < 0.5 * first
    assert set(recorder.steps[0]) == {"loss", "loss_mse", "loss_l1"}  # head outputs are not losses


def test_resume_reproduces_the_uninterrupted_run(tmp_path, make_trainer):
    straight = LossRecorder()
    uninterrupted = make_trainer([straight, CheckpointHook(5, tmp_path)])
    uninterrupted.train(0, 9)  # crosses an epoch boundary (3 batches per epoch) and the checkpoint at 5

    resumed_losses = LossRecorder()
    resumed = make_trainer([resumed_losses], seed=123)  # a different seed: everything must come from the checkpoint
    assert resumed.resume(tmp_path / "5") == 5
    resumed.train(resumed.iter, 9)

    assert sorted(resumed_losses.steps) == [5, 6, 7, 8]
    for step in range(5, 9):
        for name, value in straight.steps[step].items():
            assert resumed_losses.steps[step][name] == pytest.approx(value, abs=1e-5), (step, name)
    for name, value in weights_of(uninterrupted.model).items():
        np.testing.assert_allclose(weights_of(resumed.model)[name], value, atol=1e-6)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_after_the_step_and_leaves_a_resumable_checkpoint(signum, tmp_path, make_trainer):
    class Stop(Hook):
        def after_step(self, trainer):
            if trainer.iter == 4:
                os.kill(os.getpid(), signum)

    saver = CheckpointHook(100, tmp_path)
    trainer = make_trainer([Stop(), saver])
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with pytest.raises(TrainingInterrupted) as err:
        trainer.train(0, 50)
    assert (err.value.iteration, err.value.signum) == (4, signum)
    assert str(err.value).startswith({signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}[signum])
    assert saver.last == tmp_path / "4"
    assert not (tmp_path / "model_final.pdparams").exists()
    assert {s: signal.getsignal(s) for s in handlers} == handlers  # handlers restored

    again = make_trainer()
    assert again.resume(tmp_path / "4.pdparams") == 4
    for name, value in weights_of(trainer.model).items():
        np.testing.assert_array_equal(weights_of(again.model)[name], value)


def test_a_second_sigint_interrupts_immediately(make_trainer):
    class DoubleCtrlC(Hook):
        def after_step(self, trainer):
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        make_trainer([DoubleCtrlC()]).train(0, 5)


def test_repeated_sigterms_still_stop_politely(tmp_path, make_trainer):
    class LauncherLike(Hook):  # paddle's launcher sends SIGTERM up to three times
        def after_step(self, trainer):
            for _ in range(3):
                os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(TrainingInterrupted) as err:
        make_trainer([LauncherLike(), CheckpointHook(100, tmp_path)]).train(0, 5)
    assert err.value.iteration == 1 and err.value.checkpoint is None  # (commands.train fills in the checkpoint)
    assert (tmp_path / "1.state.json").exists()


def test_a_second_signal_waits_until_the_checkpoint_is_complete(tmp_path, make_trainer, monkeypatch):
    from slimdet.engine import checkpoint

    save = checkpoint.save_checkpoint

    def save_with_ctrl_c_in_the_middle(stem, model, optimizer, state):
        os.kill(os.getpid(), signal.SIGINT)  # the user insists while the checkpoint is being written
        return save(stem, model, optimizer, state)

    monkeypatch.setattr(checkpoint, "save_checkpoint", save_with_ctrl_c_in_the_middle)

    class CtrlC(Hook):
        def after_step(self, trainer):
            os.kill(os.getpid(), signal.SIGINT)

    trainer = make_trainer([CtrlC(), CheckpointHook(100, tmp_path)])
    with pytest.raises(KeyboardInterrupt):  # delivered once the files are written
        trainer.train(0, 5)
    assert make_trainer().resume(tmp_path / "1") == 1


def test_non_finite_loss_names_the_iteration_and_spares_the_weights(tmp_path, make_trainer):
    saver = CheckpointHook(2, tmp_path)
    trainer = make_trainer([saver], loader=ToyLoader(nan_at_batch=3))
    with pytest.raises(NonFiniteLossError, match="iteration 3") as err:
        trainer.train(0, 10)
    assert isinstance(err.value, SlimdetError)
    assert trainer.iter == 3
    assert all(np.isfinite(w).all() for w in weights_of(trainer.model).values())
    assert not (tmp_path / "model_final.pdparams").exists()
    assert (tmp_path / "2.state.json").exists()


def test_after_train_runs_even_when_a_step_fails(make_trainer):
    calls = []

    class Probe(Hook):
        def before_train(self, trainer):
            calls.append("before")

        def after_train(self, trainer):
            calls.append("after")

    with pytest.raises(NonFiniteLossError):
        make_trainer([Probe()], loader=ToyLoader(nan_at_batch=0)).train(0, 3)
    assert calls == ["before", "after"]


def test_the_trainer_runs_the_step_it_is_given(make_trainer):
    def doubled(trainer, batch):
        losses = model_losses(trainer, batch)
        return {**losses, "loss": 2 * losses["loss"]}

    trainer = make_trainer(step=doubled)
    assert trainer.step is doubled
    trainer.train(0, 3)
    assert trainer.iter == 3
    assert trainer.losses["loss"] == pytest.approx(
        2 * (trainer.losses["loss_mse"] + trainer.losses["loss_l1"]), rel=1e-5
    )


def test_final_checkpoint_holds_the_trained_weights(tmp_path, make_trainer):
    trainer = make_trainer([CheckpointHook(4, tmp_path)])
    trainer.train(0, 8)
    assert sorted(p.name for p in tmp_path.glob("*.pdparams")) == ["4.pdparams", "model_final.pdparams"]
    fresh = make_trainer(seed=5)
    load_weights(fresh.model, tmp_path / "model_final", strict=True)
    for name, value in weights_of(trainer.model).items():
        np.testing.assert_array_equal(weights_of(fresh.model)[name], value)
