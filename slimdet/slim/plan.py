"""The pruning plan: which conv filters to remove, checked, printed, applied, saved and replayed.

A plan is plain data (legacy parameter names → share of output channels removed, plus the criterion
that picks which channels go). It is validated against a model before anything is cut, can be shown as
a table of shapes before → after, is applied through :mod:`slimdet.slim.pruner` (PaddleSlim), and is
saved as ``<checkpoint>.plan.json`` beside every checkpoint so that eval/export/infer can rebuild the
pruned structure from the weights file alone.

Channel rule (legacy and PaddleSlim alike): a conv with C filters pruned at ratio r loses
``int(round(C·r))`` filters (Python's round), the lowest-scoring ones under the criterion.
"""

from __future__ import annotations

import math
import os
import re
import types
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from paddle import nn

from slimdet.errors import PlanError, did_you_mean
from slimdet.slim.flops import count_conv_macs, parameter_mib
from slimdet.slim.sidecar import Sidecar

Criterion = Literal["l1_norm", "fpgm"]
CRITERIA: dict[str, Criterion] = {
    "l1_norm": "l1_norm",
    "fpgm": "fpgm",
    "geometry_median": "fpgm",  # the legacy tools' name for FPGM
}
PLAN_SIDECAR = Sidecar(
    ".plan.json", "slimdet-pruning-plan", 1, "pruning plan", "delete it or save the checkpoint again", PlanError
)
FLOATS_PER_MIB = 2**20 // 4  # parameter_mib counts float32 values


def removed_channels(channels: int, ratio: float) -> int:
    """How many of ``channels`` filters a ratio removes: ``int(round(C·r))``, as PaddleSlim and the legacy tools."""
    return int(round(channels * ratio))


def prunable_convs(model) -> dict[str, list[int]]:
    """Conv weights a plan may name, with their shapes, in model order.

    Prunable means a plain convolution (4-D weight, groups == 1). Depthwise convs follow the conv
    that feeds them and cannot lead; ``yolo_output.*`` convs produce the detection layout
    (anchors × (5 + classes)) and must keep every channel.
    """
    return {
        layer.weight.name: list(layer.weight.shape)
        for layer in model.sublayers()
        if isinstance(layer, nn.Conv2D)
        and layer._groups == 1
        and len(layer.weight.shape) == 4
        and not _is_output_conv(layer.weight.name)
    }


def _is_output_conv(name: str) -> bool:
    # A teacher built with a name prefix has e.g. 'teacher_yolo_output.0.conv.weights'.
    return name.startswith("yolo_output.") or "_yolo_output." in name


@dataclass(frozen=True)
class PlanRow:
    """One line of ``PruningPlan.describe``: a conv weight's shape before and after pruning."""

    name: str
    ratio: float
    shape_before: tuple[int, ...]
    shape_after: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "shape_before": list(self.shape_before), "shape_after": list(self.shape_after)}


@dataclass(frozen=True)
class PrunedParam:
    """What happened to one listed conv: its filters before → after and the tensors cut along with it."""

    name: str
    ratio: float
    channels_before: int
    channels_after: int
    pulled_along: tuple[str, ...]  # 'name[axis k]': its BN's four tensors, the next convs' weights (axis 1)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "pulled_along": list(self.pulled_along)}


def _reduction(before: float, after: float) -> float:
    """Reduction in percent (positive when ``after`` is smaller)."""
    return 100.0 * (before - after) / before if before else 0.0


@dataclass(frozen=True)
class PruneReport:
    """FLOPs (legacy conv MACs / 2^30) and parameters before → after, and per pruned conv its channels."""

    criterion: Criterion
    input_size: int  # FLOPs are counted for a 1×3×S×S input
    gflops_before: float
    gflops_after: float
    params_before: int
    params_after: int
    rows: tuple[PrunedParam, ...]

    @property
    def mib_before(self) -> float:
        return self.params_before / FLOATS_PER_MIB

    @property
    def mib_after(self) -> float:
        return self.params_after / FLOATS_PER_MIB

    @property
    def flops_reduction(self) -> float:
        return _reduction(self.gflops_before, self.gflops_after)

    @property
    def params_reduction(self) -> float:
        return _reduction(self.params_before, self.params_after)

    def to_dict(self) -> dict[str, Any]:
        return {
            "criterion": self.criterion,
            "input_size": self.input_size,
            "gflops_before": self.gflops_before,
            "gflops_after": self.gflops_after,
            "flops_reduction_pct": self.flops_reduction,
            "params_before": self.params_before,
            "params_after": self.params_after,
            "mib_before": self.mib_before,
            "mib_after": self.mib_after,
            "params_reduction_pct": self.params_reduction,
            "rows": [row.to_dict() for row in self.rows],
        }


@dataclass(frozen=True)
class PruningPlan:
    """Legacy conv weight names → share of their output channels to remove, and how to pick them.

    Nothing else: the input size FLOPs are counted at is an argument of ``apply`` (what measures them),
    since it does not change the pruned structure.
    """

    ratios: Mapping[str, float]
    criterion: Criterion = "l1_norm"

    def __post_init__(self) -> None:
        problems = []
        if not self.ratios:
            problems.append("the plan names no parameters: give --pruned_params")
        bad = [f"{name}={ratio}" for name, ratio in self.ratios.items() if not 0.0 < float(ratio) < 1.0]
        if bad:
            problems.append(
                f"pruning ratios must lie strictly between 0 and 1, got {', '.join(bad)}: "
                "use e.g. 0.5 to remove half of the filters"
            )
        if self.criterion not in CRITERIA:
            problems.append(
                f"unknown pruning criterion '{self.criterion}'{did_you_mean(self.criterion, CRITERIA)}: "
                "use l1_norm or fpgm"
            )
        if problems:
            raise PlanError("; ".join(problems))
        # Normalise and freeze: a read-only copy, floats, and the modern criterion name.
        ratios = types.MappingProxyType({str(k): float(v) for k, v in self.ratios.items()})
        object.__setattr__(self, "ratios", ratios)
        object.__setattr__(self, "criterion", CRITERIA[self.criterion])

    @classmethod
    def from_flags(
        cls,
        pruned_params: str | None,
        pruned_ratios: str | None,
        criterion: str = "l1_norm",
    ) -> PruningPlan | None:
        """Parse ``--pruned_params``/``--pruned_ratios`` as the legacy tools took them; None when neither is given.

        Both lists may be comma- or space-separated (the legacy prune tool split on commas, the
        sensitivity tool on spaces). One ratio applies to every name.
        """
        if pruned_params is None and pruned_ratios is None:
            return None
        names = split_list_flag(pruned_params)
        ratio_words = split_list_flag(pruned_ratios)
        if not names:
            raise PlanError("--pruned_ratios was given without --pruned_params: name the conv weights to prune")
        if not ratio_words:
            raise PlanError("--pruned_params needs --pruned_ratios: give one ratio per name, or one ratio for all")
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise PlanError(f"--pruned_params lists {', '.join(duplicates)} more than once: list each name once")
        ratios = [_parse_ratio(word) for word in ratio_words]
        if len(ratios) == 1:
            ratios = ratios * len(names)
        elif len(ratios) != len(names):
            raise PlanError(
                f"--pruned_params has {len(names)} names but --pruned_ratios has {len(ratios)} ratios: "
                "give one ratio per name, or a single ratio for all"
            )
        ratios_by_name = dict(zip(names, ratios))
        return cls(ratios=ratios_by_name, criterion=criterion)  # type: ignore[arg-type]

    def problems(self, model) -> list[str]:
        """Everything that keeps this plan from applying to ``model``, one clause with its fix each."""
        prunable = prunable_convs(model)
        params = {p.name: list(p.shape) for p in model.parameters()}
        problems = []
        for name, ratio in self.ratios.items():
            if name not in params:
                problems.append(
                    f"'{name}' is not a parameter of this model{did_you_mean(name, prunable)}: "
                    "list prunable names with `slimdet params`"
                )
            elif name not in prunable:
                problems.append(f"'{name}' cannot be pruned: {_why_not_prunable(model, name)}")
            else:
                channels = prunable[name][0]
                if removed_channels(channels, ratio) >= channels:
                    problems.append(
                        f"ratio {ratio} removes all {channels} filters of '{name}': "
                        f"use a ratio below {(channels - 0.5) / channels:.4g}"
                    )
        return problems

    def check(self, model) -> None:
        """Raise one ``PlanError`` listing every problem of this plan on ``model``."""
        problems = self.problems(model)
        if problems:
            raise PlanError("; ".join(problems))

    def describe(self, model) -> list[PlanRow]:
        """The listed conv weights' shapes before → after, without touching the model."""
        self.check(model)
        shapes = prunable_convs(model)
        rows = []
        for name, ratio in self.ratios.items():
            before = shapes[name]
            after = [before[0] - removed_channels(before[0], ratio), *before[1:]]
            rows.append(PlanRow(name=name, ratio=ratio, shape_before=tuple(before), shape_after=tuple(after)))
        return rows

    def apply(self, model, *, input_size: int) -> PruneReport:
        """Prune ``model`` in place (PaddleSlim) and report FLOPs (at a square ``input_size``) and parameters
        before → after.

        Raises ``PlanError`` (model untouched) when the plan does not fit the model. Prune before
        building the optimizer: its accumulators would keep the unpruned shapes.
        """
        if int(input_size) <= 0:
            raise PlanError(f"input size must be positive, got {input_size}")
        self.check(model)
        gflops_before = count_conv_macs(model, input_size).gflops
        params_before = _parameter_count(model)
        rows = self.prune(model)
        return PruneReport(
            criterion=self.criterion,
            input_size=int(input_size),
            gflops_before=gflops_before,
            gflops_after=count_conv_macs(model, input_size).gflops,
            params_before=params_before,
            params_after=_parameter_count(model),
            rows=rows,
        )

    def prune(self, model) -> tuple[PrunedParam, ...]:
        """Prune ``model`` in place without counting FLOPs (which costs two forward passes).

        What replaying a saved plan on a fresh model needs before loading pruned weights; ``apply``
        adds the before → after report. Raises ``PlanError`` (model untouched) like ``apply``.
        """
        self.check(model)  # before paddleslim loads (seconds): a misspelt name is reported at once
        from slimdet.slim.pruner import prune_filters

        groups = prune_filters(model, self.ratios, criterion=self.criterion)
        rows = []
        for name, ratio in self.ratios.items():
            own, *others = groups[name]
            rows.append(
                PrunedParam(
                    name=name,
                    ratio=ratio,
                    channels_before=own.size_before,
                    channels_after=own.size_after,
                    pulled_along=tuple(f"{cut.name}[axis {cut.axis}]" for cut in others),
                )
            )
        return tuple(rows)

    def to_dict(self) -> dict[str, Any]:
        return {"ratios": dict(self.ratios), "criterion": self.criterion}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PruningPlan:
        """Rebuild a plan saved with ``to_dict`` (PlanError when it is malformed).

        Sidecars written before the plan lost its input size still carry ``input_size``; it is ignored.
        """
        ratios = data.get("ratios")
        if not isinstance(ratios, Mapping):
            raise PlanError("a saved pruning plan needs a 'ratios' mapping of parameter name to ratio")
        try:
            return cls(
                ratios={str(k): float(v) for k, v in ratios.items()},
                criterion=data.get("criterion", "l1_norm"),
            )
        except (TypeError, ValueError) as err:
            raise PlanError(f"a saved pruning plan has a non-numeric value ({err})") from None

    def same_structure(self, other: PruningPlan) -> bool:
        """True when both plans cut the same convs by the same ratios (the criterion does not change shapes)."""
        return self.ratios.keys() == other.ratios.keys() and all(
            math.isclose(ratio, other.ratios[name], rel_tol=0, abs_tol=1e-9) for name, ratio in self.ratios.items()
        )


def split_list_flag(text: str | None) -> list[str]:
    """Split a legacy list flag on commas and/or whitespace."""
    return [word for word in re.split(r"[,\s]+", text or "") if word]


def _parse_ratio(word: str) -> float:
    try:
        return float(word)
    except ValueError:
        raise PlanError(f"--pruned_ratios value '{word}' is not a number: use e.g. 0.5") from None


def _why_not_prunable(model, name: str) -> str:
    if _is_output_conv(name):
        return "its output channels are the detections (anchors × (5 + classes)), prune the tip conv before it instead"
    for layer in model.sublayers():
        if isinstance(layer, nn.Conv2D) and layer.weight.name == name and layer._groups != 1:
            return (
                f"it is a depthwise/grouped convolution (groups={layer._groups}), "
                "prune the convolution that feeds it instead (it follows along)"
            )
    return "it is not a convolution weight, name a conv's weights instead"


def _parameter_count(model) -> int:
    return round(parameter_mib(model) * FLOATS_PER_MIB)


def sidecar_path(checkpoint_path: str | os.PathLike[str]) -> Path:
    """``out/model_final.pdparams`` (or the legacy prefix ``out/model_final``) → ``out/model_final.plan.json``."""
    return PLAN_SIDECAR.path(checkpoint_path)


def save_plan(plan: PruningPlan, checkpoint_path: str | os.PathLike[str]) -> Path:
    """Write ``plan`` beside a checkpoint, atomically (a crash never leaves half a file). Returns its path."""
    return PLAN_SIDECAR.save(plan.to_dict(), checkpoint_path)


def load_plan(checkpoint_path: str | os.PathLike[str]) -> PruningPlan | None:
    """The plan saved beside a checkpoint, or None when it was never pruned (no sidecar)."""
    document = PLAN_SIDECAR.load(checkpoint_path)
    return None if document is None else PruningPlan.from_dict(document)


def resolve_plan(flags_plan: PruningPlan | None, sidecar_plan: PruningPlan | None) -> PruningPlan | None:
    """The plan to rebuild a checkpoint with: from the flags, the sidecar, or both when they agree.

    When both exist and cut different convs or by different ratios, the checkpoint's weights cannot
    fit the structure the flags ask for, so that is an error.
    """
    if flags_plan is None or sidecar_plan is None:
        return flags_plan or sidecar_plan
    if not flags_plan.same_structure(sidecar_plan):
        raise PlanError(
            "--pruned_params/--pruned_ratios contradict the checkpoint's saved plan "
            f"({_summary(sidecar_plan)}): drop the flags to use the saved plan, or pass matching ones"
        )
    return sidecar_plan  # it also records the criterion actually used


def _summary(plan: PruningPlan) -> str:
    return ", ".join(f"{name}={ratio:g}" for name, ratio in plan.ratios.items())
