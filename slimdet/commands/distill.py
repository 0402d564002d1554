"""Distillation's core: train a student with a frozen teacher's help, pruned first or not.

``slimdet distill-prune`` (the legacy ``slim/extensions/distill_pruned_model``) and ``slimdet train -t`` (the
legacy ``slim/distillation/distill.py``, which distilled an unpruned student a whole schedule) both run
``train_distilled``; distill-prune demands a plan, ``train -t`` takes one when pruning flags are given
(then it is exactly distill-prune). In this order (docs/legacy.md, "Distillation"):

1. pre-flight checks on the two configs and the flags (``slim.checks``): nothing is built or read
   until they pass, and every problem is reported at once;
2. the teacher is built (names prefixed ``teacher_``), its ``--teacher_pretrained`` weights loaded
   strictly (path, legacy folder/.tar or URL) and frozen: eval mode, no gradients, never in a
   checkpoint;
3. the student is trained by ``train``'s own assembly (``commands.train.train_from_config``): built,
   given its ``pretrain_weights`` (partial load), pruned by the plan when there is one (FLOPs and parameters
   reported before → after at the eval input size), trained with a ``DistillStep``; a pruned run's
   checkpoints get the plan as a ``.plan.json`` sidecar, so eval/export/infer rebuild the pruned structure alone.

``resume`` continues a run: a pruned structure comes from the resume checkpoint's sidecar (the
pruning flags may be left out; given, they must agree), the teacher is loaded again, and the engine
restores weights, optimizer, LR, iteration and random state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from slimdet.commands.distill_request import DistillRequest
from slimdet.commands.train import TrainRequest, TrainResult, train_from_config
from slimdet.config import Config
from slimdet.config.sizes import eval_input_size
from slimdet.engine.device import select_device
from slimdet.errors import PlanError
from slimdet.inference import resolve_backend
from slimdet.modeling.build import build_model
from slimdet.slim.checks import check_distillation
from slimdet.slim.distill import FrozenTeacher
from slimdet.slim.distill_settings import DistillSettings
from slimdet.slim.distill_step import DistillStep
from slimdet.slim.plan import PruneReport, PruningPlan, sidecar_path
from slimdet.slim.quant_settings import QuantAware
from slimdet.weights import load_weights

TEACHER_PREFIX = "teacher_"


@dataclass(frozen=True)
class DistillResult:
    """A distilled training: the teacher, the plan and what it cut (when pruned), and the student's training."""

    teacher_config: str
    teacher_weights: str
    teacher_backend: str  # what ran the teacher's forward: "inference" or "dygraph"
    distill: DistillSettings
    plan: PruningPlan | None
    training: TrainResult
    teacher_overrides: tuple[str, ...] = ()  # the -o/-to items that reached the teacher's config, in order

    @property
    def pruning(self) -> PruneReport | None:
        """FLOPs and parameters before → after, per pruned conv its channels (None: the student was not pruned)."""
        return self.training.pruning

    @property
    def final_plan(self) -> str | None:
        """The sidecar beside the final checkpoint (None when unpruned, or when the run wrote none, e.g. on
        another rank)."""
        final = self.training.final_checkpoint
        return str(sidecar_path(final)) if final and self.plan is not None else None

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.training.to_dict(),
            "teacher_config": self.teacher_config,
            "teacher_weights": self.teacher_weights,
            "teacher_backend": self.teacher_backend,
            "teacher_overrides": list(self.teacher_overrides),
            **self.distill.to_dict(),
            "plan": self.plan.to_dict() if self.plan is not None else None,
            "final_plan": self.final_plan,
        }


def train_distilled(
    student_cfg: Config, request: DistillRequest, *, device: str | None = None, quiet: bool = False
) -> DistillResult:
    """Train the student of ``student_cfg`` for ``max_iters`` steps, distilled from the teacher; pruned first
    when pruning flags are given (or a resumed checkpoint was pruned).

    Raises ``SlimdetError`` subclasses for every user mistake, before any training step; raises
    ``TrainingInterrupted`` after Ctrl-C or SIGTERM, once a resumable checkpoint (and its sidecar) is written.
    """
    training_request = check_distilled_run(student_cfg, request)
    assert request.teacher_pretrained  # the checks demand it
    teacher_cfg, distill = request.teacher_cfg, request.distill
    used = select_device(device, student_cfg.use_gpu)  # the teacher's tensors go where the student's will
    # The teacher sees every training image once: a run too short to pay for compiling it keeps dygraph.
    images = student_cfg.max_iters * student_cfg.train_batch_size
    size = eval_input_size(student_cfg.to_dict())
    backend = resolve_backend(request.teacher_backend, used, images=images, input_size=size)
    teacher = build_teacher(teacher_cfg.to_dict(), request.teacher_pretrained, compiled=backend == "inference",
                            tips=distill.feature > 0)  # fmt: skip
    step = DistillStep(teacher, distill, teacher_loss_every=student_cfg.log_iter)
    training = train_from_config(training_request, device=device, quiet=quiet, step=step)
    return DistillResult(
        teacher_config=teacher_cfg.name,
        teacher_weights=str(request.teacher_pretrained),
        teacher_backend=backend,
        distill=distill,
        plan=training_request.plan,
        training=training,
        teacher_overrides=teacher_cfg.overrides,
    )


def check_distilled_run(student_cfg: Config, request: DistillRequest) -> TrainRequest:
    """``train_distilled``'s pre-flight: the student's training request (its resume checkpoint, seed and plan
    resolved once), or one ``SlimdetError`` listing every problem, before anything is loaded (see
    ``slim.checks``). A command about to start several processes calls it first, so that a mistake is one
    line, not one per process."""
    # The resume point (checkpoint, seed, saved plan) as any training resolves it; the flags are checked below.
    quant = QuantAware.from_flags(request.quant_aware, request.not_quant_pattern)
    resumed = TrainRequest.resolve(student_cfg, resume=request.resume, seed=request.seed, eval=request.eval,
                                   quant=quant, vdl_log_dir=request.vdl_log_dir)  # fmt: skip
    if resumed.resume is not None and resumed.plan is None and request.require_plan:
        raise PlanError(
            f"{resumed.resume} has no pruning plan beside it ({sidecar_path(resumed.resume).name}): "
            "resume a checkpoint written by distill-prune (this one was not pruned)"
        )
    plan = check_distillation(
        student_cfg.to_dict(),
        request.teacher_cfg.to_dict(),
        pruned_params=request.pruned_params,
        pruned_ratios=request.pruned_ratios,
        teacher_pretrained=request.teacher_pretrained,
        criterion=request.criterion,
        saved_plan=resumed.plan,
        require_plan=request.require_plan,
        teacher_backend=request.teacher_backend,
        distill=request.distill,
        evaluate=request.eval,
    )
    return replace(resumed, plan=plan)


def build_teacher(
    teacher_cfg: Mapping[str, Any], weights: str, *, compiled: bool = False, tips: bool = False
) -> FrozenTeacher:
    """The teacher of ``teacher_cfg`` with ``weights`` loaded strictly, frozen (a ``FrozenTeacher``).

    Its loss is always the fine-grained one, whatever its config says: ``teacher_loss`` is reported
    next to the student's fine-grained loss, as the legacy script (whose ``-o
    use_fine_grained_loss=true`` reached the teacher too) printed it. ``compiled`` runs its forward
    through Paddle Inference (see ``FrozenTeacher``), its graph also giving the tip feature maps with ``tips``
    (a dygraph teacher always can).
    """
    cfg = {**teacher_cfg, "use_fine_grained_loss": True}
    if compiled:
        return FrozenTeacher.compiled_from(cfg, weights, prefix=TEACHER_PREFIX, tips=tips)
    model = build_model(cfg, name_prefix=TEACHER_PREFIX, random_init=False)  # loaded strictly next
    load_weights(model, weights, strict=True)
    return FrozenTeacher(model)
