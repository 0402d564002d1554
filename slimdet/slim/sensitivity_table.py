"""The sensitivity file: what was measured, on what, and every (parameter, ratio) result so far.

A JSON document, rewritten atomically (temp file + rename) after every trial, so that an interrupted
run leaves a valid file and resumes where it stopped::

    {
      "format": "slimdet-sensitivity", "version": 1,
      "model":    {"architecture", "backbone", "num_classes", "plan" (the checkpoint's own pruning plan or
                   null), "weights_sha256" (of every loaded tensor, by legacy name)},
      "eval_set": {"anno_path", "images" (how many were evaluated), "input_size", "metric", "map_type"},
      "criterion": "l1_norm" | "fpgm",
      "source":   {"config", "weights", "dataset_dir"}   (where they were, for people; never compared),
      "base_mAP": 0.7012,
      "loss": "(base_mAP - mAP) / base_mAP",
      "params": [...], "ratios": [0.1, ...],             (the grid asked for, in order)
      "sensitivities": {param: {"0.1": {"mAP": 0.7008, "loss": 0.0006}, ...}, ...}
    }

Two files describe the same measurement when ``model``, ``eval_set`` and ``criterion`` are equal and
their base mAPs agree; only then may a run resume into a file or files be merged. Every trial prunes
one parameter alone (its filters chosen by ``criterion`` from the loaded weights), so the order in
which trials ran, or the process that ran them, does not change the file.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from slimdet._files import write_text_atomic
from slimdet.errors import SlimdetError

FORMAT = "slimdet-sensitivity"
VERSION = 1
LOSS_FORMULA = "(base_mAP - mAP) / base_mAP"
IDENTITY_KEYS = ("model", "eval_set", "criterion")  # what the numbers depend on
BASE_MAP_TOLERANCE = 1e-6  # a recomputed base mAP may differ by float noise on another machine
SAME_VALUE_TOLERANCE = 1e-9  # two results for one (param, ratio) agree within this


def ratio_key(ratio: float) -> str:
    """The JSON key of a ratio: its shortest decimal form ('0.1', '0.125')."""
    return repr(float(ratio))


@dataclass(frozen=True)
class Trial:
    """One (parameter, ratio) result: the pruned model's mAP and its relative loss."""

    map: float
    loss: float

    def to_dict(self) -> dict[str, float]:
        return {"mAP": self.map, "loss": self.loss}


@dataclass(frozen=True)
class SensitivityTable:
    """A sensitivity file in memory. Immutable: ``with_result`` and friends return a new table."""

    model: Mapping[str, Any]
    eval_set: Mapping[str, Any]
    criterion: str
    source: Mapping[str, Any]
    base_map: float
    params: tuple[str, ...]
    ratios: tuple[float, ...]
    results: Mapping[str, Mapping[float, Trial]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.base_map > 0:
            raise SlimdetError(
                f"the unpruned model scores mAP {self.base_map:g} on the eval set, so relative losses are undefined: "
                "check the weights (-o weights=...) and the EvalReader data, or train the model first"
            )

    @property
    def identity(self) -> dict[str, Any]:
        return {"model": dict(self.model), "eval_set": dict(self.eval_set), "criterion": self.criterion}

    def done(self, param: str, ratio: float) -> bool:
        return ratio in self.results.get(param, {})

    def missing(self) -> list[tuple[str, float]]:
        """Grid points not measured yet, in grid order."""
        return [(p, r) for p in self.params for r in self.ratios if not self.done(p, r)]

    def losses(self, param: str) -> list[tuple[float, float]]:
        """``(ratio, loss)`` of one parameter, by increasing ratio."""
        return sorted((ratio, trial.loss) for ratio, trial in self.results.get(param, {}).items())

    def with_result(self, param: str, ratio: float, pruned_map: float) -> SensitivityTable:
        """This table plus one trial; the loss is computed here, from the table's base mAP."""
        trial = Trial(map=float(pruned_map), loss=(self.base_map - float(pruned_map)) / self.base_map)
        results = {name: dict(trials) for name, trials in self.results.items()}
        results.setdefault(param, {})[float(ratio)] = trial
        return replace(self, results=results)

    def with_grid(self, params: Iterable[str], ratios: Iterable[float]) -> SensitivityTable:
        """This table asking for more parameters and ratios too (what it has is kept)."""
        return replace(
            self,
            params=_union(self.params, params),
            ratios=tuple(sorted(set(self.ratios) | {float(r) for r in ratios})),
        )

    def check_same_measurement(self, other: SensitivityTable, *, what: str, fix: str) -> None:
        """Raise unless ``other`` measures the same thing (model, weights, eval set, criterion, base mAP).

        ``what`` names the file in the message (it is the subject of "... was measured on ..."), ``fix``
        says what to do about it.
        """
        mine, theirs = self.identity, other.identity
        differing = []
        for key in IDENTITY_KEYS:
            a, b = mine[key], theirs[key]
            if isinstance(a, dict) and isinstance(b, dict):
                differing += [f"{key}.{sub}" for sub in sorted(set(a) | set(b)) if a.get(sub) != b.get(sub)]
            elif a != b:
                differing.append(key)
        if differing:
            raise SlimdetError(f"{what} was measured on something else ({', '.join(differing)} differ): {fix}")
        if not math.isclose(self.base_map, other.base_map, rel_tol=0, abs_tol=BASE_MAP_TOLERANCE):
            raise SlimdetError(
                f"{what} has base mAP {self.base_map!r}, not {other.base_map!r} (same model, weights and data, "
                f"another result: the software or machine changed): {fix}"
            )

    def to_dict(self) -> dict[str, Any]:
        ordered = _union(self.params, self.results)  # grid order, then anything measured outside it
        return {
            "format": FORMAT,
            "version": VERSION,
            "model": dict(self.model),
            "eval_set": dict(self.eval_set),
            "criterion": self.criterion,
            "source": dict(self.source),
            "base_mAP": self.base_map,
            "loss": LOSS_FORMULA,
            "params": list(self.params),
            "ratios": list(self.ratios),
            "sensitivities": {
                param: {ratio_key(r): self.results[param][r].to_dict() for r in sorted(self.results[param])}
                for param in ordered
                if self.results.get(param)
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, origin: str) -> SensitivityTable:
        """Read a document written by ``to_dict``; anything malformed is a SlimdetError naming ``origin``."""
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise SlimdetError(f'{origin} is not a slimdet sensitivity file (no "format": "{FORMAT}")')
        if data.get("version") != VERSION:
            raise SlimdetError(f"{origin} has format version {data.get('version')}, this slimdet reads {VERSION}")
        try:
            results = {
                str(param): {
                    float(key): Trial(map=float(trial["mAP"]), loss=float(trial["loss"]))
                    for key, trial in trials.items()
                }
                for param, trials in data["sensitivities"].items()
            }
            return cls(
                model=dict(data["model"]),
                eval_set=dict(data["eval_set"]),
                criterion=str(data["criterion"]),
                source=dict(data.get("source") or {}),
                base_map=float(data["base_mAP"]),
                params=tuple(str(p) for p in data["params"]),
                ratios=tuple(float(r) for r in data["ratios"]),
                results=results,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise SlimdetError(
                f"{origin} is damaged ({type(err).__name__}: {err}): delete it or restore a copy"
            ) from None

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write atomically: a temp file in the same folder, then a rename (a crash never leaves half a file)."""
        return write_text_atomic(path, json.dumps(self.to_dict(), indent=1) + "\n")


def load_table(path: str | os.PathLike[str]) -> SensitivityTable:
    """Read a sensitivity file (SlimdetError when it is missing or not one)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SlimdetError(
            f"sensitivity file {path} not found: run `slimdet sensitivity -s {path} ...` first"
        ) from None
    except OSError as err:
        raise SlimdetError(f"cannot read sensitivity file {path} ({err.strerror})") from None
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise SlimdetError(
            f"{path} is not a JSON sensitivity file ({err}): legacy pickles are not read, recompute it with "
            "`slimdet sensitivity`"
        ) from None
    return SensitivityTable.from_dict(data, origin=str(path))


def merge_tables(tables: Sequence[tuple[str, SensitivityTable]]) -> SensitivityTable:
    """One table holding every result of ``tables`` ((name, table) pairs, e.g. the shards of one run).

    The tables must measure the same thing; two different values for one (param, ratio) are an error
    that names every such conflict and the files they come from.
    """
    if not tables:
        raise SlimdetError("nothing to merge: give at least one sensitivity file")
    (first_name, merged), *rest = tables
    origin = {(p, r): first_name for p, trials in merged.results.items() for r in trials}
    conflicts = []
    for name, table in rest:
        table.check_same_measurement(
            merged,
            what=f"{name} (compared with {first_name})",
            fix="merge only the files of one analysis (same config, weights, eval set and criterion)",
        )
        merged = merged.with_grid(table.params, table.ratios)
        for param, trials in table.results.items():
            for ratio, trial in sorted(trials.items()):
                if not merged.done(param, ratio):
                    merged = merged.with_result(param, ratio, trial.map)
                    origin[param, ratio] = name
                elif abs(merged.results[param][ratio].map - trial.map) > SAME_VALUE_TOLERANCE:
                    conflicts.append(
                        f"{param} at {ratio_key(ratio)}: mAP {merged.results[param][ratio].map!r} in "
                        f"{origin[param, ratio]}, {trial.map!r} in {name}"
                    )
    if conflicts:
        raise SlimdetError(f"the files disagree on {len(conflicts)} result(s): {'; '.join(conflicts)}")
    return merged


def _union(first: Iterable[str], second: Iterable[str]) -> tuple[str, ...]:
    """Both sequences' items, first's order then second's new ones (no duplicates)."""
    return tuple(dict.fromkeys([*first, *second]))
