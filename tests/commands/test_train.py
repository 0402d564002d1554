"""train_from_config on the real model and data: it learns and it resumes exactly (eval: tests/cli)."""

import itertools

import pytest

from slimdet.commands.train import train_from_config
from slimdet.config import load_config


def test_loss_falls_steadily_when_overfitting_a_handful_of_images(tiny_train_config, synthetic_voc, tmp_path):
    handful = tmp_path / "handful.txt"
    handful.write_text("".join((synthetic_voc / "trainval.txt").read_text().splitlines(keepends=True)[:4]))
    cfg = load_config(
        tiny_train_config,
        ["max_iters=12", "log_iter=2", "snapshot_iter=100", f"TrainReader.dataset.anno_path={handful}"],
    )
    result = train_from_config(cfg, quiet=True)
    curve = [loss for _, loss in result.loss_history]
    assert [it for it, _ in result.loss_history] == [2, 4, 6, 8, 10, 12]
    assert all(later < earlier for earlier, later in itertools.pairwise(curve)), curve
    assert curve[-1] < 0.25 * curve[0], curve
    assert set(result.losses) == {"loss", "loss_xy", "loss_wh", "loss_obj", "loss_cls"}


def test_resume_reproduces_the_uninterrupted_run(tiny_train_config):
    overrides = ["max_iters=4", "snapshot_iter=2"]
    straight = train_from_config(load_config(tiny_train_config, overrides), quiet=True, seed=3)
    checkpoint = tiny_train_config.parent / "output" / "tiny" / "2"
    resumed = train_from_config(load_config(tiny_train_config, overrides), quiet=True, resume=checkpoint, seed=99)
    assert (resumed.start_iter, resumed.iterations) == (2, 4)
    assert [it for it, _ in resumed.loss_history] == [3, 4]  # log_iter 1: every step's loss
    assert [loss for _, loss in resumed.loss_history] == pytest.approx([loss for _, loss in straight.loss_history[2:]], abs=1e-5)
    assert resumed.losses == pytest.approx(straight.losses, abs=1e-5)



def test_a_pruning_plan_shapes_the_model_and_travels_with_every_checkpoint(tiny_train_config):
    from slimdet.commands.evaluate import evaluate_checkpoint
    from slimdet.slim.plan import PruningPlan, load_plan

    plan = PruningPlan(ratios={"yolo_block.0.0.0.conv.weights": 0.5})
    cfg = load_config(tiny_train_config, ["max_iters=2", "snapshot_iter=1"])
    result = train_from_config(cfg, eval=True, quiet=True, plan=plan)
    assert result.pruning.gflops_after < result.pruning.gflops_before and result.pruning.input_size == 64
    output = tiny_train_config.parent / "output" / "tiny"
    for stem in ("1", "model_final", "best_model"):
        assert load_plan(output / stem) == plan
    again = evaluate_checkpoint(cfg, str(output / "best_model.pdparams"))  # the structure comes from the sidecar
    assert again.pruned
    assert again.summary.metrics == pytest.approx(result.best.metrics, abs=1e-9)
