"""``slimdet sensitivity ratios``' core: paste-ready flags for a loss target, a FLOPs target on the config's
model, and a clear error for each target it cannot meet."""

from pathlib import Path

import pytest

from slimdet.commands.sensitivity_ratios import choose_ratios
from slimdet.errors import SlimdetError
from tests.slim.test_ratio_choice import CURVES, A, B, C
from tests.slim.test_sensitivity_table import hand_made_table


@pytest.fixture
def table():
    return hand_made_table(CURVES, base_map=1.0)


def test_loss_target_gives_paste_ready_flags_and_the_worst_expected_loss(table, tmp_path: Path):
    path = table.save(tmp_path / "s.json")

    result = choose_ratios(path, target_loss=0.04)

    assert result.pruned_params == f"{A},{B}"
    assert result.pruned_ratios == "0.2666,0.12"
    assert result.not_pruned == (C,)
    assert result.worst_expected_loss == pytest.approx(0.04, abs=1e-4)
    assert result.worst_expected_loss <= 0.04 + 1e-12  # truncated ratios never exceed the target (float noise aside)
    assert result.flops_cut is None  # no config given


def test_loss_target_below_every_measured_loss_is_a_clear_error(table, tmp_path: Path):
    path = table.save(tmp_path / "s.json")

    with pytest.raises(SlimdetError, match="no conv stays within loss 0.001 .*smallest such loss is 0.01"):
        choose_ratios(path, target_loss=0.001)


def test_flops_target_needs_a_config_and_exactly_one_target(table, tmp_path: Path):
    path = table.save(tmp_path / "s.json")

    with pytest.raises(SlimdetError, match="-c CONFIG"):
        choose_ratios(path, target_flops=0.5)
    with pytest.raises(SlimdetError, match="exactly one"):
        choose_ratios(path, target_loss=0.1, target_flops=0.5)
    with pytest.raises(SlimdetError, match="strictly between 0 and 1"):
        choose_ratios(path, target_flops=50, config="x.yml")


def test_flops_target_on_the_configs_model_cuts_at_least_that_much(small_shapes_checkpoint, table, tmp_path: Path):
    config, _ = small_shapes_checkpoint
    path = table.save(tmp_path / "s.json")

    result = choose_ratios(path, target_flops=0.03, config=config)

    assert result.flops_cut >= 0.03
    assert result.input_size == 96
    assert set(result.ratios) <= {A, B, C}
