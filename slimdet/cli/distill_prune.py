"""``slimdet distill-prune``: prune a student's filters and train it with a frozen teacher (legacy flags work)."""

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
from slimdet.slim.distill_settings import DistillSettings

TeacherOverrideOption = Annotated[
    list[str] | None,
    typer.Option(
        "--teacher-opt",
        "-to",
        help="Overrides for the teacher's config only, key=value, applied after -o (several may follow one -to).",
    ),
]


def distill_prune_command(
    ctx: typer.Context,
    config: ConfigOption,
    teacher_config: Annotated[
        Path,
        typer.Option(
            "--teacher-config", "--teacher_config", "-t", help="The teacher's config (e.g. yolov3_r34_voc.yml)."
        ),
    ],
    teacher_pretrained: Annotated[
        str | None,
        typer.Option(
            "--teacher-pretrained",
            "--teacher_pretrained",
            help="The teacher's trained weights (required): .pdparams, legacy folder or .tar, or URL.",
        ),
    ] = None,
    pruned_params: PrunedParamsOption = None,
    pruned_ratios: PrunedRatiosOption = None,
    criterion: CriterionOption = "l1_norm",
    distill_weight: Annotated[
        float,
        typer.Option(
            "--distill-weight",
            "--distill_weight",
            help="Scale of the split distillation loss at 608 px input (legacy: 1000); see --distill-balance.",
        ),
    ] = 1000.0,
    distill_balance: Annotated[
        str,
        typer.Option(
            "--distill-balance",
            help="input-size: scale the weight by (h·w)/608² of each batch, so distillation weighs against the "
            "YOLOv3 loss the same at every input size (its terms are grid means, the YOLOv3 loss a grid sum); "
            "legacy: the weight as it is, which tilts towards distillation by (608/size)² below 608 px.",
        ),
    ] = "input-size",
    distill_temperature: Annotated[
        float,
        typer.Option(
            "--distill-temperature",
            help="Soften the teacher's soft targets (x, y, classes) as in knowledge distillation: both sides' "
            "logits divided by T, the terms scaled by T². 1 (default) is the legacy loss.",
        ),
    ] = 1.0,
    distill_confidence: Annotated[
        float,
        typer.Option(
            "--distill-confidence",
            help="Copy the teacher's boxes and classes only where its confidence σ(obj) is at least P, in [0, 1); "
            "the objectness term is unchanged. 0 (default) is the legacy loss.",
        ),
    ] = 0.0,
    distill_feature: Annotated[
        float,
        typer.Option(
            "--distill-feature",
            help="Weight W of a feature term: attention transfer between the teacher's and the student's neck "
            "tips (works with pruned channels), balanced like --distill-weight. 0 (default): off, the legacy loss.",
        ),
    ] = 0.0,
    teacher_engine: Annotated[
        str,
        typer.Option(
            "--teacher-engine",
            help="What runs the frozen teacher's forward: inference (Paddle Inference graph, several times "
            "faster on a CPU), dygraph, or auto (inference on a CPU unless the run is too short to pay for compiling, "
            "under two 608 px images' work in all; dygraph on a GPU).",
        ),
    ] = "auto",
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
    device: DeviceOption = None,
    quiet: QuietOption = False,
    nproc: NprocOption = "auto",
    as_json: JsonOption = False,
) -> None:
    """Prune the student (-c) with PaddleSlim and train it with its YOLOv3 loss plus the split distillation
    loss of a frozen teacher (-t, --teacher_pretrained); checkpoints and their .plan.json go to
    save_dir/<student config name>/.

    -o overrides apply to the teacher's config too, as in the legacy tool (-o num_classes=4 reaches both),
    except those for a section the teacher lacks (MobileNet.… for a ResNet teacher); -to items go to the
    teacher only, after -o. The report lists what reached the teacher. The teacher loads --teacher_pretrained
    whatever -o pretrain_weights says (that one is the student's, as in the legacy README).

    The split outputs are needed: -o use_fine_grained_loss=true unless the student config sets it.
    """
    from slimdet.config import load_config

    student_cfg = load_config(config, overrides or [])
    teacher_cfg = load_config(teacher_config, teacher_overrides or [], shared=overrides or [])
    run = {
        "teacher_pretrained": teacher_pretrained,
        "pruned_params": pruned_params,
        "pruned_ratios": pruned_ratios,
        "criterion": criterion,
        "distill": DistillSettings(
            weight=distill_weight,
            balance=distill_balance,
            temperature=distill_temperature,
            confidence=distill_confidence,
            feature=distill_feature,
        ),
        "teacher_engine": teacher_engine,
        "eval": evaluate,
        "resume": resume,
    }

    def checks() -> None:  # only before a launch, in a child: the launching process never imports paddle
        from slimdet.commands.distill_prune import check_distill_prune_run

        check_distill_prune_run(student_cfg, teacher_cfg, **run)

    relaunch_with_nproc(ctx, nproc, student_cfg, device, checks)  # --nproc: this command again, in N processes
    from slimdet.commands.distill_prune import distill_prune

    result = distill_prune(student_cfg, teacher_cfg, **run, seed=seed, device=device, quiet=quiet)
    if as_json:
        print_json(result.to_dict())
        return
    head = {
        "student config": result.training.config,
        "teacher": f"{result.teacher_config} ({result.teacher_weights})",
        "teacher engine": result.teacher_engine,
        "teacher overrides": "\n".join(result.teacher_overrides) or "none",  # one per line: paths are long
        "distill weight": result.distill.describe(),
    }
    print_training("distill-prune", result.training, head, {"pruning plan": result.final_plan})
