"""``--workers N``: sensitivity trials in N local processes, results gathered by the calling process.

Each worker is started with 'spawn' (a fork of a process running paddle threads can hang), builds its own
:class:`~slimdet.slim.sensitivity_trials.TrialSession` (same config, weights and eval set, so the same
numbers) and takes (param, ratio) jobs from one shared queue until none are left. Only the calling
process writes the sensitivity file, so there is never more than one writer. Workers hold a lifeline
to the calling process (slimdet/_lifeline.py): if it is killed, even with SIGKILL, they exit too. SIGINT
and SIGTERM are the calling process's business: workers ignore them from their start on (slimdet/interrupts.py).
"""

import zlib  # noqa: F401  (before paddle in every worker process, see slimdet/__init__.py)

import multiprocessing
import os
import traceback
from collections.abc import Iterator, Sequence
from typing import Any

from slimdet._lifeline import HelperEnded, Lifeline, next_result
from slimdet.errors import SlimdetError
from slimdet.interrupts import leave_stops_to_parent, start_helpers
from slimdet.slim.sensitivity_trials import TrialSpec

Job = tuple[str, float]


def threads_per_worker(workers: int) -> int:
    """The CPU threads each worker gets: this process's share, split evenly (at least one)."""
    total = int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1)
    return max(1, total // workers)


def run_in_workers(spec: TrialSpec, jobs: Sequence[Job], workers: int) -> Iterator[tuple[str, float, float]]:
    """Yield ``(param, ratio, mAP)`` for every job as the workers finish them (in no particular order).

    Returns once every worker has run out of jobs and checked that its model is as loaded again.

    A worker's ``SlimdetError`` is raised here as a ``SlimdetError`` with its message; any other failure
    (or a worker that dies) as a ``RuntimeError`` carrying the worker's traceback. Closing the generator
    (an error, Ctrl-C) stops every worker.
    """
    ctx = multiprocessing.get_context("spawn")
    tasks, results = ctx.Queue(), ctx.Queue()
    for job in jobs:
        tasks.put(job)
    procs = [
        ctx.Process(
            target=_work,
            args=(Lifeline.to_this_process(), spec, threads_per_worker(workers), tasks, results),
            daemon=True,
            name=f"slimdet-sensitivity-{i}",
        )
        for i in range(workers)
    ]
    for _ in procs:
        tasks.put(None)  # one stop sign per worker, after the jobs
    finished = 0
    try:
        start_helpers(procs)
        while finished < len(procs):
            kind, payload = _next_message(results, procs)
            if kind == "user-error":
                raise SlimdetError(payload)
            if kind == "failure":
                raise RuntimeError(f"a sensitivity worker failed:\n{payload}")
            if kind == "done":  # out of jobs, and its model checked as loaded again
                finished += 1
            else:
                yield payload
    finally:
        for proc in procs:
            if proc.pid is None:  # never started (interrupted while starting them)
                continue
            proc.join(timeout=10 if finished == len(procs) else 0)
            if proc.is_alive():
                proc.kill()  # workers write nothing, so nothing is lost (and SIGKILL spares paddle's SIGTERM dump)
                proc.join()


def _next_message(results: Any, procs: list[Any]) -> tuple[str, Any]:
    try:  # a worker that ran out of jobs leaves with exit code 0
        return next_result(results, procs, ended=lambda proc: proc.exitcode not in (None, 0))
    except HelperEnded as ended:
        return "failure", f"{ended.helper.name} exited with code {ended.helper.exitcode}"


def _work(lifeline: Lifeline, spec: TrialSpec, threads: int, tasks: Any, results: Any) -> None:
    """Worker main: set threads before paddle loads, build the session, run jobs until the stop sign."""
    lifeline.hold()
    from slimdet.runtime import set_threads

    set_threads(threads)
    import paddle  # noqa: F401  (after set_threads; it installs a SIGTERM handler that prints a C++ traceback)

    leave_stops_to_parent()  # after paddle's handler, which it replaces; the calling process kills its workers
    try:
        from slimdet.slim.sensitivity_trials import TrialSession

        session = TrialSession(spec)
        while (job := tasks.get()) is not None:
            param, ratio = job
            results.put(("result", (param, ratio, session.trial_map(param, ratio))))
        session.check_restored()
        session.close()
        results.put(("done", None))
    except SlimdetError as err:
        results.put(("user-error", str(err)))
    except Exception:
        results.put(("failure", traceback.format_exc()))
