"""Optimizer and LR schedule built from the legacy config sections behave as PaddleDetection 0.x did."""

import numpy as np
import paddle
import pytest

from slimdet.engine.optim import build_lr_scheduler, build_optimizer
from slimdet.errors import ConfigError

# configs/yolov3_mobilenet_v1_voc.yml (release/0.4), LearningRate section.
LEGACY_LR = {
    "LearningRate": {
        "base_lr": 0.001,
        "schedulers": [
            {"type": "PiecewiseDecay", "gamma": 0.1, "milestones": [55000, 62000]},
            {"type": "LinearWarmup", "start_factor": 0.0, "steps": 1000},
        ],
    }
}


def lr_at(scheduler, step):
    scheduler.step(step)
    return scheduler()


def test_legacy_schedule_warms_up_from_zero_then_decays_tenfold_at_each_milestone():
    scheduler = build_lr_scheduler(LEGACY_LR)
    # docs/legacy.md, "Configs": steps 0…999 linear from 0 to 0.001 (step 0 gives lr 0), then 0.001 until 55,000,
    # 0.0001 until 62,000, 0.00001 after.
    expected = {
        0: 0.0,
        500: 0.0005,
        999: 0.000999,
        1000: 0.001,
        54999: 0.001,
        55000: 0.0001,
        61999: 0.0001,
        62000: 1e-5,
        69999: 1e-5,
    }
    for step, lr in expected.items():
        assert lr_at(scheduler, step) == pytest.approx(lr, rel=1e-9, abs=1e-12), step


def test_milestones_count_from_step_zero_not_from_the_end_of_warmup():
    cfg = {
        "LearningRate": {
            "base_lr": 1.0,
            "schedulers": [
                {"type": "PiecewiseDecay", "gamma": 0.1, "milestones": [10]},
                {"type": "LinearWarmup", "start_factor": 0.5, "steps": 4},
            ],
        }
    }
    scheduler = build_lr_scheduler(cfg)
    assert [lr_at(scheduler, s) for s in (0, 2, 4, 9, 10)] == pytest.approx([0.5, 0.75, 1.0, 1.0, 0.1])


def test_scalar_gamma_expands_by_powers_of_ten_and_a_list_is_taken_as_given():
    scalar = {
        "LearningRate": {"base_lr": 1.0, "schedulers": [{"type": "PiecewiseDecay", "gamma": 0.5, "milestones": [2, 4]}]}
    }
    listed = {
        "LearningRate": {
            "base_lr": 1.0,
            "schedulers": [{"type": "PiecewiseDecay", "gamma": [0.5, 0.25], "milestones": [2, 4]}],
        }
    }
    # legacy ppdet/optimizer.py: gamma_i = gamma / 10**i, so 0.5 → [0.5, 0.05] (0.1 → [0.1, 0.01]).
    assert [lr_at(build_lr_scheduler(scalar), s) for s in (0, 2, 4)] == pytest.approx([1.0, 0.5, 0.05])
    assert [lr_at(build_lr_scheduler(listed), s) for s in (0, 2, 4)] == pytest.approx([1.0, 0.5, 0.25])


def test_resumed_scheduler_continues_where_it_stopped():
    first = build_lr_scheduler(LEGACY_LR)
    for _ in range(700):
        first.step()
    second = build_lr_scheduler(LEGACY_LR)
    second.set_state_dict(first.state_dict())
    first.step()
    second.step()
    assert second() == first() == pytest.approx(0.001 * 701 / 1000)


def test_unknown_scheduler_and_bad_milestones_are_reported_together():
    cfg = {
        "LearningRate": {
            "base_lr": 0.1,
            "schedulers": [
                {"type": "PiecewiseDecai", "gamma": 0.1, "milestones": [5]},
                {"type": "LinearWarmup", "start_factor": 2.0, "steps": 10},
            ],
        }
    }
    with pytest.raises(ConfigError) as err:
        build_lr_scheduler(cfg)
    message = str(err.value)
    assert "did you mean 'PiecewiseDecay'" in message
    assert "start_factor" in message


def test_gamma_list_must_match_the_milestones():
    cfg = {
        "LearningRate": {
            "base_lr": 0.1,
            "schedulers": [{"type": "PiecewiseDecay", "gamma": [0.1], "milestones": [5, 9]}],
        }
    }
    with pytest.raises(ConfigError, match="2 milestones need 2 gamma factors"):
        build_lr_scheduler(cfg)


def test_l2_decay_shrinks_weights_but_spares_biases_and_batchnorm():
    paddle.seed(1)
    model = paddle.nn.Sequential(paddle.nn.Linear(3, 2), paddle.nn.BatchNorm1D(2))
    cfg = {
        "LearningRate": {"base_lr": 0.1, "schedulers": []},
        "OptimizerBuilder": {
            "optimizer": {"type": "Momentum", "momentum": 0.9},
            "regularizer": {"type": "L2", "factor": 0.01},
        },
    }
    optimizer, _ = build_optimizer(cfg, model)
    before = {p.name: p.numpy().copy() for p in model.parameters()}
    # A loss with zero gradient everywhere: only weight decay moves anything.
    (0.0 * sum(paddle.sum(p) for p in model.parameters())).backward()
    optimizer.step()
    for param in model.parameters():
        if len(param.shape) > 1:
            np.testing.assert_allclose(param.numpy(), before[param.name] * (1 - 0.1 * 0.01), rtol=1e-6)
        else:
            np.testing.assert_array_equal(param.numpy(), before[param.name])


def test_a_parameter_keeps_its_own_regularizer():
    paddle.seed(1)
    layer = paddle.nn.Linear(3, 2, bias_attr=paddle.ParamAttr(regularizer=paddle.regularizer.L2Decay(0.5)))
    cfg = {
        "LearningRate": {"base_lr": 0.1, "schedulers": []},
        "OptimizerBuilder": {"regularizer": {"type": "L2", "factor": 0.01}},
    }
    optimizer, _ = build_optimizer(cfg, layer)
    bias = layer.bias.numpy().copy() + 1.0
    layer.bias.set_value(bias)
    (0.0 * paddle.sum(layer.bias) + 0.0 * paddle.sum(layer.weight)).backward()
    optimizer.step()
    np.testing.assert_allclose(layer.bias.numpy(), bias * (1 - 0.1 * 0.5), rtol=1e-6)


def test_unsupported_optimizer_is_a_config_error():
    cfg = {"OptimizerBuilder": {"optimizer": {"type": "Adam"}}}
    with pytest.raises(ConfigError, match="Momentum"):
        build_optimizer(cfg, paddle.nn.Linear(2, 2))
