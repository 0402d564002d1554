"""PruningPlan: parsing the legacy flags, checking against a model, describing, applying, saving."""

import json
import math

import numpy as np
import paddle
import pytest

from slimdet.errors import PlanError
from slimdet.slim.plan import (
    PruningPlan,
    load_plan,
    prunable_convs,
    resolve_plan,
    save_plan,
    sidecar_path,
)

from .toy import TOY_INPUT, build_toy

ROUTE = "yolo_block.0.2.conv.weights"
FIRST = "yolo_block.0.0.0.conv.weights"


def weights(model) -> dict[str, np.ndarray]:
    return {p.name: p.numpy().copy() for p in model.parameters()}


# --- parsing the legacy flags ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "params, ratios",
    [
        ("a.weights,b.weights", "0.2,0.3"),  # legacy prune.py: commas
        ("a.weights b.weights", "0.2 0.3"),  # legacy sensitive.py: spaces
        (" a.weights, b.weights ", "0.2,  0.3"),  # both, with stray blanks
    ],
)
def test_flags_accept_comma_or_space_separated_lists(params, ratios):
    plan = PruningPlan.from_flags(params, ratios)
    assert dict(plan.ratios) == {"a.weights": 0.2, "b.weights": 0.3}
    assert list(plan.ratios) == ["a.weights", "b.weights"]  # order kept for reports


def test_single_ratio_applies_to_every_name():
    plan = PruningPlan.from_flags("a,b,c", "0.5")
    assert dict(plan.ratios) == {"a": 0.5, "b": 0.5, "c": 0.5}


def test_no_flags_means_no_plan():
    assert PruningPlan.from_flags(None, None) is None


def test_ratio_count_must_match_name_count():
    with pytest.raises(PlanError, match="3 names but --pruned_ratios has 2 ratios"):
        PruningPlan.from_flags("a,b,c", "0.1,0.2")


@pytest.mark.parametrize(
    "ratios, bad", [("0.5,1.5", "b=1.5"), ("0.5,0", "b=0.0"), ("-0.1,0.5", "a=-0.1"), ("1,0.5", "a=1.0")]
)
def test_every_ratio_must_lie_strictly_between_0_and_1(ratios, bad):
    # The legacy tool compared the lists lexicographically, so "0.5,1.5" slipped through.
    with pytest.raises(PlanError, match=f"strictly between 0 and 1, got {bad}"):
        PruningPlan.from_flags("a,b", ratios)


@pytest.mark.parametrize(
    "params, ratios, message",
    [
        ("a", "half", "'half' is not a number"),
        ("a", None, "needs --pruned_ratios"),
        (None, "0.5", "without --pruned_params"),
        ("a,b,a", "0.5", "lists a more than once"),
    ],
)
def test_malformed_flags_say_how_to_fix_them(params, ratios, message):
    with pytest.raises(PlanError, match=message):
        PruningPlan.from_flags(params, ratios)


def test_legacy_geometry_median_is_fpgm_and_unknown_criteria_are_refused():
    assert PruningPlan.from_flags("a", "0.5", "geometry_median").criterion == "fpgm"
    with pytest.raises(PlanError, match="did you mean 'l1_norm'"):
        PruningPlan.from_flags("a", "0.5", "l1norm")


def test_plan_ratios_cannot_be_changed_after_creation():
    plan = PruningPlan.from_flags("a", "0.5")
    with pytest.raises(TypeError):
        plan.ratios["a"] = 0.9


# --- checking against a model ---------------------------------------------------------------------


def test_prunable_convs_exclude_depthwise_and_output_convs(toy_detector):
    assert list(prunable_convs(toy_detector)) == [
        FIRST,
        "yolo_block.0.0.1.conv.weights",
        ROUTE,
        "yolo_block.0.tip.conv.weights",
        "yolo_transition.0.conv.weights",
    ]


def test_unknown_name_gets_a_close_match_suggestion(toy_detector):
    plan = PruningPlan({"yolo_block.0.0.0.conv.weight": 0.5})
    [problem] = plan.problems(toy_detector)
    assert "not a parameter of this model (did you mean 'yolo_block.0.0.0.conv.weights'?)" in problem


def test_a_plan_that_does_not_fit_is_refused_before_paddleslim_loads(toy_detector, monkeypatch):
    """PaddleSlim takes seconds to import: a misspelt name must not wait for it (export and train replay plans)."""
    import sys

    monkeypatch.setitem(sys.modules, "slimdet.slim.pruner", None)  # importing it now raises ImportError
    with pytest.raises(PlanError, match="did you mean 'yolo_block.0.0.0.conv.weights'"):
        PruningPlan({"yolo_block.0.0.0.conv.weight": 0.5}).prune(toy_detector)


@pytest.mark.parametrize(
    "name, reason",
    [
        ("yolo_output.0.conv.weights", "output channels are the detections"),
        ("conv2_1_dw_weights", "depthwise/grouped convolution (groups=8)"),
        ("yolo_block.0.2.bn.scale", "not a convolution weight"),
    ],
)
def test_unprunable_parameters_are_refused_with_the_reason(toy_detector, name, reason):
    [problem] = PruningPlan({name: 0.5}).problems(toy_detector)
    assert f"'{name}' cannot be pruned" in problem and reason in problem


def test_plan_rejects_ratio_that_leaves_no_channels(toy_detector):
    # 8 filters: round(8 × 0.95) = 8 removes all; round(8 × 0.93) = 7 leaves one.
    [problem] = PruningPlan({ROUTE: 0.95}).problems(toy_detector)
    assert "removes all 8 filters" in problem and "below 0.9375" in problem
    assert PruningPlan({ROUTE: 0.93}).problems(toy_detector) == []


def test_all_problems_are_reported_together(toy_detector):
    plan = PruningPlan({"nope": 0.5, "yolo_output.0.conv.weights": 0.5, ROUTE: 0.99})
    before = weights(toy_detector)
    with pytest.raises(PlanError) as err:
        plan.apply(toy_detector, input_size=TOY_INPUT)
    clauses = str(err.value).split("; ")
    assert len(clauses) == 3
    assert "'nope' is not a parameter" in clauses[0]
    assert "'yolo_output.0.conv.weights' cannot be pruned" in clauses[1]
    assert "removes all 8 filters" in clauses[2]
    assert all(np.array_equal(before[k], v) for k, v in weights(toy_detector).items())  # untouched


def test_describe_shows_shapes_before_and_after_without_pruning(toy_detector):
    plan = PruningPlan({ROUTE: 0.5, FIRST: 0.3125})
    rows = plan.describe(toy_detector)
    assert [(r.name, r.shape_before, r.shape_after) for r in rows] == [
        (ROUTE, (8, 16, 1, 1), (4, 16, 1, 1)),
        (FIRST, (8, 3, 1, 1), (6, 3, 1, 1)),  # round(2.5) = 2 removed: Python rounds half to even
    ]
    assert toy_detector.route[0].weight.shape == [8, 16, 1, 1]


# --- applying -------------------------------------------------------------------------------------


def test_pruning_a_route_conv_cuts_its_bn_and_both_consumers_keeping_the_strongest_filters(toy_detector):
    before = weights(toy_detector)
    l1 = np.abs(before[ROUTE]).sum(axis=(1, 2, 3))
    kept = np.sort(np.argsort(l1)[4:])  # 8 filters at 0.5: the 4 with the largest L1 norm stay

    report = PruningPlan({ROUTE: 0.5}).apply(toy_detector, input_size=TOY_INPUT)

    after = weights(toy_detector)
    np.testing.assert_array_equal(after[ROUTE], before[ROUTE][kept])
    for tensor in ("scale", "offset", "mean", "var"):
        name = f"yolo_block.0.2.bn.{tensor}"
        np.testing.assert_array_equal(after[name], before[name][kept])
    for consumer in ("yolo_block.0.tip.conv.weights", "yolo_transition.0.conv.weights"):
        np.testing.assert_array_equal(after[consumer], before[consumer][:, kept])
    cut = ("yolo_block.0.2.", "yolo_block.0.tip.conv", "yolo_transition.0.conv")
    untouched = [n for n in before if not n.startswith(cut)]
    assert all(np.array_equal(after[n], before[n]) for n in untouched)
    [row] = report.rows
    assert (row.channels_before, row.channels_after) == (8, 4)
    assert set(row.pulled_along) == {
        "yolo_block.0.2.bn.scale[axis 0]",
        "yolo_block.0.2.bn.offset[axis 0]",
        "yolo_block.0.2.bn.mean[axis 0]",
        "yolo_block.0.2.bn.var[axis 0]",
        "yolo_block.0.tip.conv.weights[axis 1]",
        "yolo_transition.0.conv.weights[axis 1]",
    }


def test_pruned_model_runs_and_reports_analytic_flops_and_parameters(toy_detector):
    toy_detector.train()
    report = PruningPlan({FIRST: 0.5, ROUTE: 0.5}).apply(toy_detector, input_size=TOY_INPUT)

    outputs = toy_detector.raw_outputs(paddle.rand([2, 3, TOY_INPUT, TOY_INPUT]))
    assert [o.shape for o in outputs] == [[2, 6, 16, 16], [2, 4, 16, 16]]
    assert toy_detector.training  # mode restored
    # Stride-1 'same' convs: MACs = prod(weight shape) × H × W. Shapes written out by hand; the
    # depthwise conv after FIRST follows it down to 4 filters (groups 8 → 4).
    conv_shapes = {  # conv: (before, after)
        "a": ((8, 3, 1, 1), (4, 3, 1, 1)),
        "dw": ((8, 1, 3, 3), (4, 1, 3, 3)),
        "b": ((16, 8, 3, 3), (16, 4, 3, 3)),
        "route": ((8, 16, 1, 1), (4, 16, 1, 1)),
        "tip": ((16, 8, 3, 3), (16, 4, 3, 3)),
        "transition": ((4, 8, 1, 1), (4, 4, 1, 1)),
        "output": ((6, 16, 1, 1), (6, 16, 1, 1)),
    }
    conv_shapes_before = [before for before, _ in conv_shapes.values()]
    conv_shapes_after = [after for _, after in conv_shapes.values()]
    macs = lambda shapes: sum(math.prod(s) for s in shapes) * TOY_INPUT**2  # noqa: E731
    assert report.gflops_before == macs(conv_shapes_before) / 2**30
    assert report.gflops_after == macs(conv_shapes_after) / 2**30
    bn_channels_after = [4, 4, 16, 4, 16, 4]
    assert report.params_after == sum(math.prod(s) for s in conv_shapes_after) + 4 * sum(bn_channels_after) + 6
    assert report.flops_reduction == pytest.approx(100 * (1 - macs(conv_shapes_after) / macs(conv_shapes_before)))
    assert toy_detector.dw[0]._groups == 4


def test_pruning_leaves_no_unpruned_copies_in_the_state_dict(toy_detector):
    keys_before = set(toy_detector.state_dict())
    PruningPlan({FIRST: 0.5, ROUTE: 0.5}).apply(toy_detector, input_size=TOY_INPUT)
    assert set(toy_detector.state_dict()) == keys_before


def test_channel_count_follows_python_round_half_to_even(toy_detector):
    # 8 × 0.3125 = 2.5 → round → 2 removed (not 3): PaddleSlim and the plan agree.
    report = PruningPlan({FIRST: 0.3125}).apply(toy_detector, input_size=TOY_INPUT)
    assert (report.rows[0].channels_before, report.rows[0].channels_after) == (8, 6)
    assert toy_detector.a[0].weight.shape == [6, 3, 1, 1]


def test_fpgm_removes_the_filters_closest_to_the_others(toy_detector):
    w = weights(toy_detector)["yolo_block.0.0.1.conv.weights"].reshape(16, -1)
    distance_sums = np.sqrt(((w[:, None, :] - w[None, :, :]) ** 2).sum(-1)).sum(1)
    kept = np.sort(np.argsort(distance_sums)[4:])  # 16 × 0.25 = 4 removed
    PruningPlan({"yolo_block.0.0.1.conv.weights": 0.25}, criterion="fpgm").apply(toy_detector, input_size=TOY_INPUT)
    np.testing.assert_allclose(toy_detector.b[0].weight.numpy(), w[kept].reshape(12, 8, 3, 3))


def test_report_serialises_to_json(toy_detector):
    report = PruningPlan({ROUTE: 0.5}).apply(toy_detector, input_size=TOY_INPUT)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["rows"][0]["channels_after"] == 4
    assert data["mib_after"] == pytest.approx(data["params_after"] * 4 / 2**20)


# --- saving and replaying -------------------------------------------------------------------------


def test_plan_round_trips_through_dict():
    plan = PruningPlan({ROUTE: 0.5, FIRST: 0.7}, criterion="fpgm")
    assert PruningPlan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan


@pytest.mark.parametrize("checkpoint", ["model_final.pdparams", "model_final"])
def test_sidecar_round_trip_beside_checkpoint(tmp_path, checkpoint):
    plan = PruningPlan({ROUTE: 0.5, FIRST: 0.7}, criterion="fpgm")
    written = save_plan(plan, tmp_path / "out" / checkpoint)
    assert written == tmp_path / "out" / "model_final.plan.json"
    assert sorted(p.name for p in written.parent.iterdir()) == ["model_final.plan.json"]  # no temp file left
    assert load_plan(tmp_path / "out" / "model_final.pdparams") == plan
    assert load_plan(tmp_path / "out" / "model_final") == plan


def test_checkpoint_without_sidecar_has_no_plan(tmp_path):
    assert load_plan(tmp_path / "model.pdparams") is None


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        '{"format": "something-else"}',
        '{"format": "slimdet-pruning-plan", "version": 1, "ratios": {"a": 2}}',
    ],
)
def test_broken_sidecar_is_a_plan_error(tmp_path, content):
    sidecar_path(tmp_path / "m.pdparams").write_text(content)
    with pytest.raises(PlanError):
        load_plan(tmp_path / "m.pdparams")


def test_replayed_plan_rebuilds_the_pruned_structure(toy_detector, tmp_path):
    plan = PruningPlan({FIRST: 0.5, ROUTE: 0.5})
    plan.prune(toy_detector)
    save_plan(plan, tmp_path / "m.pdparams")
    fresh = build_toy(seed=5)
    load_plan(tmp_path / "m.pdparams").prune(fresh)
    shapes = lambda model: {k: v.shape for k, v in model.state_dict().items()}  # noqa: E731
    assert shapes(fresh) == shapes(toy_detector)


def test_flags_and_sidecar_agreeing_or_alone_resolve_to_one_plan():
    saved = PruningPlan({ROUTE: 0.5, FIRST: 0.7}, criterion="fpgm")
    flags = PruningPlan.from_flags(f"{ROUTE},{FIRST}", "0.5,0.7")
    assert resolve_plan(flags, saved) is saved  # the sidecar knows the criterion really used
    assert resolve_plan(flags, None) is flags
    assert resolve_plan(None, saved) is saved
    assert resolve_plan(None, None) is None


@pytest.mark.parametrize("params, ratios", [(f"{ROUTE},{FIRST}", "0.5,0.6"), (ROUTE, "0.5")])
def test_flags_contradicting_the_sidecar_are_an_error(params, ratios):
    saved = PruningPlan({ROUTE: 0.5, FIRST: 0.7})
    with pytest.raises(PlanError, match="contradict the checkpoint's saved plan"):
        resolve_plan(PruningPlan.from_flags(params, ratios), saved)
