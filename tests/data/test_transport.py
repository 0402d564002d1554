"""Batches cross from worker to loader intact, and shared-memory blocks do not outlive the hand-over."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from slimdet.data import _transport


def test_large_batches_round_trip_through_a_shared_block_that_is_then_removed():
    rng = np.random.default_rng(0)
    batch = {
        "image": rng.random((2, 3, 320, 320), dtype=np.float32),
        "gt_class": rng.integers(0, 3, (2, 50)).astype(np.int32),
        "im_id": np.arange(2, dtype=np.int64),
    }
    kind, data = payload = _transport.pack(batch, owner=os.getpid())
    if kind == "inline":
        pytest.skip("no room in /dev/shm on this machine")
    assert kind == "shared" and Path("/dev/shm", data[0]).exists()
    assert data[0].startswith(f"slimdet_{os.getpid()}_")  # how a run's leftovers would be found
    out = _transport.unpack(payload)
    assert not Path("/dev/shm", data[0]).exists()
    assert out.keys() == batch.keys()
    for key in batch:
        assert out[key].dtype == batch[key].dtype
        np.testing.assert_array_equal(out[key], batch[key])


def test_small_batches_travel_inline():
    batch = {"image": np.zeros((1, 3, 8, 8), np.float32)}
    kind, data = _transport.pack(batch, owner=os.getpid())
    assert kind == "inline" and data is batch


def test_without_usable_shared_memory_batches_travel_inline(monkeypatch):
    monkeypatch.setattr(_transport, "SHM_DIR", "/nonexistent-shm")
    kind, _ = _transport.pack({"image": np.zeros((4, 3, 320, 320), np.float32)}, owner=os.getpid())
    assert kind == "inline"


def test_a_block_is_known_to_the_resource_tracker_before_it_exists(monkeypatch):
    # A worker is sent SIGKILL when its loader's process dies: killed between creating a block and telling the
    # tracker, it would leave the block to nobody. So the tracker hears of it first, and forgets it again if
    # the block cannot be made.
    from multiprocessing import resource_tracker, shared_memory

    events: list[tuple[str, str]] = []
    monkeypatch.setattr(resource_tracker, "register", lambda name, rtype: events.append(("register", name)))
    monkeypatch.setattr(resource_tracker, "unregister", lambda name, rtype: events.append(("unregister", name)))
    real = shared_memory.SharedMemory

    def create(name=None, create=False, size=0):
        events.append(("create" if create else "attach", f"/{name}"))
        return real(name=name, create=create, size=size)

    monkeypatch.setattr(shared_memory, "SharedMemory", create)
    payload = _transport.pack({"image": np.ones(1 << 19, np.float32)}, owner=os.getpid())
    tracked = f"/{payload[1][0]}"
    assert events[:2] == [("register", tracked), ("create", tracked)]
    _transport.unpack(payload)
    assert events[-1] == ("unregister", tracked) and not Path(_transport.SHM_DIR, tracked[1:]).exists()

    def refused(name=None, create=False, size=0):
        raise OSError(28, "No space left on device")

    events.clear()
    monkeypatch.setattr(shared_memory, "SharedMemory", refused)
    with pytest.raises(OSError):
        _transport.pack({"image": np.ones(1 << 19, np.float32)}, owner=os.getpid())
    assert [kind for kind, _ in events] == ["register", "unregister"] and events[0][1] == events[1][1]
