"""``slimdet export``: rebuild a (pruned) checkpoint and write a Paddle Inference model (+ ONNX)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from slimdet.cli._options import (
    ConfigOption,
    JsonOption,
    OverrideOption,
    PrunedParamsOption,
    PrunedRatiosOption,
    QuietOption,
)
from slimdet.cli._render import key_value_table, print_json, stderr_console, stdout_console, table


def export_command(
    config: ConfigOption,
    overrides: OverrideOption = None,
    pruned_params: PrunedParamsOption = None,
    pruned_ratios: PrunedRatiosOption = None,
    output_dir: Annotated[
        Path, typer.Option("--output-dir", "--output_dir", help="The model goes to OUTPUT_DIR/<config name>/.")
    ] = Path("output"),
    onnx: Annotated[
        bool, typer.Option("--onnx", help="Also write model.onnx (needs pip install 'slimdet[onnx]').")
    ] = False,
    quiet: QuietOption = False,  # no progress output here; accepted so that scripts pass -q to every command
    as_json: JsonOption = False,
) -> None:
    """Export a checkpoint (-o weights=W) for Paddle Inference: model.pdmodel, model.pdiparams, infer_cfg.yml.

    A pruned checkpoint is rebuilt from its .plan.json sidecar (or from --pruned_params/--pruned_ratios).
    The exported graph is run once against the model to check that both give the same detections.
    """
    from slimdet import api

    result = api.export(
        config,
        overrides=overrides or (),
        pruned_params=pruned_params,
        pruned_ratios=pruned_ratios,
        output_dir=output_dir,
        onnx=onnx,
    )
    if as_json:
        print_json(result.to_dict())
    else:
        out = stdout_console()
        out.print(
            key_value_table(
                "export",
                {
                    "input size": result.input_size,
                    "pruned": "yes" if result.plan else "no",
                    "precision": result.precision,
                    "parameters (MiB)": f"{result.parameters_mib:.2f}",
                    "GFLOPs (conv MACs/2^30)": f"{result.gflops:.3f}",
                },
            )
        )
        out.print(table("files", ["file", "bytes"], [(name, size) for name, size in result.files.items()]))
        checks = [result.parity] + ([result.onnx_parity] if result.onnx_parity is not None else [])
        out.print(
            table(
                "parity",
                ["reference", "candidate", "detections", "max box diff (px)", "max score diff", "ok"],
                [
                    (c.reference, c.candidate, c.detections, f"{c.max_box_diff:.2e}", f"{c.max_score_diff:.2e}", c.ok)
                    for c in checks
                ],
            )
        )
        out.print(f"exported to {escape(result.out_dir)}")
    if not result.ok:
        stderr_console().print("[red]error:[/red] the exported model does not reproduce the checkpoint's detections")
        raise typer.Exit(code=1)
