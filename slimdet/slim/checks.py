"""Pre-flight checks for ``distill-prune`` and ``train`` (with or without a teacher): configs, flags and
folders, before any weight or data is read.

Loading two detectors' weights (downloads, with URLs) and reading data takes minutes on a CPU; a wrong
flag should cost a second. The pruned names are checked against the student's architecture built
without weights (a second on a CPU). Every problem is collected and reported together, each as one
clause with its fix.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from slimdet.config.defaults import section_with_defaults
from slimdet.config.geometry import HEAD_SECTION
from slimdet.data.build import dataset_folder_problems
from slimdet.errors import ConfigError, PlanError, SlimdetError, did_you_mean
from slimdet.inference import BACKENDS as TEACHER_BACKENDS
from slimdet.slim.distill_settings import DistillSettings
from slimdet.slim.plan import PruningPlan, resolve_plan


def check_distillation(
    student: Mapping[str, Any],
    teacher: Mapping[str, Any],
    *,
    pruned_params: str | None,
    pruned_ratios: str | None,
    teacher_pretrained: str | None,
    criterion: str = "l1_norm",
    saved_plan: PruningPlan | None = None,
    require_plan: bool = True,
    teacher_backend: str = "auto",
    distill: DistillSettings = DistillSettings(),
    evaluate: bool = False,
) -> PruningPlan | None:
    """Check a distillation request (``distill-prune``, or ``train -t``) and return its pruning plan; one
    ``SlimdetError`` lists every problem.

    ``student`` and ``teacher`` are merged configs shaped like ``Config.to_dict()``; the flags are the
    command's raw strings; ``saved_plan`` is a resumed checkpoint's (the flags, when given, must agree with it);
    ``require_plan`` (distill-prune) makes a missing plan a problem, where ``train -t`` distils an unpruned
    student; ``evaluate`` (--eval) adds the EvalReader's folders to the checks.
    """
    problems = []
    if distill.method == "split" and not student.get("use_fine_grained_loss"):  # l2 compares the raw outputs
        problems.append(
            "distillation needs the split YOLOv3 outputs but use_fine_grained_loss is false in the student "
            "config: set -o use_fine_grained_loss=true"
        )
    problems += _disagreements(student, teacher)
    plan = None
    try:
        plan = resolve_plan(PruningPlan.from_flags(pruned_params, pruned_ratios, criterion), saved_plan)
    except PlanError as err:
        problems.append(str(err))
    else:
        if plan is None and require_plan:
            problems.append(
                "--pruned_params is required: name the conv weights to prune (list them with `slimdet params`)"
            )
    problems += training_problems(student, plan, evaluate=evaluate, weights="the student's pretrain_weights")
    problems += _teacher_weights_problems(teacher_pretrained)
    if teacher_backend not in TEACHER_BACKENDS:
        problems.append(
            f"unknown teacher backend '{teacher_backend}'{did_you_mean(teacher_backend, TEACHER_BACKENDS)}: "
            f"choose one of {', '.join(TEACHER_BACKENDS)}"
        )
    problems += distill.problems()
    if problems:
        raise SlimdetError("; ".join(problems))
    return plan


def training_problems(
    cfg: Mapping[str, Any], plan: PruningPlan | None, *, evaluate: bool, weights: str = "pretrain_weights"
) -> list[str]:
    """What would stop a training run of ``cfg`` (pruned by ``plan``) before its first step, found without
    reading weights or data: the plan against the architecture, a local ``pretrain_weights`` path (called
    ``weights`` in the message), the TrainReader's dataset folders (and the EvalReader's with ``evaluate``)."""
    problems = _plan_problems(cfg, plan) if plan is not None else []
    problems += _weights_problems(cfg.get("pretrain_weights"), weights)
    for split in ("train", "eval") if evaluate else ("train",):
        problems += dataset_folder_problems(cfg, split)
    return problems


def _disagreements(student: Mapping[str, Any], teacher: Mapping[str, Any]) -> list[str]:
    """The teacher must predict the same classes with the same anchors, or its outputs mean something else."""
    mine, theirs = _output_layout(student), _output_layout(teacher)
    return [
        f"student and teacher disagree on {key} ({mine[key]} vs {theirs[key]}): "
        f"give the teacher config the student's {key}, or use a teacher trained for them"
        for key in mine
        if _normalised(mine[key]) != _normalised(theirs[key])
    ]


def _output_layout(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """num_classes, anchors and masks as ``build_model`` reads them, legacy defaults filled in."""
    head = section_with_defaults(cfg, HEAD_SECTION)
    return {
        "num_classes": cfg.get("num_classes"),  # a required global: every loaded config has it
        f"{HEAD_SECTION}.anchors": [list(a) for a in head["anchors"]],
        f"{HEAD_SECTION}.anchor_masks": [list(m) for m in head["anchor_masks"]],
    }


def _normalised(value: Any) -> Any:
    """Compare numbers by value (10 == 10.0) and lists element-wise."""
    if isinstance(value, (list, tuple)):
        return [_normalised(item) for item in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return value


def _plan_problems(student: Mapping[str, Any], plan: PruningPlan) -> list[str]:
    """The plan against the student's architecture, built without weights (nothing read or downloaded)."""
    from slimdet.modeling.build import build_model

    try:
        model = build_model(student, random_init=False)  # names and shapes only
    except ConfigError as err:
        return [str(err)]
    return plan.problems(model)


def _teacher_weights_problems(source: str | None) -> list[str]:
    if not source:
        return [
            "--teacher_pretrained is required: give the teacher's weights "
            "(a .pdparams file, a legacy weights folder or .tar, or a URL)"
        ]
    return _weights_problems(source, "--teacher_pretrained")


def _weights_problems(source: str | None, what: str) -> list[str]:
    """A local weights path that is not there (URLs are downloaded, and checked, by the weights loader)."""
    if not source or "://" in source:
        return []
    if os.path.exists(source) or os.path.exists(source + ".pdparams"):
        return []
    return [f"{what} '{source}' does not exist: check the path"]
