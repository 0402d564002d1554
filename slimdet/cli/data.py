"""``slimdet data synth|check|show``: make the synthetic dataset, validate a dataset, picture the inputs."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from slimdet.cli._options import ConfigOption, JsonOption, OverrideOption, QuietOption, SeedOption
from slimdet.cli._render import key_value_table, print_json, progress, stdout_console, table

if TYPE_CHECKING:
    from slimdet.data.check import DataCheckReport

MAX_LISTED = 20  # problems/warnings shown in the table view; --json has them all


class CheckSplit(str, Enum):
    train = "train"
    eval = "eval"


def synth_command(
    out: Annotated[Path, typer.Option("--out", help="Folder to create (VOC layout).")],
    num_train: Annotated[int, typer.Option("--num-train", "--num_train", min=1, help="Training images.")] = 1024,
    num_test: Annotated[int, typer.Option("--num-test", "--num_test", min=1, help="Test images.")] = 128,
    size: Annotated[int, typer.Option("--size", min=32, help="Image side in pixels.")] = 160,
    seed: SeedOption = 0,
    hard: Annotated[
        bool,
        typer.Option(
            "--hard",
            help="Nine classes (adds ring, frame, pentagon, hexagon, star, cross), up to 12 objects, unlabelled "
            "clutter: a task on which a small detector levels off well below a large one.",
        ),
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace --out if it is not empty.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Write the synthetic shapes dataset (circle, square, triangle; nine classes with --hard); same seed, same
    bytes."""
    from slimdet import api

    report = api.synth_data(out, num_train=num_train, num_test=num_test, size=size, seed=seed, hard=hard, force=force)
    if as_json:
        print_json(report.to_dict())
        return
    console = stdout_console()
    console.print(
        key_value_table(
            f"synthetic VOC dataset in {report.out_dir}",
            {
                "images (train / test)": f"{report.num_train} / {report.num_test}",
                "image size": f"{report.size} px",
                "seed": report.seed,
                "variant": "hard" if report.hard else "easy",
                **{f"objects: {name}": count for name, count in report.objects.items()},
                "difficult objects": report.difficult,
            },
        )
    )


def check_command(
    config: ConfigOption,
    overrides: OverrideOption = None,
    split: Annotated[CheckSplit, typer.Option("--split", help="Which reader's dataset to check.")] = CheckSplit.train,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """Read every annotation and image of a dataset; exit 1 when problems are found."""
    from slimdet import api

    with progress(quiet) as bar:
        task = bar.add_task("checking images", total=None)
        report = api.check_data(
            config,
            overrides=overrides or (),
            split=split.value,
            on_progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    if as_json:
        print_json(report.to_dict())
    else:
        _render_check(report)
    if not report.ok:
        raise typer.Exit(code=1)


def _render_check(report: DataCheckReport) -> None:
    console = stdout_console()
    size_range = (
        f"{report.width_range[0]}–{report.width_range[1]} x {report.height_range[0]}–{report.height_range[1]}"
        if report.width_range
        else "-"
    )
    console.print(
        key_value_table(
            f"{report.split} data: {report.dataset} {report.dataset_dir} {report.anno_path}",
            {
                "images": report.images,
                "images without objects": report.images_without_objects,
                "objects": report.objects,
                "difficult objects": report.difficult,
                "image size (w x h)": size_range,
                "problems": len(report.problems),
                "warnings": len(report.warnings),
            },
        )
    )
    rows = [(c.name, c.objects, c.difficult, c.images) for c in report.classes]
    console.print(table("objects per class", ["class", "objects", "difficult", "images"], rows))
    for title, lines in (("problems", report.problems), ("warnings", report.warnings)):
        if lines:
            shown = [(line,) for line in lines[:MAX_LISTED]]
            more = f" (first {MAX_LISTED} of {len(lines)}; --json lists all)" if len(lines) > MAX_LISTED else ""
            console.print(table(f"{title}{more}", [title[:-1]], shown))
    console.print("[green]ok[/green]" if report.ok else f"[red]{len(report.problems)} problem(s)[/red]")


def show_command(
    config: ConfigOption,
    overrides: OverrideOption = None,
    num: Annotated[int, typer.Option("--num", min=1, help="How many samples to draw.")] = 8,
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder for the PNGs (default: <save_dir>/data_show).")
    ] = None,
    seed: SeedOption = 0,
    as_json: JsonOption = False,
) -> None:
    """Draw augmented training samples (after every transform) with their boxes and class names."""
    from slimdet import api

    report = api.show_data(config, overrides=overrides or (), num=num, out=out, seed=seed)
    if as_json:
        print_json(report.to_dict())
        return
    stdout_console().print(f"{len(report.files)} pictures ({report.boxes} boxes) in {report.out_dir}")
