"""Rendering helpers shared by every command: stdout for results, stderr for progress and errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table


def stdout_console() -> Console:
    return Console(soft_wrap=True)


def stderr_console() -> Console:
    return Console(stderr=True, soft_wrap=True)


def print_json(data: Any) -> None:
    """One JSON document on stdout, with plain print (rich would wrap long lines)."""
    print(json.dumps(data, indent=2, sort_keys=False, default=str))


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    """A rich table; numeric-looking columns are right-aligned by the caller's formatting."""
    out = Table(title=title, header_style="bold")
    for name in columns:
        out.add_column(name)
    for row in rows:
        out.add_row(*(str(cell) for cell in row))
    return out


def key_value_table(title: str | None, items: Mapping[str, Any]) -> Table:
    return table(title, ["key", "value"], [(k, v) for k, v in items.items()])


@contextmanager
def progress(quiet: bool = False, *extra_fields: str) -> Iterator[Progress]:
    """A progress bar on stderr; silent with ``--quiet`` or when stderr is not a terminal."""
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        *(TextColumn(f"{{task.fields[{name}]}}") for name in extra_fields),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    disabled = quiet or not sys.stderr.isatty()
    with Progress(*columns, console=stderr_console(), disable=disabled, transient=False) as bar:
        yield bar


def pruning_tables(report: Any) -> list[Table]:
    """A ``PruneReport`` as the legacy "FLOPs -x; total FLOPs; pruned FLOPs" log line, made into tables:
    per pruned conv its filters before → after, then the model's FLOPs and parameters before → after."""
    per_param = table(
        f"pruned ({report.criterion})",
        ["parameter", "ratio", "filters", "cut along"],
        [
            (row.name, f"{row.ratio:g}", f"{row.channels_before} → {row.channels_after}", len(row.pulled_along))
            for row in report.rows
        ],
    )
    totals = table(
        "model before → after",
        ["", "before", "after", "reduction"],
        [
            (
                f"GFLOPs @ {report.input_size} (conv MACs / 2^30)",
                f"{report.gflops_before:.4g}",
                f"{report.gflops_after:.4g}",
                f"-{report.flops_reduction:.2f}%",
            ),
            ("parameters", f"{report.params_before:,}", f"{report.params_after:,}", f"-{report.params_reduction:.2f}%"),
            (
                "size (float32 MiB)",
                f"{report.mib_before:.2f}",
                f"{report.mib_after:.2f}",
                f"-{report.params_reduction:.2f}%",
            ),
        ],
    )
    return [per_param, totals]


def print_training(
    title: str, result: Any, head: Mapping[str, Any], after_checkpoint: Mapping[str, Any] | None = None
) -> None:
    """What ``train`` and ``distill-prune`` print after a run (``result`` is an ``commands.train.TrainResult``):
    the pruning tables when the model was pruned, a summary (``head`` rows first, ``after_checkpoint``
    rows after the final checkpoint's), and the evaluations."""
    out = stdout_console()
    for listing in pruning_tables(result.pruning) if result.pruning else []:
        out.print(listing)
    summary = {
        **head,
        "device": result.device,
        **({"resumed from": result.resumed_from} if result.resumed_from else {}),
        "iterations": f"{result.start_iter} → {result.iterations}",
        "batch": f"{result.processes} × {result.batch_per_process} images (processes × images per process)",
        "final checkpoint": result.final_checkpoint,
        **(after_checkpoint or {}),
        **({"quantization-aware": _quant_aware_row(result.quant_aware)} if result.quant_aware else {}),
        "loss (last step)": " ".join(f"{name} {value:.4f}" for name, value in result.losses.items()),
        "time": f"{result.seconds:.1f} s ({result.seconds_per_iter:.2f} s/iter)",
    }
    if result.best is not None:
        summary["best_model"] = f"iteration {result.best.iteration}, mAP {result.best.metrics['mAP']:.4f}"
    out.print(key_value_table(title, summary))
    if result.evals:
        rows = [(record.iteration, f"{record.metrics['mAP']:.4f}") for record in result.evals]
        out.print(table("evaluations", ["iteration", "mAP"], rows))


def _quant_aware_row(quant: Mapping[str, Any]) -> str:
    left = ", ".join(quant["left_float"]) or "none"
    return f"{quant['weight_quantize_type']} weights, {quant['activation_quantize_type']} inputs; float: {left}"


@contextmanager
def exit_on_interrupt() -> Iterator[None]:
    """Around every command: Ctrl-C or SIGTERM becomes one yellow line (for a resumable run, where to resume
    from) and exit 130 or 143, the codes a shell gives a process stopped by SIGINT or SIGTERM."""
    import typer

    from slimdet.interrupts import Interrupted, exit_code, signal_of, verb
    from slimdet.rank_stdio import end_of_rank

    try:
        yield
    except Interrupted as stop:
        end_of_rank(str(stop), exit_code(stop.signum))  # a launched rank's line goes to its log (rank_stdio)
        stderr_console().print(f"[yellow]{escape(str(stop))}[/yellow]", soft_wrap=True, highlight=False)
        raise typer.Exit(code=exit_code(stop.signum)) from None
    except KeyboardInterrupt as stop:  # SIGTERM too; in training, before the loop or a second Ctrl-C in a step
        signum = signal_of(stop)
        line = f"{verb(signum)}; the work in progress was not saved"
        end_of_rank(line, exit_code(signum))
        stderr_console().print(f"[yellow]{line}[/yellow]", highlight=False)
        raise typer.Exit(code=exit_code(signum)) from None
