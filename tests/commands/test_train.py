"""train_from_config on the real model and data: it learns and it resumes exactly (eval: tests/cli)."""

import itertools

import numpy as np
import pytest

from slimdet.commands.train import TrainRequest, train_from_config
from slimdet.config import load_config


def test_loss_falls_steadily_when_overfitting_a_handful_of_images(overfit_tiny):
    # The shared overfit run is this very training (the tiny config on 4 images, batch 4, log_iter 2): its
    # first 12 steps are what a 12-step run of its own would give, step for step.
    curve = [loss for _, loss in overfit_tiny.loss_history[:6]]
    assert [it for it, _ in overfit_tiny.loss_history[:6]] == [2, 4, 6, 8, 10, 12]
    assert all(later < earlier for earlier, later in itertools.pairwise(curve)), curve
    assert curve[-1] < 0.25 * curve[0], curve
    assert set(overfit_tiny.losses) == {"loss", "loss_xy", "loss_wh", "loss_obj", "loss_cls"}


def test_resume_reproduces_the_uninterrupted_run(tiny_train_config):
    overrides = ["max_iters=4", "snapshot_iter=2"]
    straight = train_from_config(TrainRequest(load_config(tiny_train_config, overrides), seed=3), quiet=True)
    checkpoint = tiny_train_config.parent / "output" / "tiny" / "2"
    resumed = train_from_config(
        TrainRequest.resolve(load_config(tiny_train_config, overrides), resume=checkpoint, seed=99), quiet=True
    )
    assert (resumed.start_iter, resumed.iterations) == (2, 4)
    # log_iter 1: every step's loss; steps 1 and 2 come with the checkpoint, 3 and 4 are trained again.
    assert [it for it, _ in resumed.loss_history] == [1, 2, 3, 4]
    assert resumed.loss_history[:2] == straight.loss_history[:2]
    assert [loss for _, loss in resumed.loss_history] == pytest.approx(
        [loss for _, loss in straight.loss_history], abs=1e-5
    )
    assert resumed.losses == pytest.approx(straight.losses, abs=1e-5)


def test_a_pruning_plan_shapes_the_model_and_travels_with_every_checkpoint(overfit_tiny, tmp_path):
    from slimdet.commands.evaluate import EvalRequest, evaluate_checkpoint
    from slimdet.slim.plan import PruningPlan, load_plan

    plan = PruningPlan(ratios={"yolo_block.0.0.0.conv.weights": 0.5})
    overrides = ["max_iters=2", "snapshot_iter=1", f"save_dir={tmp_path}", f"pretrain_weights={overfit_tiny.weights}"]
    cfg = load_config(overfit_tiny.config, overrides)
    result = train_from_config(TrainRequest(cfg, plan, eval=True), quiet=True)
    assert result.pruning.gflops_after < result.pruning.gflops_before and result.pruning.input_size == 64
    output = tmp_path / "overfit"
    for stem in ("1", "model_final", "best_model"):
        assert load_plan(output / stem) == plan
    again = evaluate_checkpoint(
        EvalRequest(cfg, str(output / "best_model.pdparams"))
    )  # the structure comes from the sidecar
    assert again.pruned
    assert again.summary.metrics == pytest.approx(result.best.metrics, abs=1e-9)
    assert again.summary.metrics["mAP"] > 0.1  # the trained model, pruned: equal mAPs are not two zeros


def test_the_pretrained_weights_are_loaded_then_pruned_keeping_the_largest_filters(
    tiny_train_config, small_shapes_checkpoint, monkeypatch
):
    from slimdet.commands import train
    from slimdet.engine.trainer import Trainer
    from slimdet.slim.plan import PruningPlan
    from slimdet.weights import legacy_state, read_weights

    pretrained_file = small_shapes_checkpoint[1]
    cut, following = "yolo_block.0.0.0.conv.weights", "yolo_block.0.0.1.conv.weights"
    seen = {}

    class SeesTheModelBeforeTraining(Trainer):
        def __init__(self, model, *args, **kwargs) -> None:
            seen.update({name: tensor.numpy() for name, tensor in legacy_state(model).items()})
            super().__init__(model, *args, **kwargs)

    monkeypatch.setattr(train, "Trainer", SeesTheModelBeforeTraining)
    cfg = load_config(tiny_train_config, ["max_iters=1", f"pretrain_weights={pretrained_file}"])
    plan = PruningPlan(ratios={cut: 0.5})
    result = train_from_config(TrainRequest(cfg, plan), quiet=True)
    assert result.pretrained["matched"] > 0
    pretrained = read_weights(pretrained_file)
    # L1 pruning of the loaded weights keeps the 256 filters of largest L1 norm, in their order; pruning
    # first and loading after would leave these shapes unfilled (freshly initialised values).
    norms = np.abs(pretrained[cut]).sum(axis=(1, 2, 3))
    kept = np.sort(np.argsort(-norms, kind="stable")[:256])
    np.testing.assert_array_equal(seen[cut], pretrained[cut][kept])
    np.testing.assert_array_equal(seen[following], pretrained[following][:, kept])
    untouched = [name for name in pretrained if name in seen and seen[name].shape == pretrained[name].shape]
    assert len(untouched) > 100 and all(np.array_equal(seen[name], pretrained[name]) for name in untouched)


def test_a_fine_tune_starts_from_its_pretrained_weights_and_the_weights_they_leave_out_start_random(overfit_tiny):
    """Without random weights under a full load (the shortcut), and with the very same random ones where the
    file leaves parameters out (``finetune_exclude_pretrained_params``) as a run without the shortcut."""
    from slimdet.commands.train import build_train_parts
    from slimdet.modeling.build import build_model
    from slimdet.runtime import seed_everything
    from slimdet.weights import legacy_state, read_weights

    saved = read_weights(overfit_tiny.weights)
    full = load_config(overfit_tiny.config, [f"pretrain_weights={overfit_tiny.weights}"])
    parts = build_train_parts(TrainRequest(full), device="cpu", rank=0, world_size=1)
    assert parts.pretrained["matched"] == len(saved) and not parts.pretrained["missing"]
    for name, tensor in legacy_state(parts.model).items():
        np.testing.assert_array_equal(tensor.numpy(), saved[name], err_msg=name)

    partial = load_config(overfit_tiny.config, [f"pretrain_weights={overfit_tiny.weights}",
                                               "finetune_exclude_pretrained_params=['yolo_output']"])  # fmt: skip
    seed_everything(5)
    parts = build_train_parts(TrainRequest(partial), device="cpu", rank=0, world_size=1)
    seed_everything(5)
    fresh = legacy_state(build_model(partial.to_dict()))
    excluded = [name for name in fresh if name.startswith("yolo_output")]
    assert excluded and parts.pretrained["excluded"] == len(excluded)
    for name, tensor in legacy_state(parts.model).items():
        expected = fresh[name].numpy() if name in excluded else saved[name]
        np.testing.assert_array_equal(tensor.numpy(), expected, err_msg=name)
