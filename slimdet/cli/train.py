"""``slimdet train``: train a detector from a config (teachers, baselines), with resumable checkpoints; with a
teacher (-t), distilled from it as the legacy slim/distillation did."""

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
    TeacherConfigOption,
    TeacherOverrideOption,
    TeacherPretrainedOption,
    refuse_teacher_flags_without_teacher,
    run_training,
)
from slimdet.cli._launch import NprocOption
from slimdet.cli._options import (
    ConfigOption,
    CriterionOption,
    DeviceOption,
    EvalOption,
    JsonOption,
    NotQuantPatternOption,
    OverrideOption,
    PrunedParamsOption,
    PrunedRatiosOption,
    QuantAwareOption,
    QuietOption,
    SeedOption,
    UseVdlOption,
    VdlLogDirOption,
)
from slimdet.commands.distill_request import DEFAULT_DISTILL_WEIGHT


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
    quant_aware: QuantAwareOption = False,
    not_quant_pattern: NotQuantPatternOption = None,
    teacher_config: TeacherConfigOption = None,
    teacher_pretrained: TeacherPretrainedOption = None,
    distill_weight: DistillWeightOption = DEFAULT_DISTILL_WEIGHT,
    distill_balance: DistillBalanceOption = "input-size",
    distill_temperature: DistillTemperatureOption = 1.0,
    distill_confidence: DistillConfidenceOption = 0.0,
    distill_feature: DistillFeatureOption = 0.0,
    distill_method: DistillMethodOption = "split",
    teacher_backend: TeacherBackendOption = "auto",
    teacher_overrides: TeacherOverrideOption = None,
    seed: SeedOption = 0,
    use_vdl: UseVdlOption = False,
    vdl_log_dir: VdlLogDirOption = None,
    device: DeviceOption = None,
    quiet: QuietOption = False,
    nproc: NprocOption = "auto",
    as_json: JsonOption = False,
) -> None:
    """Train for max_iters steps; checkpoints go to save_dir/<config name>/ (<iter>, model_final, best_model).

    After each checkpoint, save_dir/<config name>/curves.png shows the loss terms (log scale), the learning rate
    and the mAP (with --eval) so far; slimdet curves draws it again, or several runs together.

    Ctrl-C or SIGTERM stops after the current step and writes a checkpoint to --resume from (exit code 130 / 143).

    --pruned_params/--pruned_ratios: prune after loading pretrain_weights, then fine-tune (legacy slim/prune).

    A pruned run writes the plan beside every checkpoint (<checkpoint>.plan.json); --resume reads it back.

    -t TEACHER_CFG --teacher_pretrained W: train with the YOLOv3 loss plus the split distillation loss of a
    frozen teacher (the legacy slim/distillation; needs -o use_fine_grained_loss=true unless the config sets
    it). With the pruning flags as well it is exactly distill-prune. {teacher}

    --quant-aware: fine-tune the trained model of -o pretrain_weights=W with fake-quant ops (the legacy
    slim/quantization; with -t, distilled from the teacher meanwhile); slimdet export writes its int8 model.
    """
    options = dict(locals())  # the parameters, as the shared run reads them
    if teacher_config is None:
        refuse_teacher_flags_without_teacher(ctx)
    run_training(ctx, "train", require_plan=False, options=options)


train_command.__doc__ = train_command.__doc__.format(teacher=TEACHER_HELP)
