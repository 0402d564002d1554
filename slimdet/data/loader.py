"""Batches per epoch: a (distributed) batch sampler and an ordered multi-process loader.

Why not ``paddle.io.DataLoader``: batches here are plain numpy dicts built by numpy/OpenCV code, so a
small process pool does the job without importing paddle in every worker; and because every batch's
randomness comes from (seed, epoch, index) (see pipeline.py), results are identical for 0, 1 or N
workers. Workers are started with 'spawn' (a fork of a process that runs paddle/OpenCV threads can
hang), take whole batches from one task queue and hand them back through shared memory (see
_transport.py); the loader yields them in order. They hold a lifeline to the loader's process
(slimdet/_lifeline.py): if it is killed, even with SIGKILL, they exit within a second. SIGINT and SIGTERM
are the loader's process's business (slimdet/interrupts.py): workers ignore them from their start on, and
one that dies anyway while that process is stopping is part of the stop: the loader builds the batches
left in-process (the same batches), so that the step in progress finishes and the checkpoint is written.
"""

from __future__ import annotations

import itertools
import math
import multiprocessing
import queue
import time
import traceback
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from slimdet._lifeline import HelperEnded, Lifeline, next_result
from slimdet.data._transport import pack, unpack
from slimdet.data.datasets import DetectionDataset
from slimdet.data.pipeline import Batch, Pipeline, shuffle_rng
from slimdet.data.transforms import Sample
from slimdet.errors import DataError, SlimdetError
from slimdet.interrupts import leave_stops_to_parent, start_helpers, stop_requested


@dataclass(frozen=True)
class BatchSampler:
    """Indices of each batch of an epoch for one rank, like paddle's DistributedBatchSampler.

    The epoch order (shuffled with (seed, epoch) when ``shuffle``) is padded by repeating its start to
    a multiple of ``world_size``; rank r takes every world_size-th index from position r.
    """

    num_samples: int
    batch_size: int
    shuffle: bool = False
    drop_last: bool = False
    seed: int = 0
    rank: int = 0
    world_size: int = 1

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise DataError(f"batch_size must be at least 1, got {self.batch_size}")
        if not 0 <= self.rank < self.world_size:
            raise DataError(f"rank {self.rank} is outside world size {self.world_size}")

    @property
    def per_rank(self) -> int:
        return math.ceil(self.num_samples / self.world_size)

    def __len__(self) -> int:
        if self.drop_last:
            return self.per_rank // self.batch_size
        return math.ceil(self.per_rank / self.batch_size)

    def batches(self, epoch: int) -> list[list[int]]:
        order = np.arange(self.num_samples)
        if self.shuffle:
            order = shuffle_rng(self.seed, epoch).permutation(self.num_samples)
        total = self.per_rank * self.world_size
        if total > self.num_samples:
            order = np.concatenate([order, order[: total - self.num_samples]])
        mine = order[self.rank : total : self.world_size].tolist()
        return [mine[i : i + self.batch_size] for i in range(0, len(mine), self.batch_size)][: len(self)]


class DataLoader:
    """Iterate batches (dicts of numpy arrays) of a pipeline, with ``workers`` processes (0 = in-process).

    ``for batch in loader`` runs one epoch — number ``loader.epoch``, then advances it, so each epoch is
    reshuffled. ``epoch_batches(e, start)`` runs a given epoch from a given batch; ``forever(start_iter)``
    is the endless stream for iteration-based training, resumable at any iteration. Call ``close()``
    (or use ``with``) to stop the workers early; they also stop when the loader is garbage-collected.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        sampler: BatchSampler,
        *,
        seed: int = 0,
        workers: int = 0,
        epoch_start: int = 0,
        prefetch: int = 2,
    ):
        self.pipeline = pipeline
        self.sampler = sampler
        self.seed = seed
        self.workers = workers
        self.epoch_start = epoch_start
        self.epoch = epoch_start
        self.prefetch = max(1, prefetch)
        self._pool: _WorkerPool | None = None
        self._runs = itertools.count()

    @property
    def dataset(self) -> DetectionDataset:
        return self.pipeline.dataset

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self) -> Iterator[Batch]:
        epoch, self.epoch = self.epoch, self.epoch + 1
        return self.epoch_batches(epoch)

    def forever(self, start_iter: int = 0) -> Iterator[Batch]:
        """Batches across epochs without end, starting at global iteration ``start_iter``."""
        if len(self) == 0:
            raise DataError("the loader yields no batches: the dataset is smaller than one batch (lower batch_size)")
        epoch, offset = divmod(start_iter, len(self))
        epoch += self.epoch_start
        while True:
            yield from self.epoch_batches(epoch, offset)
            epoch, offset = epoch + 1, 0

    def epoch_samples(self, epoch: int) -> Iterator[list[Sample]]:
        """The batches of an epoch as transformed samples, before stacking (in-process; for pictures)."""
        batches = self.sampler.batches(epoch)
        for k, indices in enumerate(batches):
            yield self.pipeline.load_samples(indices, epoch, self.seed, (self.sampler.rank, k))

    def epoch_batches(self, epoch: int, start: int = 0) -> Iterator[Batch]:
        batches = self.sampler.batches(epoch)
        keys = [(self.sampler.rank, k) for k in range(len(batches))]
        if self.workers > 0:
            for batch in self._pooled(batches, keys, epoch, start):
                yield batch
                start += 1
        for k in range(start, len(batches)):  # no workers, or they died while this process is stopping
            yield self.pipeline.load_batch(batches[k], epoch, self.seed, keys[k])

    def _pooled(self, batches: list[list[int]], keys: list[tuple[int, int]], epoch: int, start: int) -> Iterator[Batch]:
        """Batches ``start`` … of an epoch from the workers, in order; ends early if a worker died while this
        process is stopping (see :func:`~slimdet.interrupts.stop_requested`)."""
        if self._pool is None:
            self._pool = _WorkerPool(self.pipeline, self.workers)
        run = next(self._runs)
        ready: dict[int, tuple[Any, BaseException | None]] = {}
        submitted = start
        for want in range(start, len(batches)):
            while submitted < len(batches) and submitted - want < self.prefetch * self.workers:
                self._pool.put((run, submitted), (batches[submitted], epoch, self.seed, keys[submitted]))
                submitted += 1
            while want not in ready:
                try:
                    (got_run, k), batch, error = self._pool.get()
                except _WorkerDied:
                    if not stop_requested():
                        raise
                    self.close()
                    return
                if got_run == run:  # results of an abandoned earlier run are dropped
                    ready[k] = (batch, error)
            batch, error = ready.pop(want)
            if error is not None:
                raise error
            yield batch

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def __enter__(self) -> DataLoader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _WorkerDied(RuntimeError):
    """A worker process ended before the loader stopped it."""


class _WorkerPool:
    """Worker processes sharing one task queue and one result queue."""

    def __init__(self, pipeline: Pipeline, workers: int):
        ctx = multiprocessing.get_context("spawn")
        self.tasks = ctx.Queue()
        self.results = ctx.Queue()
        lifeline = Lifeline.to_this_process()
        self.procs = [
            ctx.Process(
                target=_work, args=(lifeline, pipeline, self.tasks, self.results), daemon=True, name=f"slimdet-data-{i}"
            )
            for i in range(workers)
        ]
        self._finalizer = weakref.finalize(self, _stop, self.procs, self.tasks, self.results)
        try:
            start_helpers(self.procs)
        except BaseException:  # Ctrl-C or SIGTERM as they started: they have no work to finish yet
            for proc in self.procs:
                if proc.pid is not None:
                    proc.kill()
            self.close()
            raise

    def put(self, tag: tuple[int, int], args: tuple) -> None:
        self.tasks.put((tag, args))

    def get(self) -> tuple[tuple[int, int], Any, BaseException | None]:
        try:  # a worker leaves only when the pool closes: one gone before is dead
            tag, payload, error = next_result(self.results, self.procs, ended=lambda proc: not proc.is_alive())
        except HelperEnded as ended:
            raise _WorkerDied(f"data worker {ended.helper.name} died (exit code {ended.helper.exitcode})") from None
        return tag, (None if payload is None else unpack(payload)), error

    def close(self) -> None:
        self._finalizer()


def _work(lifeline: Lifeline, pipeline: Pipeline, tasks: Any, results: Any) -> None:
    """Worker main loop: build batches until the None sentinel arrives (or the loader's process is gone)."""
    leave_stops_to_parent()  # the loader's process stops with a checkpoint, and then stops its workers
    lifeline.hold()
    import cv2

    cv2.setNumThreads(1)  # parallelism comes from the processes
    while (task := tasks.get()) is not None:
        tag, args = task
        try:
            results.put((tag, pack(pipeline.load_batch(*args), owner=lifeline.parent_pid), None))
        except Exception as err:
            results.put((tag, None, _portable(err)))


def _portable(err: Exception) -> BaseException:
    """User errors travel as they are; anything else as a RuntimeError carrying the worker's traceback."""
    if isinstance(err, SlimdetError):
        return err
    return RuntimeError(f"data worker failed:\n{''.join(traceback.format_exception(err))}")


def _stop(procs: list, tasks: Any, results: Any) -> None:
    try:
        for _ in procs:
            tasks.put(None)
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            # Drain, so that a worker blocked on a full result pipe can exit, and until the workers are gone
            # and the pipe is empty, so that no shared block they sent outlives the loader.
            alive = any(p.is_alive() for p in procs)
            try:
                _, payload, _ = results.get(timeout=0.05)
            except queue.Empty:
                if not alive:
                    break
                continue
            if payload is not None:
                unpack(payload)
    finally:  # also when a repeated Ctrl-C cuts the wait short: no worker outlives the loader
        for proc in procs:
            if proc.pid is None:  # never started (interrupted while starting them)
                continue
            if proc.is_alive():
                proc.kill()  # a worker ignores SIGTERM, and holds nothing to save
            proc.join(timeout=1.0)
        for q in (tasks, results):
            q.cancel_join_thread()
            q.close()
