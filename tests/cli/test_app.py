"""The CLI frame: legacy -o parsing, the exit-2 convention for user errors, exit 1 and one line for a refused
write, the installed entry point."""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from slimdet import __version__
from slimdet.cli import SlimdetCommand, app, expand_variadic_options
from slimdet.errors import ConfigError
from slimdet.interrupts import Interrupted, Terminated


def test_one_o_flag_carries_several_overrides():
    args = ["-c", "x.yml", "-o", "a=1", "b.c=[1,2]", "--json"]
    assert expand_variadic_options(args) == ["-c", "x.yml", "-o", "a=1", "-o", "b.c=[1,2]", "--json"]


def test_repeated_o_flags_accumulate_and_long_spelling_works():
    args = ["-o", "a=1", "--opt", "b=2", "c=3"]
    assert expand_variadic_options(args) == ["-o", "a=1", "--opt", "b=2", "--opt", "c=3"]


def test_arguments_outside_o_are_untouched():
    args = ["eval", "-c", "x.yml", "--pruned_params", "a,b", "weights.pdparams"]
    assert expand_variadic_options(args) == args


def _app_raising(error: Exception) -> typer.Typer:
    """A throwaway app whose only command raises ``error``, registered the way slimdet registers commands."""
    test_app = typer.Typer()

    @test_app.callback()
    def root(ctx: typer.Context, debug: bool = typer.Option(False, "--debug")) -> None:
        ctx.obj = {"debug": debug}

    def boom(opt: list[str] = typer.Option(None, "-o")) -> None:
        raise error

    test_app.command("boom", cls=SlimdetCommand)(boom)
    return test_app


def test_user_error_prints_one_red_line_and_exits_2():
    result = CliRunner().invoke(
        _app_raising(ConfigError("bad key 'x'\nfix it with -o y=1")), ["boom", "-o", "a=1", "b=2"]
    )
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert lines == ["error: bad key 'x' fix it with -o y=1"]
    assert "Traceback" not in result.output


def test_debug_flag_adds_the_traceback_and_keeps_exit_code_2():
    result = CliRunner().invoke(_app_raising(ConfigError("bad")), ["--debug", "boom"])
    assert result.exit_code == 2
    assert "Traceback" in result.stderr and "ConfigError: bad" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == "error: bad"


def test_unexpected_errors_are_not_swallowed():
    result = CliRunner().invoke(_app_raising(RuntimeError("bug")), ["boom"])
    assert isinstance(result.exception, RuntimeError)


@pytest.mark.parametrize(
    ("stop", "code", "line"),
    [
        (KeyboardInterrupt(), 130, "interrupted; the work in progress was not saved"),
        (Terminated(), 143, "terminated; the work in progress was not saved"),
        (Interrupted("terminated after iteration 7; resume with --resume out/7", signal.SIGTERM), 143,
         "terminated after iteration 7; resume with --resume out/7"),
    ],
)  # fmt: skip
def test_ctrl_c_and_sigterm_are_one_line_and_the_shells_exit_code(stop, code, line):
    result = CliRunner().invoke(_app_raising(stop), ["boom"])
    assert result.exit_code == code
    assert result.stderr.strip().splitlines() == [line]


def test_version_flag():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"slimdet {__version__}"


def test_installed_entry_point_runs_as_a_subprocess():
    script = Path(sys.executable).with_name("slimdet")
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"slimdet {__version__}"


def test_python_dash_m_slimdet_runs():
    done = subprocess.run([sys.executable, "-m", "slimdet", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "slimdet" in done.stdout


def _write_into(folder: Path, synthetic_voc: Path, checkpoint: tuple[Path, Path]) -> dict[str, list[str]]:
    """For each command that writes, its arguments with every output going into ``folder``."""
    config, weights = checkpoint
    image = min((synthetic_voc / "JPEGImages").glob("test_*.jpg"))
    return {
        "data synth": ["data", "synth", "--out", f"{folder}/voc", "--num-train", "2", "--num-test", "1", "--size", "32"],
        "export": ["export", "-c", f"{config}", "-o", f"weights={weights}", "--output-dir", f"{folder}"],
        "infer pictures": ["infer", "-c", f"{config}", "-o", f"weights={weights}", "--infer_img", f"{image}",
                           "--output-dir", f"{folder}"],
        "train checkpoints": ["train", "-c", f"{config}", "-q", "-o", f"weights={weights}", "max_iters=1",
                              f"save_dir={folder}", "TrainReader.batch_size=1"],
    }  # fmt: skip


@pytest.mark.parametrize("command", ["data synth", "export", "infer pictures", "train checkpoints"])
def test_a_refused_write_is_one_red_line_exit_1_naming_the_file_and_nothing_is_left(
    command, full_disk, synthetic_voc, small_shapes_checkpoint
):
    before = sorted(os.listdir(full_disk))
    result = CliRunner().invoke(app, _write_into(full_disk, synthetic_voc, small_shapes_checkpoint)[command])
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: cannot write {full_disk}/"), result.stderr
    assert lines[0].endswith(("No space left on device", "Permission denied", "Operation not permitted"))
    new = [full_disk / name for name in os.listdir(full_disk) if name not in before]
    assert [path for top in new for path in (top, *top.rglob("*")) if path.is_file()] == []  # folders at most


def test_debug_shows_the_traceback_of_a_refused_write(full_disk, synthetic_voc, small_shapes_checkpoint):
    args = _write_into(full_disk, synthetic_voc, small_shapes_checkpoint)["data synth"]
    result = CliRunner().invoke(app, ["--debug", *args])
    assert result.exit_code == 1  # --debug adds the traceback, the exit code stays
    assert "Traceback" in result.stderr and "WriteError" in result.stderr and "OSError" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: cannot write {full_disk}/")


def _legacy_table() -> list[tuple[list[str], list[str]]]:
    """docs/commands.md's legacy-spelling table as (legacy flags, modern flags) pairs; a row listing the same
    number of flags on both sides pairs them in order (`--infer_img / --infer_dir` ↔ `--image / --image-dir`)."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "commands.md").read_text()
    section = page.split("## Legacy flag spellings", 1)[1].split("\n## ", 1)[0]
    pairs = []
    for line in section.splitlines():
        cells = line.strip().strip("|").split("|")
        if len(cells) != 2 or "---" in line or "legacy" in cells[0]:
            continue
        legacy, modern = ([flag for flag in re.findall(r"`([^`]+)`", cell) if flag.startswith("-")] for cell in cells)
        if len(legacy) == len(modern) > 1:
            pairs += [([old], [new]) for old, new in zip(legacy, modern)]
        else:
            pairs.append((legacy, modern))
    return pairs


def _all_commands(command, path=()):
    for name, sub in getattr(command, "commands", {}).items():  # a group
        yield from _all_commands(sub, (*path, name))
    yield " ".join(path), command


def test_every_legacy_spelling_in_the_docs_works_wherever_the_option_exists():
    pairs = _legacy_table()
    assert len(pairs) >= 12  # the table was found and read
    missing = []
    for name, command in _all_commands(typer.main.get_command(app)):
        for param in command.params:
            spellings = set(param.opts) | set(param.secondary_opts)
            for legacy, modern in pairs:
                if spellings & set(modern):
                    missing += [f"{name}: {flag}" for flag in legacy if flag not in spellings]
    assert missing == []


def test_help_at_80_columns_shows_whole_option_names_and_no_metavar_on_switches():
    for name, _ in _all_commands(typer.main.get_command(app)):
        result = CliRunner().invoke(app, [*name.split(), "--help"], terminal_width=80, env={"COLUMNS": "80"})
        assert result.exit_code == 0, name
        assert "<bool>" not in result.stdout, name
        assert not re.search(r"^[ │*]*-\S*…", result.stdout, re.MULTILINE), name  # an option name cut short
        assert max(map(len, result.stdout.splitlines())) <= 80, name
    train = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "80"}).stdout
    assert "-r, --resume, --resume-checkpoint, --resume_checkpoint <path>" in train


def test_quiet_is_accepted_by_every_command_that_runs_a_model():
    for name in ("train", "distill-prune", "sensitivity", "eval", "export", "infer", "demo"):
        help_text = CliRunner().invoke(app, [name, "--help"], env={"COLUMNS": "80"}).stdout
        assert "-q, --quiet" in help_text, name


def test_installed_entry_point_leaves_stderr_empty_on_success_and_one_line_on_a_user_error(
    small_shapes_checkpoint, tmp_path
):
    # paddle prints a two-line warning at import when OMP_NUM_THREADS > 1, and export's Paddle Inference
    # check makes glog log "New Executor is Running": neither may reach the user's stderr.
    import os

    config, weights = small_shapes_checkpoint
    env = {key: value for key, value in os.environ.items() if key != "GLOG_minloglevel"} | {"OMP_NUM_THREADS": "2"}
    script = str(Path(sys.executable).with_name("slimdet"))
    export = [script, "export", "-c", str(config), "-o", f"weights={weights}", "--output-dir", str(tmp_path)]
    done = subprocess.run([*export, "--json"], capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    typo = ["--pruned_params", "yolo_block.0.0.0.conv.weight", "--pruned_ratios", "0.5"]  # found after paddle loads
    failed = subprocess.run([*export, *typo], capture_output=True, text=True, timeout=600, env=env)
    assert failed.returncode == 2
    assert len(failed.stderr.splitlines()) == 1 and "did you mean 'yolo_block.0.0.0.conv.weights'" in failed.stderr
