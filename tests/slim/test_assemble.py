"""build_trained_model: build → prune as the checkpoint's sidecar (or the flags) say → load strictly."""

import pytest

from slimdet.errors import PlanError, WeightsError

PRUNED = {"yolo_block.0.0.0.conv.weights": 0.5, "yolo_block.2.tip.conv.weights": 0.25}


@pytest.fixture(scope="module")
def shapes_dict(small_shapes_checkpoint) -> dict:
    from slimdet.config import load_config

    return load_config(small_shapes_checkpoint[0]).to_dict()


@pytest.fixture(scope="module")
def pruned_checkpoint(shapes_dict, tmp_path_factory):
    """A pruned model's weights with its plan sidecar, and the model itself."""
    import paddle

    from slimdet.modeling.build import build_model
    from slimdet.slim.plan import PruningPlan, save_plan
    from slimdet.weights import save_weights

    paddle.seed(5)
    model = build_model(shapes_dict)
    plan = PruningPlan(ratios=PRUNED)
    plan.apply(model, input_size=96)
    weights = save_weights(model, tmp_path_factory.mktemp("pruned") / "p.pdparams")
    save_plan(plan, weights)
    return weights, model


def _weight(model, name: str):
    return next(p for p in model.parameters() if p.name == name)


def test_unpruned_checkpoint_loads_in_eval_mode(shapes_dict, small_shapes_checkpoint):
    from slimdet.slim.assemble import build_trained_model
    from slimdet.weights import read_weights

    model, plan = build_trained_model(shapes_dict, small_shapes_checkpoint[1])
    assert plan is None and not model.training
    stored = read_weights(small_shapes_checkpoint[1])["yolo_output.0.conv.weights"]
    assert (_weight(model, "yolo_output.0.conv.weights").numpy() == stored).all()


def test_the_sidecar_rebuilds_the_pruned_structure_and_its_values(shapes_dict, pruned_checkpoint):
    from slimdet.slim.assemble import build_trained_model

    weights, original = pruned_checkpoint
    model, plan = build_trained_model(shapes_dict, weights)
    assert plan is not None and dict(plan.ratios) == PRUNED
    for name in ("yolo_block.0.0.0.conv.weights", "yolo_block.2.tip.conv.weights", "yolo_block.0.0.1.conv.weights"):
        assert (_weight(model, name).numpy() == _weight(original, name).numpy()).all()
    assert _weight(model, "yolo_block.0.0.0.conv.weights").shape[0] == 256  # 512 halved


def test_flags_that_contradict_the_sidecar_are_a_plan_error(shapes_dict, pruned_checkpoint):
    from slimdet.slim.assemble import build_trained_model
    from slimdet.slim.plan import PruningPlan

    with pytest.raises(PlanError, match="contradict"):
        build_trained_model(
            shapes_dict, pruned_checkpoint[0], PruningPlan(ratios={"yolo_block.0.0.0.conv.weights": 0.3})
        )


def test_no_weights_is_a_weights_error(shapes_dict):
    from slimdet.slim.assemble import build_trained_model

    with pytest.raises(WeightsError, match="-o weights="):
        build_trained_model(shapes_dict, None)
