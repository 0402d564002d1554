"""``slimdet infer``: detect objects in images with an exported model or a checkpoint, and draw them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from slimdet.cli._options import JsonOption, OverrideOption, QuietOption
from slimdet.cli._render import print_json, stderr_console, stdout_console, table

EXIT_SOME_SKIPPED = 1  # the run finished, but some files of --image-dir could not be read


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
    output_dir: Annotated[Path, typer.Option("--output-dir", "--output_dir", help="Where the drawn copies go.")] = Path(
        "output"
    ),
    strict: Annotated[
        bool, typer.Option("--strict", help="Stop at the first file of --image-dir that cannot be read (exit 2).")
    ] = False,
    quiet: QuietOption = False,  # no progress output here (skipped files still warn); accepted so that scripts pass -q
    as_json: JsonOption = False,
) -> None:
    """Detect objects in --image or --image-dir; drawn copies go to --output-dir, detections to stdout.

    A file of --image-dir that cannot be read (empty, truncated, not an image) is skipped with a warning on
    stderr, and the others are processed; --json lists the skipped files and why.

    Exit code: 0 when every picture was read, 1 when some were skipped, 2 on an error (a single --image that
    cannot be read, or any unreadable file with --strict).
    """
    from slimdet import api

    warn = stderr_console()
    result = api.infer(
        model_dir=model_dir,
        config=config,
        overrides=overrides or (),
        image=image,
        image_dir=image_dir,
        threshold=threshold,
        output_dir=output_dir,
        strict=strict,
        on_skip=lambda skipped: warn.print(f"[yellow]warning:[/yellow] {escape(skipped.reason)} (skipped)"),
    )
    exit_code = EXIT_SOME_SKIPPED if result.skipped else 0
    if as_json:
        print_json(result.to_dict())
        raise typer.Exit(exit_code)
    rows = [
        (Path(item.image).name, d.class_name, f"{d.score:.3f}", ", ".join(f"{v:.1f}" for v in d.box))
        for item in result.images
        for d in item.detections
    ]
    out = stdout_console()
    title = f"{len(rows)} detections in {len(result.images)} images (score > {result.threshold:g}, {result.backend})"
    out.print(table(title, ["image", "class", "score", "box (x1, y1, x2, y2)"], rows))
    count = result.counts
    drawn_into = escape(result.output_dir)
    out.print(f"{count['read']} read, {count['skipped']} skipped, {count['drawn']} drawn into {drawn_into}")
    raise typer.Exit(exit_code)
