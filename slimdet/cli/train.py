"""``slimdet train``: train a detector from a config (teachers, baselines), with resumable checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from slimdet.cli._options import ConfigOption, DeviceOption, JsonOption, OverrideOption, QuietOption, SeedOption
from slimdet.cli._render import key_value_table, print_json, stderr_console, stdout_console, table

EXIT_INTERRUPTED = 130  # the shell's code for a process stopped by SIGINT


def train_command(
    config: ConfigOption,
    overrides: OverrideOption = None,
    evaluate: Annotated[
        bool, typer.Option("--eval", help="Evaluate at every snapshot_iter and keep the best as best_model.")
    ] = False,
    resume: Annotated[
        Path | None,
        typer.Option(
            "--resume",
            "--resume-checkpoint",
            "--resume_checkpoint",
            "-r",
            help="Continue from a checkpoint written by slimdet train (e.g. output/<config>/2000): "
            "iteration, optimizer, LR, seed and random state.",
        ),
    ] = None,
    seed: SeedOption = 0,
    device: DeviceOption = None,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """Train for max_iters steps; checkpoints go to save_dir/<config name>/ (<iter>, model_final, best_model).

    Ctrl-C stops after the current step and writes a checkpoint to --resume from (exit code 130).
    """
    from slimdet.config import load_config
    from slimdet.engine.train import train_from_config
    from slimdet.engine.trainer import TrainingInterrupted

    cfg = load_config(config, overrides or [])
    try:
        result = train_from_config(cfg, eval=evaluate, resume=resume, seed=seed, device=device, quiet=quiet)
    except TrainingInterrupted as stop:
        stderr_console().print(f"[yellow]{stop}[/yellow]", soft_wrap=True, highlight=False)
        raise typer.Exit(code=EXIT_INTERRUPTED) from None
    except KeyboardInterrupt:  # before the loop started, or a second Ctrl-C in the middle of a step
        stderr_console().print("[yellow]interrupted; no checkpoint was written for the step in progress[/yellow]")
        raise typer.Exit(code=EXIT_INTERRUPTED) from None
    if as_json:
        print_json(result.to_dict())
        return
    out = stdout_console()
    summary = {
        "config": result.config,
        "device": result.device,
        "iterations": f"{result.start_iter} → {result.iterations}",
        "final checkpoint": result.final_checkpoint,
        "loss (last step)": " ".join(f"{name} {value:.4f}" for name, value in result.losses.items()),
        "time": f"{result.seconds:.1f} s ({result.seconds_per_iter:.2f} s/iter)",
    }
    if result.best is not None:
        summary["best_model"] = f"iteration {result.best.iteration}, mAP {result.best.metrics['mAP']:.4f}"
    out.print(key_value_table("train", summary))
    if result.evals:
        out.print(table("evaluations", ["iteration", "mAP"], [(r.iteration, f"{r.metrics['mAP']:.4f}") for r in result.evals]))
