"""Loaders: same batches with any number of workers, per-epoch reshuffle, rank split, resumable stream, workers
that leave SIGINT and SIGTERM to the loader's process."""

from __future__ import annotations

import itertools
import signal

import numpy as np
import pytest

from slimdet.data import BatchSampler, build_loader
from slimdet.errors import DataError
from slimdet.interrupts import stop_requests

from ..processes import signal_on_start
from .configs import reader_config


def _assert_same_batches(left, right):
    assert len(left) == len(right)
    for a, b in zip(left, right):
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_two_workers_yield_exactly_the_batches_of_zero_workers(shapes_config):
    cfg = shapes_config(fine_grained=True, size=320)  # batches of 5 MB: they travel through shared memory
    in_process = list(build_loader(cfg, "train", seed=5, workers=0))
    with build_loader(cfg, "train", seed=5, workers=2) as loader:
        pooled = list(loader)
        pooled_next_epoch = list(loader)
    assert len(in_process) == 4  # 16 images, batch 4
    _assert_same_batches(in_process, pooled)
    in_process_next = list(build_loader(cfg, "train", seed=5, workers=0, epoch_start=1))
    _assert_same_batches(in_process_next, pooled_next_epoch)


def test_each_epoch_is_reshuffled_and_repeatable():
    sampler = BatchSampler(num_samples=10, batch_size=3, shuffle=True, seed=1)
    epoch0, epoch1 = sampler.batches(0), sampler.batches(1)
    assert sorted(itertools.chain(*epoch0)) == list(range(10))
    assert epoch0 != epoch1
    assert BatchSampler(num_samples=10, batch_size=3, shuffle=True, seed=1).batches(0) == epoch0
    assert [len(b) for b in epoch0] == [3, 3, 3, 1] and len(sampler) == 4


def test_drop_last_drops_the_short_batch():
    sampler = BatchSampler(num_samples=10, batch_size=3, drop_last=True)
    assert sampler.batches(0) == [[0, 1, 2], [3, 4, 5], [6, 7, 8]] and len(sampler) == 3


def test_ranks_split_an_epoch_into_equal_disjoint_shares_padded_to_cover_all():
    shares = [BatchSampler(num_samples=10, batch_size=2, shuffle=True, seed=3, rank=r, world_size=3) for r in range(3)]
    per_rank = [list(itertools.chain(*s.batches(0))) for s in shares]
    assert [len(p) for p in per_rank] == [4, 4, 4]  # ceil(10 / 3), padded by repeating the start
    assert set(itertools.chain(*per_rank)) == set(range(10))
    assert len(set(per_rank[0]) & set(per_rank[1])) <= 1
    with pytest.raises(DataError, match="rank 3 is outside world size 3"):
        BatchSampler(num_samples=10, batch_size=2, rank=3, world_size=3)


def test_iterating_advances_the_epoch(shapes_config):
    loader = build_loader(shapes_config(fine_grained=False), "train", seed=0, workers=0)
    first = [b["gt_bbox"] for b in loader]
    second = [b["gt_bbox"] for b in loader]
    assert loader.epoch == 2
    assert any(not np.array_equal(a, b) for a, b in zip(first, second))


def test_forever_resumes_at_any_iteration(shapes_config):
    cfg = shapes_config(fine_grained=False)
    loader = build_loader(cfg, "train", seed=2, workers=0)
    stream = list(itertools.islice(loader.forever(), 7))  # 4 batches per epoch: crosses into epoch 1
    resumed = list(itertools.islice(build_loader(cfg, "train", seed=2, workers=0).forever(start_iter=5), 2))
    _assert_same_batches(stream[5:], resumed)


def test_a_bad_image_in_a_worker_surfaces_as_a_data_error_naming_it(shapes_config, voc_copy):
    victim = voc_copy / "JPEGImages" / "test_00002.jpg"
    victim.write_bytes(b"garbage")
    with (
        build_loader(reader_config(voc_copy), "eval", workers=1) as loader,
        pytest.raises(DataError, match=r"cannot decode image .*test_00002\.jpg"),
    ):
        list(loader)


def test_workers_signalled_while_starting_leave_the_stop_to_the_loaders_process(shapes_config, monkeypatch):
    cfg = shapes_config(fine_grained=False)
    in_process = list(build_loader(cfg, "train", seed=3, workers=0))
    signal_on_start(monkeypatch, signal.SIGINT, signal.SIGTERM, this_process=signal.SIGTERM)  # a process group's
    stops = []
    with stop_requests(stops.append), build_loader(cfg, "train", seed=3, workers=2) as loader:
        pooled = list(loader)
    _assert_same_batches(in_process, pooled)
    assert stops and set(stops) == {signal.SIGTERM}  # handled here once both workers were started


def test_a_dead_worker_fails_the_loader_unless_its_process_is_stopping(shapes_config, monkeypatch):
    cfg = shapes_config(fine_grained=False)
    in_process = list(build_loader(cfg, "train", seed=3, workers=0))
    signal_on_start(monkeypatch, signal.SIGKILL)
    with (
        build_loader(cfg, "train", seed=3, workers=2) as loader,
        pytest.raises(RuntimeError, match=r"data worker slimdet-data-\d died \(exit code -9\)"),
    ):
        list(loader)

    monkeypatch.undo()
    signal_on_start(monkeypatch, signal.SIGKILL, this_process=signal.SIGTERM)
    with stop_requests(lambda signum: None), build_loader(cfg, "train", seed=3, workers=2) as loader:
        stopping = list(loader)  # the workers' death is part of the stop: the batches are built here instead
    _assert_same_batches(in_process, stopping)
