"""A training's curves as one picture: loss terms (log scale), learning rate and mAP against the iteration.

Everything drawn comes from a checkpoint's state (``<stem>.state.json``): ``LossHistory``'s windows (per
``log_iter`` steps: the LR at the window's end and every loss term's mean) and ``EvalHook``'s evaluations.
``curves_from_state`` is the one place that reads them, so the picture a training writes (``CurvesHook``:
``save_dir/<config>/curves.png``, redrawn after every checkpoint) and the one ``slimdet curves`` draws again
from the files are the same lines.

Terms whose names start with a prefix of ``apart`` get a panel of their own (a distillation's
``distill_*`` terms, which the caller names: the engine knows no distillation). Several runs overlay in one
picture: a loss term keeps its colour in every run, a run its line style in every panel.

matplotlib is imported when a picture is drawn (never by importing this module), on the Agg canvas with its
object API: no display, no pyplot state. Measured on a shared 2-core AMD EPYC: 0.15–0.26 s of CPU per picture
of a tiny run (0.3–0.43 s for the 5000 log windows of a 100k-iteration run), plus 0.3–0.6 s once per process to
import matplotlib.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slimdet._files import atomic_path
from slimdet.engine.hooks import CheckpointHook, EvalHook, Hook, LossHistory

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.gridspec import GridSpec

    from slimdet.engine.trainer import Trainer

CURVES_NAME = "curves.png"  # beside a run's checkpoints
Series = tuple[tuple[int, float], ...]  # (iteration, value) pairs
RUN_STYLES = ("-", "--", ":", "-.")
TERM_COLOURS = "tab10"
LOSS_PANEL = "loss terms"  # the panel of every term no prefix of ``apart`` claims
# Right of its panel, in the column kept for it: never over a line.
LEGEND = {"loc": "upper left", "bbox_to_anchor": (1.02, 1.0), "fontsize": "small", "frameon": False,
          "borderaxespad": 0.0, "handlelength": 1.5}  # fmt: skip


@dataclass(frozen=True)
class RunCurves:
    """The curves of one run: ``terms`` by loss term name (``loss``, the total, first), each its window means;
    ``lr`` the learning rate at each window's end; ``mAP`` each evaluation's (empty: the run did not evaluate)."""

    label: str
    terms: Mapping[str, Series]
    lr: Series
    mAP: Series

    @property
    def last_iteration(self) -> int:
        return max((series[-1][0] for series in (self.lr, self.mAP) if series), default=0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "terms": {name: [list(point) for point in series] for name, series in self.terms.items()},
            "lr": [list(point) for point in self.lr],
            "mAP": [list(point) for point in self.mAP],
        }


def curves_from_state(state: Mapping[str, Any], label: str) -> RunCurves:
    """The series a checkpoint's state holds (what ``Trainer.state_dict`` wrote; see ``LossHistory`` and
    ``EvalHook``). Pure: no file, no matplotlib."""
    hooks = state.get("hooks", {})
    windows = hooks.get(LossHistory.__name__, {}).get("terms", [])
    terms: dict[str, list[tuple[int, float]]] = {"loss": []}
    for window in windows:
        iteration = int(window["iteration"])
        for name, value in window.items():
            if name not in ("iteration", "lr"):
                terms.setdefault(name, []).append((iteration, float(value)))
    evaluations = hooks.get(EvalHook.__name__, {}).get("history", [])
    return RunCurves(
        label=label,
        terms={name: tuple(series) for name, series in terms.items() if series},
        lr=tuple((int(window["iteration"]), float(window["lr"])) for window in windows),
        mAP=tuple((int(record["iteration"]), float(record["metrics"]["mAP"])) for record in evaluations),
    )


def draw_curves(runs: Sequence[RunCurves], apart: Mapping[str, str] | None = None) -> Figure:
    """One figure for ``runs`` (each with at least one loss window): on top a loss panel (log scale) per group of
    terms (``apart``: name prefix → panel title; the other terms share "loss terms"), below the learning rate and,
    when a run evaluated, the mAP. Each panel has its legend on its right, outside the lines.

    Every line is labelled ``"<run label>: <series>"`` (``loss_xy``, ``lr``, ``mAP``), so that a test can find
    it; the legends are drawn from proxies, one entry per term and one per run, not per line.
    """
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    panels: dict[str, list[str]] = {LOSS_PANEL: []}  # panel title -> its terms, in the order first met
    for run in runs:
        for name in run.terms:
            title = next((title for prefix, title in (apart or {}).items() if name.startswith(prefix)), LOSS_PANEL)
            if name not in panels.setdefault(title, []):
                panels[title].append(name)
    palette = colormaps[TERM_COLOURS]  # a term's colour: its place in its panel, the same in every run
    colours = {name: palette(i % palette.N) for names in panels.values() for i, name in enumerate(names)}
    styles = [RUN_STYLES[r % len(RUN_STYLES)] for r in range(len(runs))]
    evaluated = any(run.mAP for run in runs)

    figure = Figure(figsize=(13, 6.5), dpi=80)
    FigureCanvasAgg(figure)
    pairs = max(len(panels), 2 if evaluated else 1)  # a pair of columns: a panel and its legend
    grid = figure.add_gridspec(2, 2 * pairs, width_ratios=[3, 1] * pairs, left=0.07, right=0.99, bottom=0.08,
                               top=0.86 if len(runs) > 1 else 0.9, hspace=0.4, wspace=0.28)  # fmt: skip
    top = _row(figure, grid, 0, len(panels))
    for axes, (title, names) in zip(top, panels.items()):
        for run, style in zip(runs, styles):
            for name in names:
                if name in run.terms:
                    _plot(axes, run.terms[name], f"{run.label}: {name}", colours[name], style)
        _decorate(axes, f"{title}: window means", "loss", log=True)
        axes.legend(handles=[Line2D([], [], color=colours[name], label=name) for name in names], **LEGEND)
    bottom = _row(figure, grid, 1, 2 if evaluated else 1)
    axes = bottom[0]
    for run, style in zip(runs, styles):
        _plot(axes, run.lr, f"{run.label}: lr", "black", style)
    _decorate(axes, "learning rate", "lr", log=True)
    if evaluated:
        axes = bottom[1]
        best = []
        for run, style in zip(runs, styles):
            if run.mAP:
                _plot(axes, run.mAP, f"{run.label}: mAP", "black", style, marker="o")
                iteration, value = max(run.mAP, key=lambda point: point[1])
                label = f"{value:.4f} at {iteration}"  # whose: its line style says
                best.append(Line2D([], [], color="black", linestyle=style, marker="o", markersize=3, label=label))
        _decorate(axes, "mAP at each evaluation", "mAP", log=False)
        axes.legend(handles=best, title="best mAP", **LEGEND)
    last = max(run.last_iteration for run in runs)
    for axes in top + bottom:  # one iteration axis for every panel, from 0
        axes.set_xlim(0, last * 1.02)  # the last markers whole
    if len(runs) > 1:  # the runs' names under the title, across the figure: paths are long
        figure.suptitle(f"{len(runs)} runs: colour = loss term, line style = run", fontsize="medium")
        handles = [Line2D([], [], color="black", linestyle=style, label=run.label) for run, style in zip(runs, styles)]
        figure.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.955), ncols=min(len(runs), 3),
                      fontsize="small", frameon=False)  # fmt: skip
    else:
        figure.suptitle(f"{runs[0].label}: iteration {runs[0].last_iteration}", fontsize="medium")
    return figure


def _row(figure: Figure, grid: GridSpec, row: int, count: int) -> list[Axes]:
    """``count`` panels side by side on ``row``, each leaving the column right of it to its legend."""
    pairs = grid.ncols // 2
    return [
        figure.add_subplot(grid[row, 2 * (i * pairs // count) : 2 * ((i + 1) * pairs // count) - 1])
        for i in range(count)
    ]


def _plot(axes: Axes, series: Series, label: str, colour: Any, style: str, marker: str | None = None) -> None:
    iterations, values = zip(*series)
    axes.plot(iterations, values, label=label, color=colour, linestyle=style, linewidth=1.3, marker=marker,
              markersize=3)  # fmt: skip


def _decorate(axes: Axes, title: str, ylabel: str, *, log: bool) -> None:
    from matplotlib.ticker import LogFormatter, LogLocator, MaxNLocator

    axes.set_title(title + (", log scale" if log else ""), fontsize="medium", y=1.0)  # fixed: searching costs
    axes.set_xlabel("iteration")
    axes.set_ylabel(ylabel)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    if log:
        axes.set_yscale("log")
        # Minor ticks at 2 and 5 only (labelled when the curves span less than a decade), labels as plain text:
        # matplotlib's default ticks at every digit, typeset as maths, cost more than the rest of the drawing.
        axes.yaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
        axes.yaxis.set_major_formatter(LogFormatter())
        axes.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(1, 0.5)))
    axes.grid(True, which="major", alpha=0.3)


def write_curves(
    runs: Sequence[RunCurves], out: str | os.PathLike[str], apart: Mapping[str, str] | None = None
) -> Path:
    """Draw ``runs`` into the PNG ``out``, written atomically (a reader never sees half a picture)."""
    figure = draw_curves(runs, apart)
    target = Path(out)
    with atomic_path(target, suffix=".png") as tmp:
        figure.savefig(tmp, format="png")
    return target


class CurvesHook(Hook):
    """Draws ``curves.png`` beside ``saver``'s checkpoints whenever it has written one: at every snapshot, at the
    end and on Ctrl-C. It runs after the evaluation of the snapshot's iteration, so the picture has that mAP too;
    it is drawn from the trainer's state (what the next checkpoint's state holds) through ``curves_from_state``,
    as ``slimdet curves`` draws it. Only rank 0 has it (it writes)."""

    def __init__(self, saver: CheckpointHook, label: str, apart: Mapping[str, str] | None = None) -> None:
        self.saver = saver
        self.label = label
        self.apart = dict(apart or {})
        self._drawn_after: Path | None = None  # the checkpoint the picture was last drawn after

    @property
    def path(self) -> Path:
        return self.saver.out_dir / CURVES_NAME

    def after_step(self, trainer: Trainer) -> None:
        self._draw_if_saved(trainer)

    def after_train(self, trainer: Trainer) -> None:
        self._draw_if_saved(trainer)

    def _draw_if_saved(self, trainer: Trainer) -> None:
        if self.saver.last is None or self.saver.last == self._drawn_after:
            return
        self._drawn_after = self.saver.last
        curves = curves_from_state(trainer.state_dict(), self.label)
        if curves.lr:  # a checkpoint before the first log window has nothing to draw yet
            write_curves([curves], self.path, self.apart)
