"""``slimdet eval``: score a checkpoint (pruned or not) with the config's metric, per class."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from slimdet.cli._options import (
    ConfigOption,
    DeviceOption,
    JsonOption,
    OverrideOption,
    PrunedParamsOption,
    PrunedRatiosOption,
    QuietOption,
)
from slimdet.cli._render import key_value_table, print_json, progress, stdout_console, table


def eval_command(
    config: ConfigOption,
    overrides: OverrideOption = None,
    weights: Annotated[
        str | None,
        typer.Option("--weights", "-w", help="Checkpoint to score (default: the config's weights; -o weights=PATH works too)."),
    ] = None,
    pruned_params: PrunedParamsOption = None,
    pruned_ratios: PrunedRatiosOption = None,
    output_eval: Annotated[
        Path | None,
        typer.Option("--output-eval", "--output_eval", help="Also write the detections to DIR/bbox.json (COCO result format)."),
    ] = None,
    device: DeviceOption = None,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """Evaluate a checkpoint on the EvalReader's data: VOC mAP (11point/integral) or COCO mAP, per class.

    A pruned checkpoint is rebuilt from its .plan.json sidecar (or from --pruned_params/--pruned_ratios).
    """
    from slimdet.commands.evaluate import evaluate_checkpoint
    from slimdet.config import load_config
    from slimdet.slim.plan import PruningPlan

    cfg = load_config(config, overrides or [])
    plan = PruningPlan.from_flags(pruned_params, pruned_ratios)
    with progress(quiet) as bar:
        task = bar.add_task("eval", total=None)
        result = evaluate_checkpoint(
            cfg,
            weights,
            plan=plan,
            output_eval=output_eval,
            device=device,
            on_batch=lambda done, total: bar.update(task, completed=done, total=total),
        )
    if as_json:
        print_json(result.to_dict())
        return
    out = stdout_console()
    summary = result.summary
    rows = [
        (row.name, f"{row.ap:.4f}" if row.ap is not None else "-", row.num_gt, row.num_det) for row in summary.classes
    ]
    out.print(table(f"{summary.metric} {summary.description}", ["class", "AP", "ground truths", "detections"], rows))
    out.print(
        key_value_table(
            "eval",
            {
                "config": result.config,
                "weights": result.weights,
                "pruned": "yes" if result.pruned else "no",
                "images": result.images,
                "mAP": f"{summary.metrics['mAP']:.4f}",
                "time": f"{result.seconds:.1f} s",
                **({"bbox.json": result.bbox_json} if result.bbox_json else {}),
            },
        )
    )
