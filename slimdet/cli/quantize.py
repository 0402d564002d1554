"""``slimdet quantize``: post-training int8 of an exported model, with float vs int8 accuracy, size and speed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from slimdet.cli._options import ConfigOption, JsonOption, OverrideOption, QuietOption
from slimdet.cli._render import key_value_table, print_json, progress, stdout_console, table

MIB = 1024 * 1024


def quantize_command(
    model_dir: Annotated[
        Path, typer.Option("--model-dir", "--model_dir", help="A float folder made by slimdet export.")
    ],
    config: ConfigOption,
    output_dir: Annotated[Path, typer.Option("--output-dir", "--output_dir", help="The int8 model folder to write.")],
    overrides: OverrideOption = None,
    calib_images: Annotated[
        int,
        typer.Option("--calib-images", "--calib_images", min=1, help="Training images to calibrate on."),
    ] = 32,
    algo: Annotated[
        str, typer.Option("--algo", help="Calibration: hist, KL, mse or avg (PaddleSlim's post-training methods).")
    ] = "hist",
    onnx: Annotated[
        bool,
        typer.Option("--onnx", help="Also an int8 model.onnx for onnxruntime, from the export's model.onnx."),
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace --output-dir if it exists.")] = False,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """Quantize an exported model to int8 on a few of the TrainReader's images, then compare it with the float
    model on the EvalReader's data: mAP, size on disk and batch-1 latency, per backend.

    The int8 folder loads like any export: slimdet infer --model-dir OUT, slimdet eval --model-dir OUT -c CFG.
    """
    from slimdet import api

    with progress(quiet) as bar:
        task = bar.add_task("quantize", total=None)
        result = api.quantize(
            model_dir,
            config,
            output_dir,
            overrides=overrides or (),
            calib_images=calib_images,
            algo=algo,
            onnx=onnx,
            force=force,
            on_stage=lambda stage: bar.update(task, description=stage),
        )
    if as_json:
        print_json(result.to_dict())
        return
    out = stdout_console()
    rows = []
    for float_row, int8 in result.pairs():
        for row in (float_row, int8):
            rows.append(
                (
                    row.backend,
                    row.precision,
                    f"{row.mean_ap:.4f}",
                    f"{row.size_bytes / MIB:.2f}",
                    f"{row.latency_ms:.1f}",
                    f"{row.latency_ms / float_row.latency_ms:.2f}×",
                )
            )
    title = (
        f"float vs int8: {result.metric} on {result.eval_images} images, "
        f"batch-1 latency at {result.input_size} px, {result.threads} threads"
    )
    out.print(table(title, ["backend", "precision", "mAP", "size (MiB)", "latency (ms)", "vs float"], rows))
    for backend in result.slower_int8():
        out.print(
            f"[yellow]{backend}: int8 is not faster than float on this CPU; deploy the float model there[/yellow]"
        )
    out.print(
        key_value_table(
            "quantize",
            {
                "algorithm": result.algo,
                "calibration images": result.calibration_images,
                "time": f"{result.seconds:.1f} s",
            },
        )
    )
    out.print(f"int8 model written to {escape(result.out_dir)}")
