"""``slimdet eval``: score a checkpoint (pruned or not), or an exported folder, with the config's metric, per class."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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

if TYPE_CHECKING:
    from slimdet.metrics import EvalResult


def eval_command(
    config: ConfigOption,
    overrides: OverrideOption = None,
    weights: Annotated[
        str | None,
        typer.Option(
            "--weights", "-w", help="Checkpoint to score (default: the config's weights; -o weights=PATH works too)."
        ),
    ] = None,
    pruned_params: PrunedParamsOption = None,
    pruned_ratios: PrunedRatiosOption = None,
    output_eval: Annotated[
        Path | None,
        typer.Option(
            "--output-eval", "--output_eval", help="Also write the detections to DIR/bbox.json (COCO result format)."
        ),
    ] = None,
    device: DeviceOption = None,
    backend: Annotated[
        str,
        typer.Option(
            "--backend",
            "--engine",  # the spelling before 2026-12-08
            help="What runs the checkpoint: inference (Paddle Inference graph, fused conv+BN and oneDNN: several times "
            "faster on a CPU, same mAP up to float rounding), dygraph, or auto (inference on a CPU unless the eval set is "
            "smaller than compiling is worth, about two 608 px images' work; dygraph on a GPU).",
        ),
    ] = "auto",
    model_dir: Annotated[
        Path | None,
        typer.Option(
            "--model-dir",
            "--model_dir",
            help="Score a folder made by slimdet export or quantize instead of a checkpoint.",
        ),
    ] = None,
    onnx: Annotated[bool, typer.Option("--onnx", help="With --model-dir: run its model.onnx on onnxruntime.")] = False,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """Evaluate a checkpoint on the EvalReader's data: VOC mAP (11point/integral) or COCO mAP, per class.

    A pruned checkpoint is rebuilt from its .plan.json sidecar (or from --pruned_params/--pruned_ratios).
    With --model-dir, the exported (float or int8) model is scored as deployed: its own preprocessing, batch 1.
    """
    from slimdet import api

    with progress(quiet) as bar:
        task = bar.add_task("eval", total=None)
        result = api.evaluate(
            config, overrides=overrides or (), weights=weights, pruned_params=pruned_params,
            pruned_ratios=pruned_ratios, output_eval=output_eval, device=device, backend=backend, model_dir=model_dir,
            onnx=onnx, on_progress=lambda done, total: bar.update(task, completed=done, total=total),
        )  # fmt: skip
    if as_json:
        print_json(result.to_dict())
        return
    facts: dict[str, Any] = {"config": result.config}
    if model_dir is not None:  # an exported folder, scored as deployed
        facts |= {"model dir": result.model_dir, "backend": f"{result.backend} ({result.precision})"}
    else:
        facts |= {"weights": result.weights, "pruned": "yes" if result.pruned else "no", "backend": result.backend}
    facts |= {
        "images": result.images,
        "mAP": f"{result.summary.metrics['mAP']:.4f}",
        "time": f"{result.seconds:.1f} s",
        **({"bbox.json": result.bbox_json} if model_dir is None and result.bbox_json else {}),
    }
    _print_summary(result.summary, facts)


def _print_summary(summary: EvalResult, facts: dict[str, Any]) -> None:
    """The per-class table of an ``EvalResult``, then the run's facts."""
    rows = [
        (row.name, f"{row.ap:.4f}" if row.ap is not None else "-", row.num_gt, row.num_det) for row in summary.classes
    ]
    out = stdout_console()
    out.print(table(f"{summary.metric} {summary.description}", ["class", "AP", "ground truths", "detections"], rows))
    out.print(key_value_table("eval", facts))
