"""``slimdet sensitivity`` and its merge / ratios / plot subcommands, through the real CLI app."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from slimdet.cli import app
from tests.processes import assert_sigkill_leaves_nothing, spawned_workers, wait_for
from tests.slim.test_sensitivity_table import hand_made_table
from tests.visualdl_log import read_scalars

A, B = "yolo_block.0.0.0.conv.weights", "yolo_block.2.tip.conv.weights"


def invoke(*args: str):
    return CliRunner().invoke(app, ["sensitivity", *args])


def assert_user_error(result, *fragments: str) -> None:
    """Exit 2 with one line on stderr that contains every fragment."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture
def two_shards(tmp_path: Path) -> tuple[Path, Path]:
    first = hand_made_table({A: [(0.1, 0.76), (0.5, 0.5)], B: [(0.1, 0.75)]}).save(tmp_path / "a.json")  # base 0.8
    second = hand_made_table({B: [(0.5, 0.6)]}).save(tmp_path / "b.json")
    return first, second


def test_analysis_with_legacy_flags_writes_the_file_and_prints_json(small_shapes_checkpoint, tmp_path: Path):
    config, weights = small_shapes_checkpoint
    out = tmp_path / "sens.json"

    result = invoke(
        "-c", str(config), "-o", f"weights={weights}", "--pruned_params", A,
        "--pruned_ratios", "0.3 0.6", "--sensitivities_file", str(out), "--eval-images", "4", "--json",
        "--vdl_log_dir", str(tmp_path / "vdl"),
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["computed"], report["skipped"], report["file"]) == (2, 0, str(out))
    assert report["eval_set"]["images"] == 4
    assert json.loads(out.read_text())["sensitivities"] == report["sensitivities"]
    trial = report["sensitivities"][A]["0.6"]
    assert trial["loss"] == pytest.approx((report["base_mAP"] - trial["mAP"]) / report["base_mAP"])

    again = invoke("-c", str(config), "-o", f"weights={weights}", "-p", A, "--pruned_ratios", "0.3,0.6",
                   "-s", str(out), "--eval-images", "4", "--json", "--use-vdl", "--vdl-log-dir", str(tmp_path / "vdl"))  # fmt: skip
    assert json.loads(again.stdout)["computed"] == 0  # resumed: nothing left to do
    losses = [(30, report["sensitivities"][A]["0.3"]["loss"]), (60, trial["loss"])]  # each step once, after a resume
    assert read_scalars(tmp_path / "vdl") == {
        f"sensitivity/{A}": [(step, pytest.approx(loss)) for step, loss in losses]
    }


def test_use_vdl_without_visualdl_is_one_line_before_any_work(small_shapes_checkpoint, tmp_path: Path, monkeypatch):
    monkeypatch.setitem(sys.modules, "visualdl", None)  # as if not installed
    config, weights = small_shapes_checkpoint
    out = tmp_path / "sens.json"
    result = invoke("-c", str(config), "-o", f"weights={weights}", "--use_vdl", "-s", str(out))
    assert_user_error(result, "--use-vdl needs VisualDL", "pip install 'slimdet[vdl]'")
    assert not out.exists()


def test_help_of_the_group_and_of_every_subcommand():
    group = invoke("--help")
    assert group.exit_code == 0
    assert "yolo_block" in group.stdout and "merge" in group.stdout and "ratios" in group.stdout
    for sub in ("merge", "ratios", "plot"):
        assert invoke(sub, "--help").exit_code == 0


def test_analysis_without_a_config_is_a_one_line_error():
    assert_user_error(invoke("-o", "weights=w.pdparams"), "no config given")


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--pruned_ratios", "0.5 1.5"], "strictly between 0 and 1"),
        (["--pruned_params", " , "], "--pruned_params is empty"),
        (["--shard", "3/2"], "--shard '3/2'"),
    ],
)
def test_bad_flags_fail_before_any_work(flags: list[str], fragment: str):
    assert_user_error(invoke("-c", "does-not-matter.yml", *flags), fragment)


def test_merge_writes_one_file_from_shards(two_shards, tmp_path: Path):
    result = invoke("merge", *map(str, two_shards), "-o", str(tmp_path / "all.json"), "--json")

    assert result.exit_code == 0, result.output
    merged = json.loads((tmp_path / "all.json").read_text())
    assert set(merged["sensitivities"][B]) == {"0.1", "0.5"}
    assert json.loads(result.stdout)["missing"] == 0


def test_merge_conflict_names_the_result_and_both_files(two_shards, tmp_path: Path):
    clash = hand_made_table({A: [(0.5, 0.4)]}).save(tmp_path / "c.json")

    result = invoke("merge", str(two_shards[0]), str(clash), "-o", str(tmp_path / "all.json"))

    assert_user_error(result, f"{A} at 0.5", str(two_shards[0]), str(clash))
    assert not (tmp_path / "all.json").exists()


def test_merge_with_input_files_after_o_is_refused(two_shards, tmp_path: Path):
    result = invoke("merge", str(two_shards[0]), "-o", str(tmp_path / "all.json"), str(two_shards[1]))

    assert_user_error(result, "takes one file", "before -o OUT")
    assert not (tmp_path / "all.json").exists()


def test_ratios_print_ready_to_paste_flags(two_shards):
    result = invoke("ratios", str(two_shards[0]), "--target-loss", "0.1")

    assert result.exit_code == 0, result.output
    # A: losses .05 at 0.1 and .375 at 0.5 → 0.1 + .05 · .4 / .325 = 0.16153…; B: loss .0625 at its only ratio
    assert result.stdout.strip().splitlines()[-1] == f'--pruned_params "{A},{B}" --pruned_ratios "0.1615,0.1"'


def test_ratios_json_and_errors(two_shards):
    result = invoke("ratios", str(two_shards[0]), "--target-loss", "0.1", "--json")
    assert json.loads(result.stdout)["ratios"] == {A: 0.1615, B: 0.1}

    assert_user_error(invoke("ratios", str(two_shards[0]), "--target-flops", "0.5"), "-c CONFIG")
    assert_user_error(invoke("ratios", str(two_shards[0])), "exactly one")
    assert_user_error(invoke("ratios", "missing.json", "--target-loss", "0.1"), "missing.json not found")


def test_plot_writes_a_png(two_shards, tmp_path: Path):
    result = invoke("plot", str(two_shards[0]), "--out", str(tmp_path / "sens.png"), "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["curves"] == [A, B]
    assert (tmp_path / "sens.png").read_bytes()[:4] == b"\x89PNG"


def test_installed_entry_point_runs_the_subcommands(two_shards, tmp_path: Path):
    script = Path(sys.executable).with_name("slimdet")
    done = subprocess.run(
        [str(script), "sensitivity", "ratios", str(two_shards[0]), "--target-loss", "0.1", "--json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["pruned_params"] == f"{A},{B}"


def test_a_sigkilled_run_with_workers_leaves_no_process_behind(small_shapes_checkpoint, tmp_path: Path):
    config, weights = small_shapes_checkpoint
    command = [str(Path(sys.executable).with_name("slimdet")), "sensitivity", "-c", str(config),
               "-o", f"weights={weights}", "EvalReader.worker_num=0", "-p", A, "--pruned_ratios", "0.3,0.6",
               "-s", str(tmp_path / "sens.json"), "--eval-images", "4", "--workers", "2"]  # fmt: skip
    log = tmp_path / "stderr.txt"
    with log.open("w") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        assert wait_for(lambda: len(spawned_workers(process.pid)) == 2, timeout=120), log.read_text()
        killed = assert_sigkill_leaves_nothing(process)
    finally:
        process.kill()
        process.wait()
    assert sum("multiprocessing.spawn" in c for c in killed) == 2  # the trial workers
