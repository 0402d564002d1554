"""``slimdet sensitivity merge`` and ``plot``'s cores: they work on the files an analysis wrote, with no model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slimdet.slim.sensitivity_plot import PlotResult, plot_sensitivities
from slimdet.slim.sensitivity_table import SensitivityTable, load_table, merge_tables


@dataclass(frozen=True)
class MergeResult:
    """The merged file and its contents."""

    path: str
    table: SensitivityTable

    @property
    def missing(self) -> int:
        """Grid points still in no file (shards not merged yet, or interrupted runs)."""
        return len(self.table.missing())

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.path, "missing": self.missing, **self.table.to_dict()}


def merge_files(files: Sequence[Path], output: Path) -> MergeResult:
    """Merge the sensitivity files of one analysis (e.g. its shards) into ``output``, written atomically;
    conflicting results are an error that names the files."""
    merged = merge_tables([(str(path), load_table(path)) for path in files])
    return MergeResult(path=str(merged.save(output)), table=merged)


def plot_file(sensitivities: Path, out: Path) -> PlotResult:
    """Draw the loss-vs-ratio curves of a sensitivity file into the PNG ``out``."""
    return plot_sensitivities(load_table(sensitivities), out)
