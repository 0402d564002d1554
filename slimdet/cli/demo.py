"""``slimdet demo``: the whole workflow on built-in data, ending with a model-zoo style table and pictures."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from slimdet.cli._options import JsonOption, QuietOption
from slimdet.cli._render import print_json, stderr_console, stdout_console, table


def demo_command(
    out: Annotated[Path, typer.Option("--out", help="Folder for everything the demo makes (re-runs reuse it).")] = Path(
        "demo_output"
    ),
    fast: Annotated[
        bool,
        typer.Option("--fast", help="Tiny sizes and a few steps (a smoke run, ~1 minute): the numbers mean nothing."),
    ] = False,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """Synthetic data → train the R34 teacher and the MobileNetV1 student → sensitivity → ratios for a FLOPs
    target → prune-only and distill-prune fine-tuning → eval → export → infer; ends with one table.

    Stages whose output exists are reused, so an interrupted demo continues where it stopped
    (delete --out to start over). The full demo takes about 9 minutes on a fast 2-core machine, up to 25 on a
    slow one.
    """
    from slimdet import api
    from slimdet.commands.demo import StageTime

    log = stderr_console()

    def announce(done: StageTime) -> None:  # one plain line per finished stage, for logs as much as terminals
        log.print(
            f"{done.stage} (reused)" if done.reused else f"{done.stage} done in {done.seconds:.1f} s", highlight=False
        )

    result = api.demo(out, fast=fast, on_stage=None if quiet else announce)
    if as_json:
        print_json(result.to_dict())
        return
    console = stdout_console()
    rows = [
        (
            row.model,
            row.iterations,
            row.input_size,
            f"{row.gflops:.3f}",
            f"{row.flops_cut:.1%}",
            f"{row.size_mib:.1f}",
            f"{row.size_cut:.1%}",
            f"{row.map:.2%}",
        )
        for row in result.rows
    ]
    teacher = result.teacher
    title = (
        f"YOLOv3-MobileNetV1 on shapes (teacher YOLOv3-ResNet34: mAP {teacher.map:.2%}, {teacher.gflops:.3f} GFLOPs, "
        f"{teacher.iterations} iterations)"
    )
    console.print(table(title, ["model", "iterations", "input", "GFLOPs", "-FLOPs", "MiB", "-size", "mAP"], rows))
    console.print(f"pruned: {result.pruned_params} at {result.pruned_ratios}", highlight=False)
    stages = [(s.stage + (" (reused)" if s.reused else ""), f"{s.seconds:.1f}") for s in result.stages]
    console.print(table("stages", ["stage", "seconds"], stages))
    console.print(f"pictures (boxes scoring above {result.draw_threshold}):", highlight=False)
    for picture in result.pictures:
        console.print(f"  {picture}", highlight=False)
