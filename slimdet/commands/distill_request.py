"""What a distilled training asks for, as one frozen value (paddle-free: the launching process builds it).

``distill-prune`` and ``train -t`` (and ``slimdet.api``'s ``distill_prune`` and ``train``) turn their options
into a ``DistillRequest`` (through ``commands.training.TrainingJob``); the pre-flight checks and the run
(``commands.distill``) both take it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slimdet.config import Config
from slimdet.errors import SlimdetError
from slimdet.slim.distill_settings import DEFAULT_DISTILL_WEIGHT as DEFAULT_DISTILL_WEIGHT  # the flag's default
from slimdet.slim.distill_settings import DistillSettings

# The distillation settings' options (their Python names), as ``DistillRequest.from_flags`` takes them.
DISTILL_FLAGS = (
    "distill_weight",
    "distill_balance",
    "distill_temperature",
    "distill_confidence",
    "distill_feature",
    "distill_method",
)
# The options above and the teacher's own: they mean nothing without a teacher config.
TEACHER_ONLY = ("teacher_pretrained", *DISTILL_FLAGS, "teacher_backend", "teacher_overrides")


@dataclass(frozen=True)
class DistillRequest:
    """A distilled training as the command line asks for it: the teacher (its merged config and weights), the
    distillation settings, and the student's pruning flags, resume point and seed. The pruning flags are the
    command's raw strings (comma- or space-separated lists, one ratio for all allowed) so that the pre-flight
    checks report their problems together with the others; ``require_plan`` (distill-prune) demands a plan.
    ``teacher_backend`` runs the teacher's forward as a Paddle Inference graph ("inference", several times faster
    on a CPU) or in dygraph; "auto" picks inference on a CPU, unless the run is too short to pay for compiling
    (``inference.resolve_backend``), and dygraph on a GPU."""

    teacher_cfg: Config
    teacher_pretrained: str | None
    pruned_params: str | None = None
    pruned_ratios: str | None = None
    criterion: str = "l1_norm"
    require_plan: bool = False
    distill: DistillSettings = field(default_factory=DistillSettings)
    teacher_backend: str = "auto"
    eval: bool = False
    resume: str | Path | None = None
    seed: int = 0
    quant_aware: bool = False  # train -t --quant-aware: the student fine-tunes with fake-quant ops
    not_quant_pattern: str | None = None
    vdl_log_dir: Path | None = None  # the VisualDL log's folder (None: no log), as for any training

    @classmethod
    def from_flags(cls, teacher_cfg: Config, *, distill_flags: Mapping[str, Any], **request: Any) -> DistillRequest:
        """The request with its distillation settings as the command's ``--distill-*`` values (``distill_flags``:
        ``distill_weight`` … ``distill_method``, by parameter name); ``request``: the other fields by name."""
        prefix = "distill_"
        settings = DistillSettings(**{name.removeprefix(prefix): value for name, value in distill_flags.items()})
        return cls(teacher_cfg, distill=settings, **request)


def refuse_teacher_options(given: Sequence[str]) -> None:
    """Teacher options (``given``, named as the caller spelt them) without a teacher config would silently do
    nothing: one ``SlimdetError`` naming them."""
    if given:
        verb = "needs" if len(given) == 1 else "need"
        raise SlimdetError(f"{', '.join(given)} {verb} a teacher: add -t TEACHER_CONFIG --teacher_pretrained WEIGHTS")
