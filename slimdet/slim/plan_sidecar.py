"""The hook that keeps a run's pruning plan beside every checkpoint it writes.

A pruned checkpoint cannot be rebuilt without its plan, so ``<stem>.plan.json`` is written before the
checkpoint's own files (``Hook.before_save``): a checkpoint that reads as complete always has it. An
unpruned run removes a sidecar that an earlier pruned run left under the same name, so that the
weights are never rebuilt with another run's structure.
"""

from __future__ import annotations

from pathlib import Path

from slimdet.engine.hooks import Hook
from slimdet.engine.trainer import Trainer
from slimdet.slim.plan import PruningPlan, save_plan, sidecar_path


class PlanSidecarHook(Hook):
    """Writes ``plan`` beside every checkpoint and best model (or removes a stale sidecar when ``plan`` is None)."""

    def __init__(self, plan: PruningPlan | None) -> None:
        self.plan = plan

    def before_save(self, trainer: Trainer, stem: Path) -> None:
        if self.plan is None:
            sidecar_path(stem).unlink(missing_ok=True)
        else:
            save_plan(self.plan, stem)
