"""``slimdet sensitivity``: measure how much each conv can be pruned, then merge, choose ratios, plot.

``slimdet sensitivity -c CFG -o weights=W ...`` runs the analysis (the group's own callback);
``merge``, ``ratios`` and ``plot`` work on the files it writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from slimdet.cli._options import DeviceOption, JsonOption, OverrideOption, QuietOption
from slimdet.cli._render import key_value_table, print_json, progress, stdout_console, table
from slimdet.errors import SlimdetError

if TYPE_CHECKING:
    from slimdet.commands.sensitivity import SensitivityTable, Trial

SensitivitiesFile = Annotated[Path, typer.Argument(help="A sensitivity file written by `slimdet sensitivity`.")]


def sensitivity_command(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="PaddleDetection-style YAML config of the model to analyse.")
    ] = None,
    overrides: OverrideOption = None,
    pruned_params: Annotated[
        str | None,
        typer.Option(
            "--pruned-params",
            "--pruned_params",
            "-p",
            help="Conv weights to analyse, comma- or space-separated. Default: every yolo_block conv of the "
            "model; for the legacy head, the 18 PaddleDetection's slim model zoo prunes "
            "(yolo_block.0.0.0.conv.weights … yolo_block.2.tip.conv.weights).",
        ),
    ] = None,
    pruned_ratios: Annotated[
        str | None,
        typer.Option(
            "--pruned-ratios",
            "--pruned_ratios",
            help="Ratios to try on each conv, space- or comma-separated. "
            "[default: 0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8 0.9]",
        ),
    ] = None,
    sensitivities_file: Annotated[
        Path | None,
        typer.Option(
            "--sensitivities-file",
            "--sensitivities_file",
            "-s",
            help="JSON file the results go to, one trial at a time; an existing file is resumed. "
            "[default: SAVE_DIR/<config name>/sensitivities.json]",
        ),
    ] = None,
    eval_images: Annotated[
        int | None,
        typer.Option("--eval-images", "--eval_images", min=1, help="Evaluate on the first N eval images only."),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option("--batch-size", "--batch_size", min=1, help="Eval batch size (default: EvalReader.batch_size)."),
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Run the trials in N local processes (the CPU threads are shared).")
    ] = 1,
    shard: Annotated[
        str | None,
        typer.Option(
            "--shard",
            help="Run only part i of n of the (param, ratio) grid, e.g. 1/2 here and 2/2 elsewhere, "
            "then `slimdet sensitivity merge`.",
        ),
    ] = None,
    criterion: Annotated[
        str,
        typer.Option(
            "--criterion",
            "--prune-criterion",
            "--prune_criterion",
            help="Which filters go: l1_norm, or fpgm (legacy name geometry_median).",
        ),
    ] = "l1_norm",
    cache_mb: Annotated[
        float,
        typer.Option(
            "--cache-mb",
            "--cache_mb",
            min=0,
            help="Keep the eval set (backbone features, or images) in memory up to this size; beyond it, "
            "it is read again for every trial.",
        ),
    ] = 2048.0,
    device: DeviceOption = None,
    backend: Annotated[
        str,
        typer.Option(
            "--backend",
            "--engine",  # the spelling before 2026-12-08
            help="What scores each trial: inference (the pruned model compiled into a Paddle Inference graph: a few "
            "seconds per trial, then several times faster than dygraph on a CPU), dygraph, or auto (on a CPU, "
            "whichever scored the base model faster; dygraph on a GPU).",
        ),
    ] = "auto",
    use_vdl: Annotated[
        bool,
        typer.Option(
            "--use-vdl",
            "--use_vdl",
            help="Log each conv's loss curve as VisualDL scalars: tag sensitivity/<param>, step the ratio in percent "
            "(needs pip install 'slimdet[vdl]'; view: visualdl --logdir DIR).",
        ),
    ] = False,
    vdl_log_dir: Annotated[
        Path | None,
        typer.Option(
            "--vdl-log-dir",
            "--vdl_log_dir",
            help="The VisualDL log's folder (giving it turns --use-vdl on), written again from the sensitivities "
            "file after each result: a resumed analysis shows each trial once. [default: "
            "save_dir/<config>/vdl/sensitivity, beside a training's log, not over it]",
        ),
    ] = None,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """Prune each conv alone by each ratio, evaluate, and record the mAP loss (base − pruned) / base.

    Each result goes to the sensitivities file at once: an interrupted run resumes where it stopped.

    Subcommands: merge (shards), ratios (pick --pruned_ratios for a loss or FLOPs target), plot.
    """
    if ctx.invoked_subcommand is not None:
        return
    if config is None:
        raise SlimdetError("no config given: slimdet sensitivity -c CONFIG -o weights=WEIGHTS [...]")
    from slimdet import api

    with progress(quiet, "loss") as bar:
        task = bar.add_task("setting up", total=None, loss="")

        def started(trials: int, mode: str) -> None:
            bar.update(task, description=f"trials ({mode})", total=trials, completed=0)

        def finished(param: str, ratio: float, trial: Trial) -> None:
            bar.update(task, advance=1, loss=f"{param} @ {ratio:g}: loss {trial.loss:+.4f}")

        run = api.sensitivity(
            config, overrides=overrides or (), pruned_params=pruned_params, pruned_ratios=pruned_ratios,
            sensitivities_file=sensitivities_file, eval_images=eval_images, batch_size=batch_size, workers=workers,
            shard=shard, criterion=criterion, cache_mb=cache_mb, device=device, backend=backend, use_vdl=use_vdl,
            vdl_log_dir=vdl_log_dir, on_start=started, on_trial=finished,
        )  # fmt: skip
    if as_json:
        print_json(run.to_dict())
        return
    out = stdout_console()
    out.print(_losses_table(run.table))
    out.print(
        key_value_table(
            "sensitivity",
            {
                "file": run.path,
                "base mAP": f"{run.table.base_map:.4f} on {run.table.eval_set.get('images')} images",
                "trials run / already in the file": f"{run.computed} / {run.skipped}",
                "grid points still missing": run.missing,
                "mode": run.mode,
                "workers / shard": f"{run.workers} / {run.shard}",
                "time": f"{run.seconds:.1f} s",
            },
        )
    )


def merge_command(
    files: Annotated[list[Path], typer.Argument(help="Sensitivity files of one analysis (e.g. its shards).")],
    output: Annotated[list[Path], typer.Option("--output", "-o", help="The merged file (written atomically).")],
    as_json: JsonOption = False,
) -> None:
    """Merge sensitivity files (shards of one analysis); conflicting results are an error that names them."""
    from slimdet import api

    if len(output) != 1:
        raise SlimdetError(
            f"-o/--output takes one file, got {len(output)} ({', '.join(map(str, output))}): "
            "put the input files before -o OUT"
        )
    merged = api.sensitivity_merge(files, output=output[0])
    if as_json:
        print_json(merged.to_dict())
        return
    out = stdout_console()
    out.print(_losses_table(merged.table))
    out.print(f"merged {len(files)} files into {merged.path}; grid points still missing: {merged.missing}")


def ratios_command(
    sensitivities: SensitivitiesFile,
    target_loss: Annotated[
        float | None,
        typer.Option(
            "--target-loss",
            "--target_loss",
            help="Largest acceptable loss per conv, e.g. 0.05 for 5% (legacy get_ratios_by_loss).",
        ),
    ] = None,
    target_flops: Annotated[
        float | None,
        typer.Option(
            "--target-flops",
            "--target_flops",
            help="Share of the model's FLOPs to remove, e.g. 0.5 (needs -c): the loss threshold is searched.",
        ),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Config of the analysed model, to count FLOPs.")
    ] = None,
    overrides: OverrideOption = None,
    as_json: JsonOption = False,
) -> None:
    """Choose --pruned_ratios from a sensitivity file, for a loss or FLOPs target, ready to paste.

    Each conv gets the largest ratio whose linearly interpolated loss stays within the threshold.

    Losses are per conv, measured alone: pruning several convs together usually loses more.
    """
    from slimdet import api

    result = api.sensitivity_ratios(
        sensitivities,
        target_loss=target_loss,
        target_flops=target_flops,
        config=config,
        overrides=overrides or (),
    )
    if as_json:
        print_json(result.to_dict())
        return
    out = stdout_console()
    rows = [(name, f"{ratio:g}", f"{result.expected_losses[name]:+.4f}") for name, ratio in result.ratios.items()]
    out.print(table(f"ratios for loss ≤ {result.threshold:.6g}", ["param", "ratio", "expected loss"], rows))
    flops = "(give -c CFG)"
    if result.flops_cut is not None:
        flops = f"{100 * result.flops_cut:.2f}% at {result.input_size} px"
    out.print(
        key_value_table(
            None,
            {
                "expected FLOPs cut": flops,
                "worst expected loss (one conv alone)": f"{result.worst_expected_loss:+.4f}",
                "not pruned (even the smallest ratio loses more)": ", ".join(result.not_pruned) or "-",
                **(
                    {"note": "the analysed checkpoint was pruned already: these ratios apply to its pruned convs"}
                    if result.on_pruned_model
                    else {}
                ),
            },
        )
    )
    print(f'--pruned_params "{result.pruned_params}" --pruned_ratios "{result.pruned_ratios}"')


def plot_command(
    sensitivities: SensitivitiesFile,
    out: Annotated[Path, typer.Option("--out", "--output", help="Picture to write (PNG).")] = Path("sensitivities.png"),
    as_json: JsonOption = False,
) -> None:
    """Plot loss against ratio, one curve per conv."""
    from slimdet import api

    result = api.sensitivity_plot(sensitivities, out=out)
    if as_json:
        print_json(result.to_dict())
        return
    stdout_console().print(f"wrote {result.path} ({len(result.curves)} curves)")


def _losses_table(sens: SensitivityTable) -> Table:
    """Params × ratios, each cell the loss in percent (blank where not measured)."""
    ratios = sorted({r for trials in sens.results.values() for r in trials} | set(sens.ratios))
    rows = [
        (param, *(f"{100 * sens.results[param][r].loss:+.2f}" if sens.done(param, r) else "" for r in ratios))
        for param in dict.fromkeys([*sens.params, *sens.results])
    ]
    return table(f"loss % (base mAP {sens.base_map:.4f})", ["param", *(f"{r:g}" for r in ratios)], rows)
