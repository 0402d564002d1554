"""``slimdet infer``: detect objects in images with an exported model or a checkpoint, and draw them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from slimdet.cli._options import JsonOption, OverrideOption, QuietOption
from slimdet.cli._render import print_json, stdout_console, table


def infer_command(
    model_dir: Annotated[
        Path | None, typer.Option("--model-dir", "--model_dir", help="A folder made by slimdet export.")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Run a checkpoint instead: its config (with -o weights=W)."),
    ] = None,
    overrides: OverrideOption = None,
    image: Annotated[Path | None, typer.Option("--image", "--infer_img", help="One image file.")] = None,
    image_dir: Annotated[
        Path | None, typer.Option("--image-dir", "--image_dir", "--infer_dir", help="A folder of images.")
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            "--draw_threshold",
            min=0.0,
            max=1.0,
            help="Keep boxes scoring above this (default: draw_threshold of infer_cfg.yml, 0.5).",
        ),
    ] = None,
    output_dir: Annotated[
        Path, typer.Option("--output-dir", "--output_dir", help="Where the drawn copies go.")
    ] = Path("output"),
    quiet: QuietOption = False,  # no progress output here; accepted so that scripts pass -q to every command
    as_json: JsonOption = False,
) -> None:
    """Detect objects in --image or --image-dir; drawn copies go to --output-dir, detections to stdout."""
    from slimdet.deploy.infer import infer

    result = infer(
        model_dir=model_dir,
        config=config,
        overrides=overrides or [],
        image=image,
        image_dir=image_dir,
        threshold=threshold,
        output_dir=output_dir,
    )
    if as_json:
        print_json(result.to_dict())
        return
    rows = [
        (Path(item.image).name, d.class_name, f"{d.score:.3f}", ", ".join(f"{v:.1f}" for v in d.box))
        for item in result.images
        for d in item.detections
    ]
    out = stdout_console()
    title = f"{len(rows)} detections in {len(result.images)} images (score > {result.threshold:g}, {result.backend})"
    out.print(table(title, ["image", "class", "score", "box (x1, y1, x2, y2)"], rows))
    out.print(f"drawn images: {escape(result.output_dir)}")
