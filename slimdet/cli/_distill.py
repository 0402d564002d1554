"""The teacher's options and the training they start, shared by ``distill-prune`` and ``train``.

Both commands take the same teacher and distillation flags and run the same job
(``commands.training.TrainingJob``, as ``slimdet.api`` does); they differ only in whether a pruning plan is
required.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from typer._click.core import ParameterSource  # typer 0.29 vendors click without exporting it

from slimdet.cli._launch import relaunch_with_nproc
from slimdet.cli._render import print_json, print_training

TeacherConfigOption = Annotated[
    Path | None,
    typer.Option("--teacher-config", "--teacher_config", "-t", help="The teacher's config (e.g. yolov3_r34_voc.yml)."),
]
TeacherPretrainedOption = Annotated[
    str | None,
    typer.Option(
        "--teacher-pretrained",
        "--teacher_pretrained",
        help="The teacher's trained weights (required with -t): .pdparams, legacy folder or .tar, or URL.",
    ),
]
DistillWeightOption = Annotated[
    float,
    typer.Option(
        "--distill-weight",
        "--distill_weight",
        help="Scale of the split distillation loss at 608 px input (legacy: 1000); see --distill-balance.",
    ),
]
DistillBalanceOption = Annotated[
    str,
    typer.Option(
        "--distill-balance",
        help="input-size: scale the weight by (h·w)/608² of each batch, so distillation weighs against the "
        "YOLOv3 loss the same at every input size (its terms are grid means, the YOLOv3 loss a grid sum); "
        "legacy: the weight as it is, which tilts towards distillation by (608/size)² below 608 px.",
    ),
]
DistillTemperatureOption = Annotated[
    float,
    typer.Option(
        "--distill-temperature",
        help="Soften the teacher's soft targets (x, y, classes) as in knowledge distillation: both sides' "
        "logits divided by T, the terms scaled by T². 1 (default) is the legacy loss.",
    ),
]
DistillConfidenceOption = Annotated[
    float,
    typer.Option(
        "--distill-confidence",
        help="Copy the teacher's boxes and classes only where its confidence σ(obj) is at least P, in [0, 1); "
        "the objectness term is unchanged. 0 (default) is the legacy loss.",
    ),
]
DistillFeatureOption = Annotated[
    float,
    typer.Option(
        "--distill-feature",
        help="Weight W of a feature term: attention transfer between the teacher's and the student's neck "
        "tips (works with pruned channels), balanced like --distill-weight. 0 (default): off, the legacy loss.",
    ),
]
DistillMethodOption = Annotated[
    str,
    typer.Option(
        "--distill-method",
        help="split (default): the legacy split loss of distill_pruned_model (needs use_fine_grained_loss); l2: "
        "the legacy slim/distillation default, the mean squared difference of the raw head outputs, whose VOC "
        "models were trained with --distill-weight 100.",
    ),
]
TeacherBackendOption = Annotated[
    str,
    typer.Option(
        "--teacher-backend",
        "--teacher_backend",
        "--teacher-engine",  # the spellings before 2026-12-08
        "--teacher_engine",
        help="What runs the frozen teacher's forward: inference (Paddle Inference graph, several times "
        "faster on a CPU), dygraph, or auto (inference on a CPU unless the run is too short to pay for compiling, "
        "under two 608 px images' work in all; dygraph on a GPU).",
    ),
]
TeacherOverrideOption = Annotated[
    list[str] | None,
    typer.Option(
        "--teacher-opt",
        "-to",
        help="Overrides for the teacher's config only, key=value, applied after -o (several may follow one -to).",
    ),
]
TEACHER_HELP = (
    "-o overrides apply to the teacher's config too, as in the legacy tool (-o num_classes=4 reaches both), "
    "except those for a section the teacher lacks (MobileNet.… for a ResNet teacher); -to items go to the "
    "teacher only, after -o. The report lists what reached the teacher. The teacher loads --teacher_pretrained "
    "whatever -o pretrain_weights says (that one is the student's, as in the legacy README)."
)


def refuse_teacher_flags_without_teacher(ctx: typer.Context) -> None:
    """A teacher's flag given without -t would silently do nothing: refuse it, naming the flags as typed."""
    from slimdet.commands.distill_request import TEACHER_ONLY, refuse_teacher_options

    spelt = {param.name: param.opts[0] for param in ctx.command.params}
    refuse_teacher_options(
        [spelt[name] for name in TEACHER_ONLY if ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE]
    )


def run_training(ctx: typer.Context, title: str, *, require_plan: bool, options: Mapping[str, Any]) -> None:
    """Load the config(s), check (before a launch, when --nproc starts several processes), train (with the
    teacher when -t is given) and print the report. ``options`` are the command's parameters by name (its
    ``locals()`` as it starts: both commands take the same ones); ``require_plan``, distill-prune's: a pruning
    plan must be given."""
    from slimdet.commands.distill_request import DISTILL_FLAGS
    from slimdet.commands.training import TrainingJob

    passed = ("pruned_params", "pruned_ratios", "criterion", "resume", "seed", "teacher_config",
              "teacher_pretrained", "teacher_backend", "use_vdl", "vdl_log_dir")  # fmt: skip
    job = TrainingJob.from_flags(
        options["config"], overrides=options["overrides"] or (), teacher_overrides=options["teacher_overrides"] or (),
        eval=options["evaluate"], require_plan=require_plan, **{name: options[name] for name in passed},
        distill_flags={name: options[name] for name in DISTILL_FLAGS},
        **{name: options[name] for name in ("quant_aware", "not_quant_pattern") if name in options},  # train's
    )  # fmt: skip
    device = options["device"]
    relaunch_with_nproc(
        ctx, options["nproc"], job.cfg, device, job.check
    )  # --nproc: this command again, in N processes
    result = job.run(device=device, quiet=options["quiet"])
    if options["as_json"]:
        print_json(result.to_dict())
        return
    if job.distill is None:
        print_training(title, result, {"config": result.config})
        return
    head = {
        "student config": result.training.config,
        "teacher": f"{result.teacher_config} ({result.teacher_weights})",
        "teacher backend": result.teacher_backend,
        "teacher overrides": "\n".join(result.teacher_overrides) or "none",  # one per line: paths are long
        "distill weight": result.distill.describe(),
    }
    print_training(title, result.training, head, {"pruning plan": result.final_plan} if result.plan else None)
