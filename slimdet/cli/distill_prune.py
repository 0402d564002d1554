"""``slimdet distill-prune``: prune a student's filters and train it with a frozen teacher (legacy flags work)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from slimdet.cli._distill import (
    TEACHER_HELP,
    DistillBalanceOption,
    DistillConfidenceOption,
    DistillFeatureOption,
    DistillMethodOption,
    DistillTemperatureOption,
    DistillWeightOption,
    TeacherBackendOption,
    TeacherOverrideOption,
    TeacherPretrainedOption,
    run_training,
)
from slimdet.cli._launch import NprocOption
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
    UseVdlOption,
    VdlLogDirOption,
)
from slimdet.commands.distill_request import DEFAULT_DISTILL_WEIGHT


def distill_prune_command(
    ctx: typer.Context,
    config: ConfigOption,
    teacher_config: Annotated[
        Path,
        typer.Option(
            "--teacher-config", "--teacher_config", "-t", help="The teacher's config (e.g. yolov3_r34_voc.yml)."
        ),
    ],
    teacher_pretrained: TeacherPretrainedOption = None,
    pruned_params: PrunedParamsOption = None,
    pruned_ratios: PrunedRatiosOption = None,
    criterion: CriterionOption = "l1_norm",
    distill_weight: DistillWeightOption = DEFAULT_DISTILL_WEIGHT,
    distill_balance: DistillBalanceOption = "input-size",
    distill_temperature: DistillTemperatureOption = 1.0,
    distill_confidence: DistillConfidenceOption = 0.0,
    distill_feature: DistillFeatureOption = 0.0,
    distill_method: DistillMethodOption = "split",
    teacher_backend: TeacherBackendOption = "auto",
    overrides: OverrideOption = None,
    teacher_overrides: TeacherOverrideOption = None,
    evaluate: EvalOption = False,
    resume: Annotated[
        Path | None,
        typer.Option(
            "--resume",
            "--resume-checkpoint",
            "--resume_checkpoint",
            "-r",
            help="Continue from a distill-prune checkpoint (e.g. output/<config>/2000) or the latest complete "
            "one in a folder (output/<config>); its .plan.json gives the pruned structure, so the pruning flags "
            "may be left out.",
        ),
    ] = None,
    seed: SeedOption = 0,
    use_vdl: UseVdlOption = False,
    vdl_log_dir: VdlLogDirOption = None,
    device: DeviceOption = None,
    quiet: QuietOption = False,
    nproc: NprocOption = "auto",
    as_json: JsonOption = False,
) -> None:
    """Prune the student (-c) with PaddleSlim and train it with its YOLOv3 loss plus the split distillation
    loss of a frozen teacher (-t, --teacher_pretrained); checkpoints and their .plan.json go to
    save_dir/<student config name>/, with curves.png (loss terms, the distillation's apart, learning rate, mAP)
    drawn again after each. The same as train -t with pruning flags.

    {teacher}

    The split outputs are needed: -o use_fine_grained_loss=true unless the student config sets it.
    """
    options = dict(locals())  # the parameters, as the shared run reads them
    run_training(ctx, "distill-prune", require_plan=True, options=options)


distill_prune_command.__doc__ = distill_prune_command.__doc__.format(teacher=TEACHER_HELP)
