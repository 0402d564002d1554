"""The ``slimdet`` command line: the table of contents of every command.

Each command lives in its own module and only parses, calls the core once and renders. This module
registers them and owns the one way to fail: a ``SlimdetError`` becomes one red line and exit code 2, an
``OSError`` (disk full, read-only folder) one red line and exit code 1 (``slimdet --debug ...`` prints the
traceback before that line, with the same exit code), Ctrl-C and SIGTERM one yellow line and exit code 130 / 143.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.markup import escape
from typer._click.exceptions import NoArgsIsHelpError, UsageError  # typer 0.29 vendors click without exporting these
from typer.core import TyperCommand, TyperGroup

from slimdet.cli._launch import RAW_ARGS_KEY
from slimdet.cli._render import exit_on_interrupt, stderr_console
from slimdet.errors import RankFailed, SlimdetError
from slimdet.rank_stdio import end_of_rank, launched_rank

# Options that take several values after one flag, as the legacy argparse tools did (nargs='*').
VARIADIC_OPTIONS = frozenset({"-o", "--opt", "-to", "--teacher-opt"})


def expand_variadic_options(args: list[str]) -> list[str]:
    """Rewrite ``-o a=1 b=2`` into ``-o a=1 -o b=2`` so one flag can carry several overrides (``-to`` alike)."""
    expanded: list[str] = []
    flag: str | None = None  # the variadic flag whose values are being read
    has_value = False
    for arg in args:
        if arg in VARIADIC_OPTIONS:
            if flag is not None and not has_value:
                expanded.append(flag)  # a bare flag followed by another: let the parser complain
            flag, has_value = arg, False
        elif flag is not None and not arg.startswith("-"):
            expanded += [flag, arg]
            has_value = True
        else:
            if flag is not None and not has_value:
                expanded.append(flag)
            flag = None
            expanded.append(arg)
    if flag is not None and not has_value:
        expanded.append(flag)
    return expanded


@contextmanager
def _one_line_usage_errors() -> Iterator[None]:
    """A command-line mistake (unknown option or command, a value out of range, a missing option) as one red
    line and exit 2, like every other user error, instead of click's usage block."""
    try:
        yield
    except NoArgsIsHelpError:
        raise  # a bare `slimdet` or `slimdet config`: the help is what was asked for
    except UsageError as err:
        hint = f" (see '{err.ctx.command_path} --help')" if err.ctx is not None else ""
        message = " ".join(err.format_message().split())
        stderr_console().print(f"[red]error:[/red] {escape(message)}{hint}", soft_wrap=True, highlight=False)
        raise typer.Exit(code=2) from None


class _SlimdetParsing:
    """Legacy ``-o`` parsing and slimdet's user-error convention, for commands and command groups alike."""

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        with _one_line_usage_errors():
            return super().make_context(info_name, args, parent=parent, **extra)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:  # groups only: an unknown subcommand
        with _one_line_usage_errors():
            return super().resolve_command(ctx, args)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        ctx.meta[RAW_ARGS_KEY] = list(args)  # as typed, for --nproc to re-launch the command with
        return super().parse_args(ctx, expand_variadic_options(args))

    def invoke(self, ctx: Any) -> Any:
        try:
            with exit_on_interrupt():  # Ctrl-C, SIGTERM: one line, exit 130 / 143
                return super().invoke(ctx)
        except (SlimdetError, OSError) as err:  # OSError: the system refused (disk full, read-only): exit 1
            root = ctx.find_root()
            if root.obj and root.obj.get("debug"):
                traceback.print_exc()  # --debug adds the traceback; the exit code stays that of a user error
            message = " ".join(str(err).split())  # one line, whatever the message held
            code = err.exit_code if isinstance(err, RankFailed) else 2 if isinstance(err, SlimdetError) else 1
            end_of_rank(message, code)  # a launched rank's line goes to its log; its launcher's parent says it
            stderr_console().print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
            raise typer.Exit(code=code) from None


class SlimdetCommand(_SlimdetParsing, TyperCommand):
    """A Typer command with legacy ``-o`` parsing and slimdet's user-error convention."""


class SlimdetGroup(_SlimdetParsing, TyperGroup):
    """A command group whose own callback parses and fails like a ``SlimdetCommand`` (``slimdet sensitivity``)."""


app = typer.Typer(
    name="slimdet",
    cls=SlimdetGroup,
    help="Prune, distill, evaluate and export YOLOv3 detectors (PaddleDetection 0.x compatible).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    rich_markup_mode=None,  # plain help: option names wrap instead of being cut, switches show no metavar
)
config_app = typer.Typer(cls=SlimdetGroup, help="Inspect configurations.", no_args_is_help=True, rich_markup_mode=None)
data_app = typer.Typer(
    cls=SlimdetGroup, help="Create, check and look at datasets.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(config_app, name="config")
app.add_typer(data_app, name="data")
sensitivity_app = typer.Typer(
    cls=SlimdetGroup, invoke_without_command=True, no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(sensitivity_app, name="sensitivity")


def _version(value: bool) -> None:
    if value:
        from slimdet import __version__

        typer.echo(f"slimdet {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for user errors too.")] = False,
    threads: Annotated[
        int | None,
        typer.Option("--threads", min=1, help="CPU threads for paddle (default: all cores)."),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """slimdet: make YOLOv3 detectors small and fast (PaddleSlim pruning + distillation)."""
    if threads is not None:
        from slimdet.runtime import set_threads

        set_threads(threads)
    ctx.obj = {"debug": debug}


def _register() -> None:
    """Attach every command; imports stay light (paddle loads only when a command runs)."""
    # one block per command module; keep the order of the product line: params | sensitivity | ...
    from slimdet.cli.params import params_command

    app.command("params", cls=SlimdetCommand)(params_command)

    from slimdet.cli.sensitivity import merge_command, plot_command, ratios_command, sensitivity_command

    sensitivity_app.callback(invoke_without_command=True)(sensitivity_command)
    sensitivity_app.command("merge", cls=SlimdetCommand)(merge_command)
    sensitivity_app.command("ratios", cls=SlimdetCommand)(ratios_command)
    sensitivity_app.command("plot", cls=SlimdetCommand)(plot_command)

    from slimdet.cli.eval import eval_command
    from slimdet.cli.train import train_command

    app.command("train", cls=SlimdetCommand)(train_command)
    app.command("eval", cls=SlimdetCommand)(eval_command)

    from slimdet.cli.distill_prune import distill_prune_command

    app.command("distill-prune", cls=SlimdetCommand)(distill_prune_command)

    from slimdet.cli.curves import curves_command

    app.command("curves", cls=SlimdetCommand)(curves_command)

    from slimdet.cli.export import export_command
    from slimdet.cli.infer import infer_command

    app.command("export", cls=SlimdetCommand)(export_command)
    app.command("infer", cls=SlimdetCommand)(infer_command)

    from slimdet.cli.quantize import quantize_command

    app.command("quantize", cls=SlimdetCommand)(quantize_command)

    from slimdet.cli.data import check_command, show_command, synth_command

    data_app.command("synth", cls=SlimdetCommand)(synth_command)
    data_app.command("check", cls=SlimdetCommand)(check_command)
    data_app.command("show", cls=SlimdetCommand)(show_command)

    from slimdet.cli.demo import demo_command

    app.command("demo", cls=SlimdetCommand)(demo_command)

    from slimdet.cli.config import list_command as config_list_command
    from slimdet.cli.config import show_command as config_show_command

    config_app.command("show", cls=SlimdetCommand)(config_show_command)
    config_app.command("list", cls=SlimdetCommand)(config_list_command)


_register()


def main() -> None:
    """Console-script entry point: SIGTERM stops a command as Ctrl-C does, paddle's handler notwithstanding;
    in a process launched by ``--nproc``, the output goes where ``slimdet.rank_stdio`` says, and the process
    ends with its launcher or its command (``launcher.hold_rank_lifelines``)."""
    from slimdet.interrupts import sigterm_raises
    from slimdet.launcher import hold_rank_lifelines

    hold_rank_lifelines()  # a launched rank dies with its launcher and its command, even while it starts
    with sigterm_raises(), launched_rank():  # launched by --nproc: rank 0 writes on the user's stdout, stderr
        app()
