"""``slimdet params``: legacy names, prunable selection, regex filter, legacy totals, user errors."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from slimdet.cli import app

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "yolov3_mobilenet_v1_voc.yml"


def _run(*args: str):
    return CliRunner().invoke(app, ["params", "-c", str(CONFIG), *args])


@pytest.fixture(scope="module")
def prunable_608() -> dict:
    result = _run("--prunable", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_prunable_lists_the_legacy_conv_names_with_shapes_and_flops_shares(prunable_608):
    rows = {row["name"]: row for row in prunable_608["rows"]}
    assert len(rows) == 34  # conv1, 13 pointwise, 18 yolo_block convs, 2 transitions
    assert rows["yolo_block.0.0.0.conv.weights"]["shape"] == [512, 1024, 1, 1]
    assert rows["conv2_1_sep_weights"]["shape"] == [64, 32, 1, 1]
    assert not any(name.endswith("_dw_weights") or name.startswith("yolo_output") for name in rows)
    assert all(row["prunable"] and 0 < row["flops_share"] < 1 for row in rows.values())


def test_totals_match_the_legacy_tables_next_to_paddleslims_count(prunable_608):
    totals = prunable_608["totals"]
    assert prunable_608["config"] == "yolov3_mobilenet_v1_voc" and prunable_608["input_size"] == 608
    assert totals["params"] == 24_286_881
    assert round(totals["size_mib"], 2) == 92.65
    assert round(totals["legacy_gflops"], 2) == 20.20
    assert totals["paddleslim_conv_flops"] == totals["conv_macs"] < totals["paddleslim_flops"]


def test_table_shows_names_and_labelled_totals():
    result = _run("--filter", r"^yolo_block\.0\.tip", "--input-size", "320")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "yolo_block.0.tip.conv.weights" in out and "yolo_block.0.tip.bn.var" in out
    assert "yolo_block.0.0.0" not in out
    assert "92.65" in out and "5.60" in out
    assert "legacy: conv MACs / 2^30" in out and "PaddleSlim dygraph_flops" in out


def test_overrides_reach_the_model():
    result = _run("-o", "num_classes=3", "--filter", r"^yolo_output\.0", "--input-size", "320", "--json")
    assert result.exit_code == 0, result.output
    shapes = {row["name"]: row["shape"] for row in json.loads(result.stdout)["rows"]}
    assert shapes == {"yolo_output.0.conv.weights": [24, 1024, 1, 1], "yolo_output.0.conv.bias": [24]}


@pytest.mark.parametrize(
    "args, message",
    [(["--filter", "yolo_block["], "not a valid regular expression"), (["--input-size", "100"], "multiple of 32")],
)
def test_bad_filter_or_input_size_exits_2_with_one_line(args, message):
    result = _run(*args)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert result.stdout == ""


def _pruned_block_totals(before: int) -> int:
    """Total persistables once yolo_block.0.0.0 (512 filters of 1024×1×1) loses half: its weights and BN
    lose 256 channels, the next conv (1024 filters of 3×3) loses 256 input channels."""
    return before - (256 * 1024 + 4 * 256 + 1024 * 256 * 9)


def test_pruning_flags_show_the_pruned_model(prunable_608):
    result = _run("--pruned_params", "yolo_block.0.0.0.conv.weights", "--pruned_ratios", "0.5",
                  "--filter", r"^yolo_block\.0\.0\.[01]\.conv", "--input-size", "64", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    shapes = {row["name"]: row["shape"] for row in report["rows"]}
    assert shapes == {
        "yolo_block.0.0.0.conv.weights": [256, 1024, 1, 1],
        "yolo_block.0.0.1.conv.weights": [1024, 256, 3, 3],
    }
    assert report["totals"]["params"] == _pruned_block_totals(prunable_608["totals"]["params"])
    assert report["plan"]["ratios"] == {"yolo_block.0.0.0.conv.weights": 0.5}


def test_a_checkpoints_plan_gives_the_structure_and_contradicting_flags_exit_2(prunable_608, tmp_path):
    from slimdet.slim.plan import PruningPlan, save_plan

    checkpoint = tmp_path / "model_final"
    checkpoint.with_suffix(".pdparams").write_bytes(b"")  # only the sidecar is read
    save_plan(PruningPlan({"yolo_block.0.0.0.conv.weights": 0.5}), checkpoint)
    result = _run("-w", str(checkpoint), "--filter", "^$", "--input-size", "64", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["totals"]["params"] == _pruned_block_totals(prunable_608["totals"]["params"])

    result = _run("-w", str(checkpoint), "--pruned_params", "yolo_block.0.0.0.conv.weights", "--pruned_ratios", "0.3")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "contradict the checkpoint's saved plan" in lines[0]


R578_PARAMS = ",".join(
    f"yolo_block.{level}.{conv}.conv.weights" for level in range(3) for conv in ("0.0", "0.1", "1.0", "1.1", "2", "tip")
)
R578_RATIOS = ",".join(["0.5"] * 6 + ["0.7"] * 6 + ["0.8"] * 6)


def test_a_plan_shows_before_after_and_reduction_as_the_legacy_zoo_counted_r578():
    # Every conv's output grid scales with the input side (64 = 608 × 2/19 down to the 2×2 grid), so
    # FLOPs shares and reductions at 64 px are those at 608 px, at a fraction of the cost.
    args = ("--pruned_params", R578_PARAMS, "--pruned_ratios", R578_RATIOS, "--input-size", "64", "--filter", "^$")
    report = json.loads(_run(*args, "--json").stdout)
    before, after, cut = report["before"], report["totals"], report["reduction_pct"]
    assert round(before["legacy_gflops"] * (608 / 64) ** 2, 2) == 20.20
    assert round(after["legacy_gflops"] * (608 / 64) ** 2, 2) == 6.15 and round(cut["legacy_gflops"], 2) == 69.57
    assert (round(before["size_mib"], 2), round(after["size_mib"], 2)) == (92.65, 30.09)
    assert before["params"] == 24_286_881 and after["params"] < before["params"]
    assert after["paddleslim_flops"] < before["paddleslim_flops"] and 0 < cut["paddleslim_flops"] < 100
    first = report["pruned"][0]
    assert (first["name"], first["channels_before"], first["channels_after"]) == (
        "yolo_block.0.0.0.conv.weights",
        512,
        256,
    )
    assert report["pruned"][-1]["channels_after"] == 51  # yolo_block.2.tip: 256 filters at 0.8

    table = _run(*args).stdout
    assert "pruning plan: before → after" in table and "-69.57%" in table and "92.65" in table and "30.09" in table
    assert "yolo_block.2.tip.conv.weights" in table and "512 → 256" in table
