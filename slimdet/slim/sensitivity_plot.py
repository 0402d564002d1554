"""Loss-vs-ratio curves of a sensitivity table, one per conv, readable with the 18 yolo_block convs.

Drawn with matplotlib's object API on an Agg canvas (no display, no pyplot global state). Twenty
distinct colours (tab20's dark shades solid, then its light shades dashed) plus a marker per conv keep
18 curves apart; the legend sits outside the axes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from slimdet._files import atomic_path
from slimdet.errors import SlimdetError
from slimdet.slim.sensitivity_table import SensitivityTable

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">")


@dataclass(frozen=True)
class PlotResult:
    path: str
    curves: tuple[str, ...]  # the legend labels of the curves drawn, one per conv

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "curves": list(self.curves)}


def draw_sensitivities(table: SensitivityTable) -> Any:
    """A matplotlib Figure: loss (%) against ratio for every measured conv."""
    params = [p for p in dict.fromkeys([*table.params, *table.results]) if table.results.get(p)]
    if not params:
        raise SlimdetError("the sensitivity file holds no results yet: nothing to plot")
    tab20 = colormaps["tab20"]
    # tab20 pairs a dark and a light shade of each hue: all dark shades first (solid), then the light (dashed).
    shades = [(tab20(i), "-") for i in range(0, 20, 2)] + [(tab20(i), "--") for i in range(1, 20, 2)]
    figure = Figure(figsize=(12, 6.5), dpi=110, layout="constrained")
    axes = figure.add_subplot()
    for i, param in enumerate(params):
        ratios, losses = zip(*table.losses(param))
        axes.plot(
            ratios,
            [100 * loss for loss in losses],
            color=shades[i % len(shades)][0],
            linestyle=shades[i % len(shades)][1],
            marker=MARKERS[i % len(MARKERS)],
            markersize=4,
            linewidth=1.4,
            label=param,
        )
    axes.axhline(0.0, color="0.6", linewidth=0.8, zorder=0)
    axes.grid(True, alpha=0.3)
    axes.set_xlabel("pruned ratio (share of the conv's filters removed)")
    axes.set_ylabel("mAP loss (%) = (base − pruned) / base")
    source = table.source.get("config") or "model"
    axes.set_title(
        f"sensitivity of {Path(str(source)).stem}: base mAP {table.base_map:.4f} on {table.eval_set.get('images')} "
        f"images, {table.criterion}",
        fontsize="medium",
    )
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    return figure


def plot_sensitivities(table: SensitivityTable, out: str | os.PathLike[str]) -> PlotResult:
    """Draw ``table`` and write it as a PNG to ``out``, atomically."""
    figure = draw_sensitivities(table)
    FigureCanvasAgg(figure)
    target = Path(out)
    with atomic_path(target, suffix=".png") as tmp:
        figure.savefig(tmp, format="png")
    labels = tuple(line.get_label() for line in figure.axes[0].get_lines() if not line.get_label().startswith("_"))
    return PlotResult(path=str(target), curves=labels)
