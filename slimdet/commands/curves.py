"""``slimdet curves``'s core: runs' curves drawn again from their checkpoints' state, several in one picture.

A training draws its own ``curves.png`` (``engine.curves.CurvesHook``, assembled in ``commands.train``); this
draws the same picture from the files, for a run given as its folder (its latest complete checkpoint) or as one
checkpoint, and overlays several runs (prune-only against distill-pruned, say). Paddle-free: it reads JSON and
draws.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slimdet.engine import checkpoint
from slimdet.engine.curves import CURVES_NAME, RunCurves, curves_from_state, write_curves
from slimdet.errors import SlimdetError, WeightsError

# A distilled run's distillation terms (``distill_loss``, ``distill_reg`` …: slim.distill_step names them) on a panel
# of their own, apart from the detection loss the student learns from the labels.
APART = {"distill_": "distillation terms"}


@dataclass(frozen=True)
class CurvesResult:
    """The picture written and, per run, the checkpoint it was drawn from and its series."""

    path: str
    checkpoints: tuple[str, ...]
    runs: tuple[RunCurves, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "runs": [{"checkpoint": stem, **run.to_dict()} for stem, run in zip(self.checkpoints, self.runs)],
        }


def draw_runs(sources: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str] | None = None) -> CurvesResult:
    """Draw the runs or checkpoints ``sources`` into the PNG ``out`` (default: ``curves.png`` beside the
    checkpoint for one run, in the current folder for several). Raises ``SlimdetError`` for a source that is no
    checkpoint or folder of them, or whose state holds no loss curves, before anything is written."""
    stems, states = zip(*(read_run(source) for source in sources))
    runs = []
    for stem, state, label in zip(stems, states, run_labels(stems)):
        curves = curves_from_state(state, label)
        if not curves.lr:
            raise SlimdetError(
                f"{stem}{checkpoint.STATE_SUFFIX} holds no loss curves (no LossHistory terms: slimdet wrote none "
                "before 2026-12-08); give a checkpoint of a newer run"
            )
        runs.append(curves)
    if out is None:
        out = stems[0].parent / CURVES_NAME if len(stems) == 1 else Path(CURVES_NAME)
    path = write_curves(runs, out, APART)
    return CurvesResult(str(path), tuple(str(stem) for stem in stems), tuple(runs))


def read_run(source: str | os.PathLike[str]) -> tuple[Path, dict[str, Any]]:
    """(checkpoint stem, its state) of a run folder (its latest complete checkpoint: ``model_final`` once
    finished) or of a checkpoint (its stem or any of its files); only the state is read."""
    stem = checkpoint.resume_stem(source)  # a folder without a checkpoint: one line saying so
    state_file = Path(f"{stem}{checkpoint.STATE_SUFFIX}")
    if not state_file.is_file():
        raise WeightsError(
            f"{source}: no {state_file.name} there; give a folder a training wrote or one of its checkpoints "
            "(<iteration> or model_final: best_model keeps the weights alone)"
        )
    return stem, json.loads(state_file.read_text())


def run_labels(stems: Sequence[Path]) -> list[str]:
    """What tells the runs apart in a legend: the last path parts of each checkpoint, as few as make them distinct
    (at least ``<folder>/<checkpoint>``, the config's name and the iteration or ``model_final``)."""
    parts = [stem.resolve().parts for stem in stems]
    for depth in range(2, max(map(len, parts)) + 1):
        labels = [str(Path(*p[-depth:])) for p in parts]
        if len(set(labels)) == len(labels):
            break
    return labels
