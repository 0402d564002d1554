"""``slimdet train``: train a detector from a config (teachers, baselines), with resumable checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from slimdet.cli._launch import NprocOption, relaunch_with_nproc
from slimdet.cli._options import (
    ConfigOption,
    CriterionOption,
    DeviceOption,
    EvalOption,
    JsonOption,
    OverrideOption,
    PrunedParamsOption,
    PrunedRatiosOption,
    QuietOption,
    SeedOption,
)
from slimdet.cli._render import print_json, print_training


def train_command(
    ctx: typer.Context,
    config: ConfigOption,
    overrides: OverrideOption = None,
    evaluate: EvalOption = False,
    resume: Annotated[
        Path | None,
        typer.Option(
            "--resume",
            "--resume-checkpoint",
            "--resume_checkpoint",
            "-r",
            help="Continue from a checkpoint written by slimdet train (e.g. output/<config>/2000), or from "
            "the latest complete one in a folder (output/<config>): iteration, optimizer, LR, seed and random state.",
        ),
    ] = None,
    pruned_params: PrunedParamsOption = None,
    pruned_ratios: PrunedRatiosOption = None,
    criterion: CriterionOption = "l1_norm",
    seed: SeedOption = 0,
    device: DeviceOption = None,
    quiet: QuietOption = False,
    nproc: NprocOption = "auto",
    as_json: JsonOption = False,
) -> None:
    """Train for max_iters steps; checkpoints go to save_dir/<config name>/ (<iter>, model_final, best_model).

    Ctrl-C or SIGTERM stops after the current step and writes a checkpoint to --resume from (exit code 130 / 143).

    --pruned_params/--pruned_ratios: prune after loading pretrain_weights, then fine-tune (legacy slim/prune).

    A pruned run writes the plan beside every checkpoint (<checkpoint>.plan.json); --resume reads it back.
    """
    from slimdet.config import load_config

    cfg = load_config(config, overrides or [])
    flags = {"pruned_params": pruned_params, "pruned_ratios": pruned_ratios, "criterion": criterion}

    def checks() -> None:  # only before a launch, in a child: the launching process never imports paddle
        from slimdet.commands.train import check_training

        check_training(cfg, eval=evaluate, resume=resume, **flags)

    relaunch_with_nproc(ctx, nproc, cfg, device, checks)  # --nproc: this command again, in N processes
    from slimdet.commands.train import train_from_config
    from slimdet.slim.plan import PruningPlan

    plan = PruningPlan.from_flags(pruned_params, pruned_ratios, criterion)
    result = train_from_config(cfg, eval=evaluate, resume=resume, seed=seed, device=device, quiet=quiet, plan=plan)
    if as_json:
        print_json(result.to_dict())
        return
    print_training("train", result, {"config": result.config})
