"""``slimdet sensitivity``'s core: for each conv and each ratio, prune that conv alone, score the model, record
the loss.

``run_sensitivity``'s grid is every (param, ratio) pair; ``--shard i/n`` keeps every n-th pair starting at
the i-th (so n machines split one grid, and ``merge`` puts the files together); pairs already in the
sensitivity file are skipped, so an interrupted run resumes where it stopped. Each result is written to the
file as soon as it is known (see ``slim.sensitivity_table`` for the format); trials run here
(``slim.sensitivity_trials``) or in ``--workers`` local processes (``slim.sensitivity_workers``) with the
same numbers either way. The loss is (base mAP − pruned mAP) / base mAP.

With a VisualDL log folder, each conv's loss curve goes there too (``sensitivity/<param>``, the step the ratio in
percent), written again from the file's results whenever one is added: a resumed analysis shows every trial once,
and each curve's steps come in order however the workers' results arrive.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from slimdet.errors import PlanError, SlimdetError
from slimdet.interrupts import Interrupted, signal_of, signals_deferred, verb
from slimdet.scalar_log import DEFAULT_DIR_NAME, ScalarLog, log_dir, require_visualdl
from slimdet.slim.plan import split_list_flag
from slimdet.slim.sensitivity_table import SensitivityTable as SensitivityTable  # re-exported: the CLI prints it
from slimdet.slim.sensitivity_table import Trial as Trial
from slimdet.slim.sensitivity_table import load_table
from slimdet.slim.sensitivity_trials import TrialSession
from slimdet.slim.sensitivity_trials import TrialSpec as TrialSpec  # the command's request, built by the CLI
from slimdet.slim.sensitivity_workers import run_in_workers

DEFAULT_RATIOS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
DEFAULT_FILE_NAME = "sensitivities.json"


@dataclass(frozen=True)
class Shard:
    """Part ``index`` (1-based) of ``count``: every count-th grid point, starting at the index-th."""

    index: int = 1
    count: int = 1

    @classmethod
    def parse(cls, text: str | None) -> Shard:
        if text is None:
            return cls()
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if not match or not 1 <= int(match[1]) <= int(match[2]):
            raise SlimdetError(f"--shard '{text}' is not i/n with 1 ≤ i ≤ n: e.g. --shard 1/2 and --shard 2/2")
        return cls(int(match[1]), int(match[2]))

    def select(self, jobs: Sequence[tuple[str, float]]) -> list[tuple[str, float]]:
        return list(jobs[self.index - 1 :: self.count])

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


@dataclass(frozen=True)
class SensitivityRun:
    """What one ``slimdet sensitivity`` call did, and the file's contents afterwards."""

    path: str
    table: SensitivityTable
    computed: int  # trials run by this call
    skipped: int  # this shard's grid points already in the file
    missing: int  # grid points still not in the file (other shards', or an interrupted run's)
    mode: str  # how trials ran (head only / full forward)
    workers: int
    shard: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.path,
            "computed": self.computed,
            "skipped": self.skipped,
            "missing": self.missing,
            "mode": self.mode,
            "workers": self.workers,
            "shard": self.shard,
            "seconds": round(self.seconds, 3),
            **self.table.to_dict(),
        }


def parse_params(text: str | None) -> tuple[str, ...] | None:
    """``--pruned_params``: names separated by commas and/or spaces; None when not given."""
    if text is None:
        return None
    names = tuple(split_list_flag(text))
    if not names:
        raise PlanError("--pruned_params is empty: name conv weights, or leave it out for every yolo_block conv")
    return names


def parse_ratios(text: str | None) -> tuple[float, ...]:
    """``--pruned_ratios``: the ratios to try, separated by spaces and/or commas; sorted, duplicates dropped."""
    if text is None:
        return DEFAULT_RATIOS
    ratios = set()
    for word in split_list_flag(text):
        try:
            ratio = float(word)
        except ValueError:
            raise PlanError(f"--pruned_ratios value '{word}' is not a number: use e.g. \"0.1 0.2 0.3\"") from None
        if not 0.0 < ratio < 1.0:
            raise PlanError(f"--pruned_ratios value {word} is not strictly between 0 and 1")
        ratios.add(ratio)
    if not ratios:
        raise PlanError('--pruned_ratios is empty: give e.g. "0.1 0.2 0.3", or leave it out for 0.1 … 0.9')
    return tuple(sorted(ratios))


def run_sensitivity(
    spec: TrialSpec,
    out: str | Path | None = None,
    *,
    workers: int = 1,
    shard: Shard = Shard(),
    on_start: Callable[[int, str], None] | None = None,
    on_trial: Callable[[str, float, Trial], None] | None = None,
    use_vdl: bool = False,
    vdl_log_dir: str | Path | None = None,
) -> SensitivityRun:
    """Measure every (param, ratio) of ``spec`` not yet in ``out`` (default ``save_dir/<config>/sensitivities.json``),
    each conv's losses also logged for VisualDL with ``use_vdl`` or a ``vdl_log_dir`` (default
    ``save_dir/<config>/vdl/sensitivity``: beside a training's log, not over it).

    ``on_start(trials_to_run, mode)`` is called once everything is set up; ``on_trial(param, ratio,
    trial)`` after each result has been written. Ctrl-C or SIGTERM abandons the trial in progress and
    raises ``Interrupted`` (saying how to resume) once the file holds every finished trial.
    """
    if workers < 1:
        raise SlimdetError(f"--workers must be at least 1, got {workers}")
    started = time.perf_counter()
    if use_vdl or vdl_log_dir is not None:
        require_visualdl()  # said before the model is built
    session: TrialSession | None = TrialSession(spec)
    table: SensitivityTable | None = None
    try:
        path = Path(out) if out is not None else Path(session.save_dir) / DEFAULT_FILE_NAME
        vdl_dir = log_dir(use_vdl, vdl_log_dir, Path(session.save_dir) / DEFAULT_DIR_NAME / "sensitivity")
        fresh = SensitivityTable(
            **session.description, base_map=session.base_map(), params=session.params, ratios=spec.ratios
        )
        table = _resume(path, fresh)
        table.save(path)
        if vdl_dir is not None:
            _log_losses(vdl_dir, table)
        grid = shard.select([(p, r) for p in session.params for r in spec.ratios])
        todo = [job for job in grid if not table.done(*job)]
        mode = session.mode
        if on_start is not None:
            on_start(len(todo), mode)
        workers = min(workers, max(len(todo), 1))
        results: Iterator[tuple[str, float, float]]
        if workers > 1:
            worker_spec = replace(spec, params=session.params, data_workers=0, backend=session.backend)
            session.close()
            session = None  # free the model and cached features before the workers build theirs
            results = run_in_workers(worker_spec, todo, workers)
        else:
            results = ((p, r, session.trial_map(p, r)) for p, r in todo)
        with closing(results):  # stops the workers at once on an error or Ctrl-C, not when garbage-collected
            for param, ratio, pruned_map in results:
                table = table.with_result(param, ratio, pruned_map)
                with signals_deferred():  # the result just measured is not lost to a signal
                    table.save(path)
                if vdl_dir is not None:
                    _log_losses(vdl_dir, table)
                if on_trial is not None:
                    on_trial(param, ratio, table.results[param][ratio])
        if session is not None:
            session.check_restored()
    except KeyboardInterrupt as stop:  # Ctrl-C or SIGTERM: the trial in progress is dropped, the file is whole
        if table is None:  # still setting up: nothing to resume yet
            raise
        signum = signal_of(stop)
        raise Interrupted(
            f"{verb(signum)} with {len(table.missing())} grid points still missing; run the same command "
            f"again to continue the sensitivities file {path}",
            signum,
        ) from None
    finally:
        if session is not None:
            session.close()
    return SensitivityRun(
        path=str(path),
        table=table,
        computed=len(todo),
        skipped=len(grid) - len(todo),
        missing=len(table.missing()),
        mode=mode,
        workers=workers,
        shard=str(shard),
        seconds=time.perf_counter() - started,
    )


def _log_losses(folder: Path, table: SensitivityTable) -> None:
    """The VisualDL log in ``folder`` started over with ``table``'s results: per conv a loss curve, tag
    ``sensitivity/<param>``, its steps the ratios in percent, in order."""
    with ScalarLog(folder) as log:
        for param in table.results:
            for ratio, loss in table.losses(param):
                log.add(f"sensitivity/{param}", loss, round(100 * ratio))


def _resume(path: Path, fresh: SensitivityTable) -> SensitivityTable:
    """The file's table extended to this run's grid, or ``fresh`` when there is no file yet."""
    if not path.exists():
        return fresh
    existing = load_table(path)
    existing.check_same_measurement(
        fresh, what=f"the existing file {path}", fix="pass another --sensitivities_file, or delete it to start over"
    )
    return existing.with_grid(fresh.params, fresh.ratios)
