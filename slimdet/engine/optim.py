"""Optimizer and learning-rate schedule from the legacy ``OptimizerBuilder`` and ``LearningRate`` sections.

Legacy semantics kept here (PaddleDetection 0.x ``ppdet/optimizer.py``):

* ``LearningRate.schedulers`` are applied in order: a decay built from ``base_lr`` (``PiecewiseDecay``),
  then ``LinearWarmup`` wrapped around it. A scalar ``gamma`` expands to ``gamma / 10**i`` per milestone
  (0.1 → [0.1, 0.01]), and each value is ``base_lr * gamma_i``; explicit ``values`` win.
* Warmup goes linearly from ``start_factor * base_lr`` (at step 0) towards ``base_lr``; milestones count
  from step 0, not from the end of warmup. Paddle's own ``LinearWarmup`` would shift a wrapped
  scheduler by ``warmup_steps``, which is why the schedule is one closed-form scheduler here.
* L2 decay with ``OptimizerBuilder.regularizer.factor`` applies to every parameter without a regularizer
  of its own; BN scale/offset and conv biases get none (``L2Decay(0.)``, as the legacy ParamAttrs set it).
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from typing import Any

import paddle
from paddle.optimizer.lr import LRScheduler
from paddle.regularizer import L1Decay, L2Decay

from slimdet.config.defaults import SECTION_DEFAULTS, section_with_defaults, with_tag_defaults
from slimdet.errors import ConfigError, did_you_mean

SCHEDULER_TYPES = ("PiecewiseDecay", "LinearWarmup")
REGULARIZERS = {"L2": L2Decay, "L1": L1Decay}


class WarmupPiecewiseDecay(LRScheduler):
    """Piecewise-constant LR with an optional linear warmup, computed from the step alone.

    ``lr(step) = start + (base_lr - start) * step / warmup_steps`` while ``step < warmup_steps``
    (``start = start_factor * base_lr``), else ``values[i]`` with ``i`` = number of milestones ≤ step.
    Being closed-form, its state is just the step, so resuming sets it exactly.
    """

    def __init__(
        self,
        base_lr: float,
        milestones: Sequence[int] = (),
        values: Sequence[float] | None = None,
        warmup_steps: int = 0,
        start_factor: float = 1.0,
        last_epoch: int = -1,
    ) -> None:
        self.milestones = [int(m) for m in milestones]
        self.values = [float(v) for v in values] if values is not None else [float(base_lr)]
        if len(self.values) != len(self.milestones) + 1:
            raise ValueError(
                f"{len(self.milestones)} milestones need {len(self.milestones) + 1} values, got {self.values}"
            )
        self.warmup_steps = int(warmup_steps)
        self.start_factor = float(start_factor)
        super().__init__(float(base_lr), last_epoch)

    def get_lr(self) -> float:
        step = self.last_epoch
        if step < self.warmup_steps:
            start = self.start_factor * self.base_lr
            return start + (self.base_lr - start) * step / self.warmup_steps
        return self.values[bisect.bisect_right(self.milestones, step)]


def build_lr_scheduler(cfg: Mapping[str, Any]) -> WarmupPiecewiseDecay:
    """The ``LearningRate`` section as a scheduler; raises ConfigError listing every problem."""
    section = section_with_defaults(cfg, "LearningRate")
    base_lr, schedulers = section["base_lr"], section["schedulers"]
    problems: list[str] = []
    if not isinstance(base_lr, (int, float)) or isinstance(base_lr, bool) or base_lr < 0:
        problems.append(f"LearningRate.base_lr must be a number ≥ 0, got {base_lr!r}")
        base_lr = SECTION_DEFAULTS["LearningRate"]["base_lr"]
    if not isinstance(schedulers, list):
        raise ConfigError(
            f"LearningRate.schedulers must be a list of !PiecewiseDecay / !LinearWarmup, got {schedulers!r}"
        )
    by_type: dict[str, dict[str, Any]] = {}
    for position, entry in enumerate(schedulers):
        kind = entry.get("type") if isinstance(entry, Mapping) else entry
        if kind not in SCHEDULER_TYPES:
            problems.append(
                f"LearningRate.schedulers[{position}]: {kind!r} is not supported; use one of "
                f"{', '.join(SCHEDULER_TYPES)}{did_you_mean(str(kind), SCHEDULER_TYPES)}"
            )
        elif kind in by_type:
            problems.append(f"LearningRate.schedulers lists {kind} twice; keep one")
        else:
            by_type[kind] = with_tag_defaults(entry if isinstance(entry, Mapping) else {"type": kind})
    milestones: list[int] = []
    values: list[float] = [float(base_lr)]
    if "PiecewiseDecay" in by_type:
        milestones, values, found = _piecewise(by_type["PiecewiseDecay"], float(base_lr))
        problems += found
    warmup_steps, start_factor = 0, 1.0
    if "LinearWarmup" in by_type:
        warmup_steps, start_factor = by_type["LinearWarmup"]["steps"], by_type["LinearWarmup"]["start_factor"]
        if not isinstance(warmup_steps, int) or isinstance(warmup_steps, bool) or warmup_steps < 0:
            problems.append(f"LinearWarmup.steps must be an integer ≥ 0, got {warmup_steps!r}")
        if not isinstance(start_factor, (int, float)) or not 0 <= start_factor <= 1:
            problems.append(f"LinearWarmup.start_factor must be a number in [0, 1], got {start_factor!r}")
    if problems:
        raise ConfigError("; ".join(problems))
    return WarmupPiecewiseDecay(float(base_lr), milestones, values, warmup_steps, float(start_factor))


def _piecewise(section: Mapping[str, Any], base_lr: float) -> tuple[list[int], list[float], list[str]]:
    """Milestones and LR values of a PiecewiseDecay entry (defaults filled in), plus any problems found."""
    milestones = section["milestones"]
    if not isinstance(milestones, list) or not all(isinstance(m, int) and not isinstance(m, bool) for m in milestones):
        return [], [base_lr], [f"PiecewiseDecay.milestones must be a list of integers, got {milestones!r}"]
    problems = []
    if milestones != sorted(set(milestones)) or any(m < 0 for m in milestones):
        problems.append(f"PiecewiseDecay.milestones must increase strictly from ≥ 0, got {milestones}")
    if section["values"] is not None:
        values = section["values"]
    else:
        gamma = section["gamma"]
        gammas = gamma if isinstance(gamma, list) else [gamma / 10**i for i in range(len(milestones))]
        if not all(isinstance(g, (int, float)) for g in gammas):
            return (
                [],
                [base_lr],
                problems + [f"PiecewiseDecay.gamma must be a number or a list of numbers, got {gamma!r}"],
            )
        values = [base_lr] + [base_lr * g for g in gammas]
    if len(values) != len(milestones) + 1:
        problems.append(
            f"PiecewiseDecay: {len(milestones)} milestones need {len(milestones)} gamma factors "
            f"or {len(milestones) + 1} values, which give {len(values)} LR values here"
        )
    return milestones, [float(v) for v in values], problems


def build_optimizer(
    cfg: Mapping[str, Any], model: paddle.nn.Layer
) -> tuple[paddle.optimizer.Optimizer, WarmupPiecewiseDecay]:
    """Momentum + weight decay over the model's trainable parameters, driven by the config's LR schedule.

    Parameters without a regularizer of their own and with one dimension (BN scale/offset, biases) are
    given ``L2Decay(0.)`` here, which is what the legacy layers declared; the global decay covers the rest.
    """
    section = section_with_defaults(cfg, "OptimizerBuilder")
    optimizer = with_tag_defaults(section["optimizer"] or {})
    regularizer = section["regularizer"]
    problems = []
    kind = optimizer.pop("type")
    if kind != "Momentum":
        problems.append(f"OptimizerBuilder.optimizer.type: {kind!r} is not supported (use Momentum)")
    unknown = sorted(set(optimizer) - {"momentum", "use_nesterov"})
    if unknown:
        problems.append(f"OptimizerBuilder.optimizer: unknown keys {unknown} (Momentum takes momentum, use_nesterov)")
    decay = None
    if regularizer:
        reg_type = regularizer.get("type")
        if reg_type not in REGULARIZERS:
            problems.append(
                f"OptimizerBuilder.regularizer.type: {reg_type!r} is not one of {sorted(REGULARIZERS)}"
                f"{did_you_mean(str(reg_type), REGULARIZERS)}"
            )
        else:
            decay = REGULARIZERS[reg_type](float(with_tag_defaults(regularizer)["factor"]))
    clip = section["clip_grad_by_norm"]
    try:
        scheduler = build_lr_scheduler(cfg)
    except ConfigError as err:
        problems.append(str(err))
    if problems:
        raise ConfigError("; ".join(problems))
    params = [p for p in model.parameters() if not p.stop_gradient]
    for param in params:
        if param.regularizer is None and len(param.shape) == 1:
            param.regularizer = L2Decay(0.0)
    return (
        paddle.optimizer.Momentum(
            learning_rate=scheduler,
            momentum=float(optimizer["momentum"]),
            use_nesterov=bool(optimizer["use_nesterov"]),
            parameters=params,
            weight_decay=decay,
            grad_clip=paddle.nn.ClipGradByGlobalNorm(float(clip)) if clip else None,
        ),
        scheduler,
    )
