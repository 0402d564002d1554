"""Checkpoint files: atomic, complete only when the state file is there, resumable by any of their names
or by their folder."""

import os
from pathlib import Path

import numpy as np
import paddle
import pytest

from slimdet.engine.checkpoint import checkpoint_stem, load_checkpoint, resume_stem, save_checkpoint
from slimdet.errors import WeightsError
from slimdet.weights import load_weights


def failing_disk(real_save, failing: str):
    """``paddle.save`` whose files named like ``failing`` get half of their bytes, then fail like a full disk."""

    def save(obj, path, *args, **kwargs):
        real_save(obj, path, *args, **kwargs)
        if failing in os.fspath(path):
            whole = Path(path).read_bytes()
            Path(path).write_bytes(whole[: len(whole) // 2])
            raise OSError(28, "No space left on device")

    return save


def trained(make_trainer, steps):
    trainer = make_trainer()
    trainer.train(0, steps)
    return trainer


def test_a_crash_while_writing_leaves_no_half_file_and_no_mixed_checkpoint(tmp_path, make_trainer, monkeypatch):
    early = trained(make_trainer, 2)
    save_checkpoint(tmp_path / "2", early.model, early.optimizer, early.state_dict())
    save_checkpoint(tmp_path / "model_final", early.model, early.optimizer, early.state_dict())
    old_optimizer = (tmp_path / "model_final.pdopt").read_bytes()

    later = trained(make_trainer, 5)
    # the optimizer file's write fails halfway, after the weights were replaced
    monkeypatch.setattr(paddle, "save", failing_disk(paddle.save, ".pdopt"))
    with pytest.raises(OSError, match="No space"):
        save_checkpoint(tmp_path / "model_final", later.model, later.optimizer, later.state_dict())
    monkeypatch.undo()

    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "2.pdopt",
        "2.pdparams",
        "2.state.json",
        "model_final.pdopt",
        "model_final.pdparams",
    ]  # no temp file left behind
    assert (tmp_path / "model_final.pdopt").read_bytes() == old_optimizer  # old file whole, not half a new one
    fresh = make_trainer()
    load_weights(fresh.model, tmp_path / "model_final.pdparams", strict=True)  # the weights file is whole too
    with pytest.raises(WeightsError, match=r"model_final is not a resumable checkpoint.*resumable ones there: 2"):
        load_checkpoint(tmp_path / "model_final", fresh.model, fresh.optimizer)
    assert load_checkpoint(tmp_path / "2", fresh.model, fresh.optimizer)["iteration"] == 2


def test_a_checkpoint_restores_weights_and_momentum(tmp_path, make_trainer):
    trainer = trained(make_trainer, 4)
    save_checkpoint(tmp_path / "4", trainer.model, trainer.optimizer, trainer.state_dict())
    fresh = make_trainer(seed=7)
    state = load_checkpoint(tmp_path / "4.state.json", fresh.model, fresh.optimizer)
    assert state["iteration"] == 4 and state["seed"] == 0
    for param in trainer.model.parameters():
        twin = dict((p.name, p) for p in fresh.model.parameters())[param.name]
        np.testing.assert_array_equal(twin.numpy(), param.numpy())
    saved = {k: v for k, v in trainer.optimizer.state_dict().items() if k.endswith("_velocity_0")}
    assert saved  # Momentum velocities under their legacy names
    restored = fresh.optimizer._accumulators_holder
    for name, value in saved.items():
        np.testing.assert_array_equal(np.asarray(restored[name]), value.numpy())


@pytest.mark.parametrize("given", ["out/200", "out/200.pdparams", "out/200.pdopt", "out/200.state.json"])
def test_every_checkpoint_file_names_the_same_checkpoint(given):
    assert checkpoint_stem(given).as_posix() == "out/200"


def test_a_folder_resumes_from_its_latest_complete_checkpoint(tmp_path, make_trainer):
    trainer = trained(make_trainer, 2)
    for stem, iteration, mtime in (("2", 2, 100), ("10", 10, 50), ("model_final", 2, 200)):
        state = {**trainer.state_dict(), "iteration": iteration}
        save_checkpoint(tmp_path / stem, trainer.model, trainer.optimizer, state)
        os.utime(tmp_path / f"{stem}.state.json", (mtime, mtime))
    (tmp_path / "best_model.pdparams").write_bytes((tmp_path / "2.pdparams").read_bytes())  # weights only: no resume
    assert resume_stem(tmp_path) == tmp_path / "10"  # by iteration, not by name or age
    assert resume_stem(tmp_path / "2.pdopt") == tmp_path / "2"  # a checkpoint is taken as named

    (tmp_path / "10.pdopt").unlink()  # killed while writing 10: of the two at iteration 2, the newer
    assert resume_stem(tmp_path) == tmp_path / "model_final"


def test_a_folder_without_a_complete_checkpoint_is_refused(tmp_path):
    (tmp_path / "2.pdparams").write_bytes(b"weights only")
    with pytest.raises(WeightsError, match=r"holds no resumable checkpoint \(<name>.pdparams, .pdopt and"):
        resume_stem(tmp_path)
