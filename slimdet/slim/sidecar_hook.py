"""The hook that keeps a run's sidecars beside every checkpoint it writes (see ``slim.sidecar``).

A run without a sidecar of some kind removes one that an earlier run left under the same name, so that the
weights are never read with another run's structure.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from slimdet.engine.hooks import Hook
from slimdet.engine.trainer import Trainer
from slimdet.slim.sidecar import Sidecar


class SidecarHook(Hook):
    """Writes ``fields`` as ``sidecar`` beside every checkpoint and best model, or removes a stale one when
    ``fields`` is None."""

    def __init__(self, sidecar: Sidecar, fields: Mapping[str, Any] | None) -> None:
        self.sidecar, self.fields = sidecar, fields

    def before_save(self, trainer: Trainer, stem: Path) -> None:
        if self.fields is None:
            self.sidecar.path(stem).unlink(missing_ok=True)
        else:
            self.sidecar.save(self.fields, stem)
