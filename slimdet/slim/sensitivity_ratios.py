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
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from slimdet.errors import SlimdetError
from slimdet.slim.sensitivity_file import SensitivityTable, load_table

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
    for param in _measured(table):
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
    losses = [loss for param in _measured(table) for _, loss in table.losses(param)]
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


def choose_ratios(
    path: str | os.PathLike[str],
    *,
    target_loss: float | None = None,
    target_flops: float | None = None,
    config: str | os.PathLike[str] | None = None,
    overrides: Sequence[str] = (),
) -> RatiosResult:
    """``slimdet sensitivity ratios``: ratios for a loss threshold or a FLOPs target, from a sensitivity file."""
    if (target_loss is None) == (target_flops is None):
        raise SlimdetError("give exactly one of --target-loss L (e.g. 0.05) and --target-flops R (e.g. 0.5)")
    if target_flops is not None and not 0.0 < target_flops < 1.0:
        raise SlimdetError(
            f"--target-flops is the share of FLOPs to remove, strictly between 0 and 1; got {target_flops:g}"
        )
    if target_flops is not None and config is None:
        raise SlimdetError("--target-flops counts the model's FLOPs: give its config with -c CONFIG")
    table = load_table(path)
    if not _measured(table):
        raise SlimdetError(f"{path} holds no results yet: run (or resume) `slimdet sensitivity -s {path}` first")
    flops = _conv_flops(table, config, overrides) if config is not None else None
    if target_flops is not None:
        threshold, ratios = ratios_for_flops(table, target_flops, flops.cut)
    else:
        threshold, ratios = target_loss, ratios_by_loss(table, target_loss)
        if not ratios:
            smallest = min(loss for param in _measured(table) for _, loss in table.losses(param)[:1])
            raise SlimdetError(
                f"no conv stays within loss {target_loss:g} even at its smallest measured ratio (the smallest "
                f"such loss is {smallest:.4g}): raise --target-loss, or measure smaller ratios"
            )
    return RatiosResult(
        target="flops" if target_flops is not None else "loss",
        target_value=target_flops if target_flops is not None else target_loss,
        threshold=threshold,
        ratios=ratios,
        expected_losses={name: expected_loss(table.losses(name), ratio) for name, ratio in ratios.items()},
        not_pruned=tuple(name for name in _measured(table) if name not in ratios),
        flops_cut=flops.cut(ratios) if flops is not None else None,
        input_size=flops.input_size if flops is not None else None,
        on_pruned_model=bool(table.model.get("plan")),
    )


def _measured(table: SensitivityTable) -> list[str]:
    """Params with at least one result, in the table's order."""
    return [param for param in dict.fromkeys([*table.params, *table.results]) if table.results.get(param)]


def _conv_flops(table: SensitivityTable, config: str | os.PathLike[str], overrides: Sequence[str]) -> ConvFlops:
    """The FLOPs counter of the config's model, checked against the model the table measured."""
    from slimdet.config import load_config

    data = load_config(Path(config), overrides).to_dict()  # a bad config fails before paddle is imported

    from slimdet.config.sizes import eval_input_size
    from slimdet.modeling.build import build_model
    from slimdet.slim.plan import PruningPlan

    model = build_model(data)
    measured = {key: table.model.get(key) for key in ("architecture", "backbone", "num_classes")}
    built = {
        "architecture": data.get("architecture", "YOLOv3"),
        "backbone": (data.get("YOLOv3") or {}).get("backbone"),
        "num_classes": data.get("num_classes"),
    }
    if built != measured:
        raise SlimdetError(
            f"{config} builds {built}, but the sensitivity file measured {measured}: give the config it was made with"
        )
    if table.model.get("plan"):  # the analysed checkpoint was pruned already: count from its structure
        PruningPlan.from_dict(table.model["plan"]).prune(model)
    unknown = [name for name in _measured(table) if name not in {p.name for p in model.parameters()}]
    if unknown:
        raise SlimdetError(f"{config}'s model has no {', '.join(unknown)}: give the config the file was made with")
    model.eval()
    return ConvFlops(model, int(table.eval_set.get("input_size") or eval_input_size(data)), criterion=table.criterion)
