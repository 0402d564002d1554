"""``slimdet curves``: draw a training's curves again from its checkpoints, several runs in one picture."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from slimdet.cli._options import JsonOption
from slimdet.cli._render import print_json, stdout_console, table


def curves_command(
    runs: Annotated[
        list[Path],
        typer.Argument(
            metavar="RUN_OR_CHECKPOINT",
            help="A folder a training wrote (save_dir/<config>: its latest complete checkpoint, model_final once "
            "finished) or one checkpoint (e.g. save_dir/<config>/2000, or its .state.json). Several: one picture.",
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "--output",
            help="The PNG to write. [default: curves.png beside the checkpoint for one run (the picture the "
            "training draws there), in the current folder for several]",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Draw the loss terms (log scale), the learning rate and the mAP of one or more runs from their .state.json.

    Every training draws this picture itself, as save_dir/<config>/curves.png, after each checkpoint; this draws it
    again, e.g. from an older checkpoint, or several runs overlaid (prune-only against distill-pruned): a loss
    term keeps its colour in every run, a run its line style in every panel. A distilled run's distill_* terms
    get a panel of their own. Loss values are the means over each log_iter window.
    """
    from slimdet import api

    result = api.curves(runs, out=out)
    if as_json:
        print_json(result.to_dict())
        return
    rows = [
        (
            run.label,
            run.last_iteration,
            f"{run.terms['loss'][-1][1]:.4f}",  # every window has the total
            f"{max(value for _, value in run.mAP):.4f}" if run.mAP else "-",
        )
        for run in result.runs
    ]
    out_console = stdout_console()
    out_console.print(table(None, ["run", "iteration", "loss (last window)", "best mAP"], rows))
    out_console.print(f"wrote {result.path}")
