"""The CLI frame: legacy -o parsing, the exit-2 convention for user errors, the installed entry point."""

import subprocess
import sys
from pathlib import Path

import typer
from typer.testing import CliRunner

from slimdet import __version__
from slimdet.cli import SlimdetCommand, app, expand_variadic_options
from slimdet.errors import ConfigError


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
    result = CliRunner().invoke(_app_raising(ConfigError("bad key 'x'\nfix it with -o y=1")), ["boom", "-o", "a=1", "b=2"])
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
