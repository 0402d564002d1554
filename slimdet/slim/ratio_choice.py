"""From a sensitivity table to ``--pruned_params``/``--pruned_ratios``: for a loss threshold or a FLOPs target.

For a loss threshold L each conv gets the largest ratio whose loss is ≤ L, linearly interpolated
towards the next measured ratio (PaddleSlim's ``get_ratios_by_loss``); a conv whose smallest ratio
already loses more is left alone. The chosen ratios only grow with L, and so does the FLOPs cut, so
for a FLOPs target the smallest L that reaches it is found by bisection. FLOPs are the legacy unit
(conv MACs, :mod:`slimdet.slim.flops`) of the config's model, counted once; for a candidate plan each
conv's MACs are rescaled by how many of its output and input channels remain (MACs are proportional to
both), with the channels PaddleSlim would cut read from a pruner traced once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from slimdet.errors import SlimdetError
from slimdet.slim.sensitivity_table import SensitivityTable

# The model (paddle, PaddleSlim) is imported inside functions on purpose: ratios for a loss threshold come
# from the file alone, and only a FLOPs target needs a model, after its config has been checked.

RATIO_DECIMALS = 4  # printed ratios are cut (not rounded) to this many decimals, so their loss stays ≤ L
BISECTION_STEPS = 60


def ratio_for_loss(points: Sequence[tuple[float, float]], threshold: float) -> float:
    """The largest ratio whose loss is ≤ ``threshold`` among (ratio, loss) points, interpolated towards the next.

    Scanning from the largest ratio down, the first point within the threshold is taken; if a larger
    ratio follows, the ratio moves towards it in proportion to the loss left. 0 when none is within.
    """
    points = sorted(points)
    for i in range(len(points) - 1, -1, -1):
        r0, l0 = points[i]
        if l0 <= threshold:
            if i == len(points) - 1:
                return r0
            r1, l1 = points[i + 1]  # l1 > threshold ≥ l0: the scan passed it
            return r0 + (threshold - l0) * (r1 - r0) / (l1 - l0)
    return 0.0


def expected_loss(points: Sequence[tuple[float, float]], ratio: float) -> float:
    """The loss at ``ratio`` read off the piecewise-linear curve through (0, 0) and the measured points."""
    ratios, losses = zip(*sorted([(0.0, 0.0), *points]))
    return float(np.interp(ratio, ratios, losses))


def truncate(ratio: float, decimals: int = RATIO_DECIMALS) -> float:
    """Cut a ratio to ``decimals`` places (towards 0, with a little slack for binary noise such as 0.3·10⁴)."""
    scale = 10**decimals
    return math.floor(ratio * scale + 1e-6) / scale


def ratios_by_loss(table: SensitivityTable, threshold: float) -> dict[str, float]:
    """Every measured conv's ratio for ``threshold``, truncated for printing; convs that get 0 are left out."""
    ratios = {}
    for param in measured_params(table):
        ratio = truncate(ratio_for_loss(table.losses(param), threshold))
        if ratio > 0:
            ratios[param] = ratio
    return ratios


@dataclass(frozen=True)
class RatiosResult:
    """The chosen ratios, what they are expected to cost and save, and the strings to paste."""

    target: str  # "loss" or "flops"
    target_value: float
    threshold: float  # the loss threshold the ratios were read at
    ratios: Mapping[str, float]
    expected_losses: Mapping[str, float]  # per conv, at its ratio, measured alone
    not_pruned: tuple[str, ...]  # measured convs whose smallest ratio already loses more than the threshold
    flops_cut: float | None = None  # share of conv FLOPs removed (None: no config to count with)
    input_size: int | None = None
    on_pruned_model: bool = False  # the analysed checkpoint was pruned already: ratios apply on top of its plan
    worst_expected_loss: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "worst_expected_loss", max(self.expected_losses.values()))

    @property
    def pruned_params(self) -> str:
        return ",".join(self.ratios)

    @property
    def pruned_ratios(self) -> str:
        return ",".join(repr(r) for r in self.ratios.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "target_value": self.target_value,
            "threshold": self.threshold,
            "ratios": dict(self.ratios),
            "expected_losses": dict(self.expected_losses),
            "worst_expected_loss": self.worst_expected_loss,
            "not_pruned": list(self.not_pruned),
            "flops_cut": self.flops_cut,
            "input_size": self.input_size,
            "on_pruned_model": self.on_pruned_model,
            "pruned_params": self.pruned_params,
            "pruned_ratios": self.pruned_ratios,
        }


class ConvFlops:
    """The share of a model's conv FLOPs a set of ratios removes, without pruning the model.

    ``cut`` is cached by the channel counts the ratios remove, since bisection asks for many ratios
    that cut the same channels.
    """

    def __init__(self, model: Any, input_size: int, *, criterion: str) -> None:
        from slimdet.slim.flops import count_conv_macs
        from slimdet.slim.pruner import TracedPruner

        self.input_size = input_size
        self._macs = count_conv_macs(model, input_size)
        self._shapes = {p.name: list(p.shape) for p in model.parameters()}
        self._pruner = TracedPruner(model, criterion=criterion)
        self._cache: dict[tuple[tuple[str, int], ...], float] = {}

    def macs_after(self, ratios: Mapping[str, float]) -> int:
        """Conv MACs once ``ratios`` are applied: each conv's MACs × (C_out'·C_in') / (C_out·C_in)."""
        after = self._pruner.shapes_after(ratios) if ratios else self._shapes
        total = 0
        for name, macs in self._macs.per_weight.items():
            before, now = self._shapes[name], after[name]
            total += macs // (before[0] * before[1]) * now[0] * now[1]
        return total

    def cut(self, ratios: Mapping[str, float]) -> float:
        from slimdet.slim.plan import removed_channels

        key = tuple(sorted((name, removed_channels(self._shapes[name][0], r)) for name, r in ratios.items()))
        if key not in self._cache:
            self._cache[key] = 1.0 - self.macs_after(ratios) / self._macs.total
        return self._cache[key]


def ratios_for_flops(
    table: SensitivityTable, target: float, flops_cut: Callable[[Mapping[str, float]], float]
) -> tuple[float, dict[str, float]]:
    """The smallest loss threshold whose ratios cut at least ``target`` of the FLOPs, and those ratios.

    ``flops_cut(ratios)`` gives the share removed. Raises when even every conv at its largest measured
    ratio falls short.
    """
    losses = [loss for param in measured_params(table) for _, loss in table.losses(param)]
    high = max(losses)  # every conv at its largest measured ratio
    best = flops_cut(ratios_by_loss(table, high))
    if best < target:
        raise SlimdetError(
            f"--target-flops {target:g} is out of reach: the analysed convs at their largest measured ratios "
            f"cut {best:.1%} of the FLOPs; lower the target, or analyse more convs or larger ratios"
        )
    low = min(losses) - 1.0  # below every loss: nothing is pruned, nothing is cut
    for _ in range(BISECTION_STEPS):
        middle = (low + high) / 2
        if flops_cut(ratios_by_loss(table, middle)) >= target:
            high = middle
        else:
            low = middle
    return high, ratios_by_loss(table, high)


def measured_params(table: SensitivityTable) -> list[str]:
    """Params with at least one result, in the table's order."""
    return [param for param in dict.fromkeys([*table.params, *table.results]) if table.results.get(param)]
