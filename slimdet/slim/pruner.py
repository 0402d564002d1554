"""The only place that talks to PaddleSlim's pruners: trace once, compute the cut, check it, apply it.

PaddleSlim's dygraph filter pruners (``L1NormFilterPruner``, ``FPGMFilterPruner``) turn the model into a
static program once, find for each named conv weight the tensors that share its output channels (its
BN's scale/offset/mean/var on axis 0, every consuming conv's weight on axis 1) and cut them all with the
same channel indices.

What PaddleSlim 2.6 does, checked against the legacy rule (docs/legacy.md, "Pruning and r578"):

* channels removed = ``int(round(C * ratio))`` with Python's ``round`` (so C=5, r=0.5 removes 2) —
  identical; but PaddleSlim silently caps it at C - 1. :class:`~slimdet.slim.plan.PruningPlan` rejects
  such ratios before we get here, so the cap never applies.
* ``l1_norm`` scores a filter by the *mean* of |w| over (C_in, kH, kW) where the legacy text says the
  sum; every filter of a conv has the same element count, so the ranking is the same (up to float ties,
  whose order numpy's argsort leaves unspecified).
* ``fpgm`` scores a filter by the sum of its Euclidean distances to all other filters of the conv and
  removes the lowest (the filters closest to the geometric median), as legacy ``geometry_median`` did.
* every mask is computed from the weights as they were before anything was cut, then all cuts are
  applied together; a tensor reached from two listed convs is cut by both masks.
* two listed convs whose outputs are tied together (e.g. both feed one residual ``add``) form one group;
  PaddleSlim's ``prune_vars`` would silently cut the group with the first one's mask only.
  :func:`prune_filters` walks the names itself (as ``prune_vars`` does) and refuses such a plan, and a
  name PaddleSlim cannot follow, before touching the model.
* applying a cut leaves a ``<name>_backup`` buffer holding the unpruned tensor in the layer (PaddleSlim
  keeps it for ``restore()``); it would bloat checkpoints and the size report, so we drop it.
* its grouping looks variables up by scanning the whole program, most of a prune's time: tracing runs
  with :func:`~slimdet.slim.graph_index.indexed_lookups`, which finds the same ops from an index.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import paddle
from paddle import nn

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # importing paddleslim trips setuptools' "replacing distutils" warning
    from paddleslim.dygraph import FPGMFilterPruner, L1NormFilterPruner
    from paddleslim.dygraph.prune.pruning_plan import PruningPlan as SlimPlan

from slimdet.errors import PlanError
from slimdet.modeling.modes import RawOutputs, eval_mode
from slimdet.runtime import without_op_callstacks
from slimdet.slim.graph_index import indexed_lookups

PRUNERS = {"l1_norm": L1NormFilterPruner, "fpgm": FPGMFilterPruner}
FILTER_AXIS = 0  # conv weights are [C_out, C_in/groups, kH, kW]: filters are axis 0
# Side of the dummy image PaddleSlim traces with. Channel couplings do not depend on it, but PaddleSlim
# embeds the image as a constant and paddle refuses constants over 2^20 values (608² × 3 is too big);
# 64 is a multiple of YOLOv3's largest stride (32), so every level keeps a spatial size.
TRACE_SIZE = 64


@dataclass(frozen=True)
class TensorCut:
    """One tensor cut by the pruner: which axis, and which indices survived."""

    name: str
    axis: int
    size_before: int
    kept: tuple[int, ...]

    @property
    def size_after(self) -> int:
        return len(self.kept)


def prune_filters(
    model: nn.Layer, ratios: Mapping[str, float], *, criterion: str, trace_size: int = TRACE_SIZE
) -> dict[str, tuple[TensorCut, ...]]:
    """Remove output channels of the named conv weights, in place, and everything coupled to them.

    ``ratios`` maps ``param.name`` to the share of output channels to remove; names and ratios must
    already be valid (``PruningPlan.problems`` is empty). The model is traced once, with a
    1×3×``trace_size``² input. Returns, per listed name, the cuts of its group: its own filters first,
    then the tensors pulled along. Raises ``PlanError`` without touching the model when PaddleSlim
    cannot follow a name.
    """
    wrapper = RawOutputs(model)
    with eval_mode(model):  # trace inference ops only
        with _quiet_paddleslim():
            with _dygraph_restored(), indexed_lookups(), without_op_callstacks():
                pruner = PRUNERS[criterion](wrapper, [1, 3, trace_size, trace_size])
            whole = SlimPlan(wrapper.full_name())
            groups = _cut_groups(pruner, ratios, whole, {p.name: list(p.shape) for p in model.parameters()})
            whole.apply(wrapper, lazy=False)
        _drop_backups(model, {cut.name for cuts in groups.values() for cut in cuts})
    return groups


def _cut_groups(
    pruner: L1NormFilterPruner | FPGMFilterPruner,
    ratios: Mapping[str, float],
    whole: SlimPlan,
    shapes: Mapping[str, list[int]],
) -> dict[str, tuple[TensorCut, ...]]:
    """Ask PaddleSlim for each name's cut (as its ``prune_vars`` would) and gather them into ``whole``.

    Refuses, with every reason at once, names tied to an earlier one and names PaddleSlim cannot follow.
    """
    groups: dict[str, tuple[TensorCut, ...]] = {}
    problems = []
    for name, ratio in ratios.items():
        owner = next((other for other, cuts in groups.items() if _cuts_filters_of(cuts, name)), None)
        if owner is not None:
            problems.append(
                f"'{name}' shares its output channels with '{owner}' (e.g. both feed one residual add), "
                "so it is cut with it: list only one of them"
            )
            continue
        part = pruner.prune_var(name, FILTER_AXIS, ratio, apply=None)
        groups[name] = _group_cuts(name, part, shapes)
        if not _cuts_filters_of(groups[name], name):
            problems.append(
                f"PaddleSlim finds nothing to follow after '{name}' (nothing consumes its output): "
                "remove it from the plan"
            )
        whole.extend(part)
    if problems:
        raise PlanError("; ".join(problems))
    return groups


def _group_cuts(name: str, part: SlimPlan, shapes: Mapping[str, list[int]]) -> tuple[TensorCut, ...]:
    """PaddleSlim's masks for one listed conv's parameters as TensorCuts, the conv's own filters first.

    PaddleSlim also lists intermediate activations (e.g. the output of a residual add); they hold no
    weights and are skipped.
    """
    cuts = [
        TensorCut(
            name=tensor,
            axis=mask.dims,
            size_before=shapes[tensor][mask.dims],
            kept=tuple(int(i) for i in np.flatnonzero(np.asarray(mask.mask))),
        )
        for tensor, masks in part.masks.items()
        if tensor in shapes
        for mask in masks
    ]
    return tuple(sorted(cuts, key=lambda cut: not (cut.name == name and cut.axis == FILTER_AXIS)))


def _cuts_filters_of(cuts: tuple[TensorCut, ...], name: str) -> bool:
    return any(cut.name == name and cut.axis == FILTER_AXIS for cut in cuts)


def _drop_backups(model: nn.Layer, names: set[str]) -> None:
    """Remove the unpruned copies PaddleSlim parks in each layer's buffers (see the module docstring)."""
    backup_names = {name.replace(".", "_") + "_backup" for name in names}
    for layer in model.sublayers(include_self=True):
        for buffer_name in backup_names & set(layer._buffers):
            del layer._buffers[buffer_name]


@contextlib.contextmanager
def _quiet_paddleslim() -> Iterator[None]:
    """PaddleSlim logs every group and leaf at INFO/WARNING to its own handlers; core code stays silent."""
    loggers = [
        logging.getLogger(name) for name in list(logging.Logger.manager.loggerDict) if name.startswith("paddleslim")
    ]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


@contextlib.contextmanager
def _dygraph_restored() -> Iterator[None]:
    """PaddleSlim switches paddle to static mode while tracing and does not switch back if tracing fails."""
    try:
        yield
    finally:
        if not paddle.in_dynamic_mode():
            paddle.disable_static()


class TracedPruner:
    """PaddleSlim's pruner for one model, traced once and then asked for many cuts (sensitivity analysis).

    :func:`prune_filters` traces the model on every call (1–2 s for YOLOv3 on a CPU); a sensitivity run
    cuts one conv at a time hundreds of times. Here the trace happens once; each ``pruned`` block cuts,
    and on exit PaddleSlim's own backups put every cut tensor back bit for bit. As with a fresh pruner,
    the filters that go are chosen from the weights as they were when traced.
    """

    def __init__(self, model: nn.Layer, *, criterion: str, trace_size: int = TRACE_SIZE) -> None:
        self._wrapper = RawOutputs(model)
        self._shapes = {p.name: list(p.shape) for p in model.parameters()}
        with eval_mode(model), _quiet_paddleslim(), _dygraph_restored(), indexed_lookups():
            self._pruner = PRUNERS[criterion](self._wrapper, [1, 3, trace_size, trace_size])

    def _plan(self, ratios: Mapping[str, float]) -> tuple[dict[str, tuple[TensorCut, ...]], SlimPlan]:
        whole = SlimPlan(self._wrapper.full_name())
        with _quiet_paddleslim():
            groups = _cut_groups(self._pruner, ratios, whole, self._shapes)
        return groups, whole

    def cuts(self, ratios: Mapping[str, float]) -> dict[str, tuple[TensorCut, ...]]:
        """Per listed name, the cuts of its group (as :func:`prune_filters` returns); the model is untouched."""
        return self._plan(ratios)[0]

    def shapes_after(self, ratios: Mapping[str, float]) -> dict[str, list[int]]:
        """Every parameter's shape once ``ratios`` are applied (a tensor reached twice loses both cuts).

        The model is not touched.
        """
        shapes = {name: list(shape) for name, shape in self._shapes.items()}
        for name, masks in self._plan(ratios)[1].masks.items():
            for mask in masks if name in shapes else ():
                shapes[name][mask.dims] = int(np.count_nonzero(np.asarray(mask.mask)))
        return shapes

    @contextlib.contextmanager
    def pruned(self, ratios: Mapping[str, float]) -> Iterator[dict[str, tuple[TensorCut, ...]]]:
        """Prune the model in place for the duration of the block, then restore every cut tensor exactly."""
        groups, whole = self._plan(ratios)
        try:
            with _quiet_paddleslim():
                whole.apply(self._wrapper, lazy=False)
            yield groups
        finally:
            whole.restore(self._wrapper)  # puts back whatever was cut, even if applying stopped halfway
