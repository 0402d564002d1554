"""Sensitivity trials on the tiny shapes model: the weights stay intact, and the shortcuts (head-only
trials, recomputing only the levels a cut changes, Paddle Inference) score like a full dygraph forward."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from slimdet.errors import PlanError
from slimdet.slim.sensitivity_trials import TrialSession, TrialSpec

PARAMS = ("yolo_block.0.2.conv.weights", "yolo_block.2.tip.conv.weights")  # a route conv (two consumers), a tip
RATIOS = (0.2, 0.5, 0.8)


def shapes_spec(config: Path) -> TrialSpec:
    """2 convs × 3 ratios of the small shapes checkpoint's config, its data read in this process."""
    return TrialSpec(config=str(config), params=PARAMS, ratios=RATIOS, data_workers=0)


@pytest.fixture(scope="module")
def spec(small_shapes_checkpoint) -> TrialSpec:
    return shapes_spec(small_shapes_checkpoint[0])


@pytest.fixture(scope="module")
def session(spec) -> TrialSession:
    return TrialSession(spec)


def test_weights_after_the_trials_equal_the_loaded_ones(session, small_shapes_checkpoint):
    from slimdet.weights import legacy_state, read_weights

    _, weights = small_shapes_checkpoint
    for param in PARAMS:
        session.trial_map(param, 0.8)

    state = legacy_state(session.model)
    loaded = read_weights(weights)
    assert state.keys() == loaded.keys()
    for name, tensor in state.items():
        np.testing.assert_array_equal(tensor.numpy(), loaded[name], err_msg=name)
    session.check_restored()


def test_head_only_trials_score_like_a_full_forward(session):
    from slimdet.engine.evaluate import run_inference

    assert session.eval_set.mode.startswith("head only")

    with session.pruner.pruned({PARAMS[0]: 0.5}):
        full = run_inference(session.model, session.batches, session.evaluator)["mAP"]
    assert session.trial_map(PARAMS[0], 0.5) == full


@pytest.mark.parametrize(
    ("param", "full_from", "tips"),
    [("yolo_block.1.0.0.conv.weights", 1, set()), ("yolo_block.2.tip.conv.weights", None, {2}), (PARAMS[0], 0, set())],
)
def test_a_trial_recomputes_only_the_levels_its_cut_changes_and_gets_the_full_heads_outputs(
    session, param, full_from, tips
):
    from slimdet.engine.evaluate import inference_context
    from slimdet.slim.sensitivity_trials import HeadChange

    features, _, _, levels = session.eval_set.items[0]
    with session.pruner.pruned({param: 0.5}) as cuts, inference_context(session.model):
        change = HeadChange.of(cut.name for cut in cuts[param])
        assert (change.full_from, set(change.tips)) == (full_from, tips)
        want, have = session.model.head(features), change.outputs(session.model.head, features, levels)
    changed = set(range(full_from, 3)) if full_from is not None else tips
    for level, (expected, got) in enumerate(zip(want, have)):
        assert np.array_equal(expected.numpy(), got.numpy())  # bit for bit, kept or recomputed
        assert (got is levels[level][1]) == (level not in changed)  # unchanged levels are the kept tensors


def test_inference_trials_score_like_dygraph_up_to_float_rounding(session):
    from slimdet.engine.evaluate import run_inference

    assert session.backend == "dygraph"  # auto: 8 tiny images score faster than a graph compiles
    with session.pruner.pruned({PARAMS[0]: 0.5}):
        dygraph = session.eval_set.evaluate(session.model, session.evaluator, "dygraph")["mAP"]
        head_graph = session.eval_set.evaluate(session.model, session.evaluator, "inference")["mAP"]
        full_graph = run_inference(session.model, session.batches, session.evaluator, backend="inference")["mAP"]
    assert dygraph > 0
    assert head_graph == pytest.approx(dygraph, abs=1e-3) and full_graph == pytest.approx(dygraph, abs=1e-3)
    session.check_restored()


def test_a_backbone_conv_makes_trials_run_the_full_forward(spec):
    session = TrialSession(replace(spec, params=("conv6_sep_weights",), ratios=(0.5,)))

    assert session.eval_set.mode == "full forward, images cached"


def test_unknown_param_is_a_plan_error_with_a_suggestion(spec):
    with pytest.raises(PlanError, match="did you mean 'yolo_block.0.2.conv.weights'"):
        TrialSession(replace(spec, params=("yolo_block.0.2.conv.weight",)))
