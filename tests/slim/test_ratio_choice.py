"""Choosing ratios from sensitivities: get_ratios_by_loss interpolation, FLOPs targets, unreachable targets."""

import pytest

from slimdet.errors import SlimdetError
from slimdet.slim.ratio_choice import (
    ConvFlops,
    expected_loss,
    ratio_for_loss,
    ratios_by_loss,
    ratios_for_flops,
)
from tests.slim.test_sensitivity_table import hand_made_table

A, B, C = "yolo_block.0.0.0.conv.weights", "yolo_block.1.2.conv.weights", "yolo_block.2.tip.conv.weights"
# base mAP 1.0, so each mAP m is a loss of 1 − m
CURVES = {
    A: [(0.1, 0.99), (0.2, 0.98), (0.3, 0.95), (0.4, 0.90)],  # losses .01 .02 .05 .10
    B: [(0.1, 0.97), (0.2, 0.92), (0.3, 0.80), (0.4, 0.70)],  # losses .03 .08 .20 .30
    C: [(0.1, 0.60), (0.2, 0.50), (0.3, 0.40), (0.4, 0.30)],  # losses .40 .50 .60 .70
}


@pytest.fixture
def table():
    return hand_made_table(CURVES, base_map=1.0)


def test_ratio_is_interpolated_between_the_last_point_within_the_loss_and_the_next():
    points = [(0.1, 0.01), (0.2, 0.02), (0.3, 0.05), (0.4, 0.10)]

    assert ratio_for_loss(points, 0.035) == pytest.approx(0.25)
    assert ratio_for_loss(points, 0.02) == pytest.approx(0.2)
    assert ratio_for_loss(points, 0.5) == 0.4  # within the loss everywhere: the largest measured ratio
    assert ratio_for_loss(points, 0.005) == 0.0  # even the smallest ratio loses more


def test_ratio_scan_starts_from_the_largest_ratio_as_the_legacy_tool_did():
    bumpy = [(0.1, 0.01), (0.2, 0.08), (0.3, 0.03), (0.4, 0.2)]  # 0.2 loses more than 0.3

    assert ratio_for_loss(bumpy, 0.05) == pytest.approx(0.3 + 0.02 * 0.1 / 0.17)


def test_expected_loss_follows_the_measured_curve_from_zero():
    points = [(0.2, 0.04), (0.4, 0.10)]

    assert expected_loss(points, 0.1) == pytest.approx(0.02)
    assert expected_loss(points, 0.3) == pytest.approx(0.07)


def test_ratios_by_loss_leave_out_convs_that_lose_too_much_and_cut_to_four_decimals(table):
    ratios = ratios_by_loss(table, 0.04)

    assert ratios == {A: 0.2666, B: 0.12}  # A: .2 + .02·.1/.03 = .26666…; C loses .40 at 0.1


def test_flops_target_finds_the_smallest_loss_threshold_that_reaches_it(table):
    weights = {A: 0.5, B: 0.3, C: 0.2}  # a made-up model: cut = Σ share · ratio

    def cut(ratios):
        return sum(weights[name] * ratio for name, ratio in ratios.items())

    threshold, ratios = ratios_for_flops(table, 0.2, cut)

    assert cut(ratios) >= 0.2
    assert cut(ratios_by_loss(table, threshold - 1e-4)) < 0.2  # any less loss falls short
    assert C not in ratios  # reached before C's first point (loss .40)


def test_unreachable_flops_target_says_how_far_the_analysed_convs_go(table):
    with pytest.raises(SlimdetError, match=r"out of reach: .* cut 10\.0% of the FLOPs"):
        ratios_for_flops(table, 0.5, lambda ratios: 0.25 * max(ratios.values(), default=0.0))


def test_conv_flops_equal_a_count_on_the_actually_pruned_model(small_shapes_checkpoint):
    from slimdet.config import load_config
    from slimdet.modeling.build import build_model
    from slimdet.slim.flops import count_conv_macs
    from slimdet.slim.plan import PruningPlan

    config, _ = small_shapes_checkpoint
    data = load_config(config).to_dict()
    ratios = {A: 0.3, B: 0.55, C: 0.8, "yolo_block.0.2.conv.weights": 0.25}

    predicted = ConvFlops(build_model(data, random_init=False), 96, criterion="l1_norm").macs_after(ratios)
    model = build_model(data)
    PruningPlan(ratios).prune(model)

    assert predicted == count_conv_macs(model, 96).total
