"""Process trees and shared-memory blocks seen through /proc and /dev/shm (Linux), for tests that kill a
run and check what it leaves behind."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from multiprocessing.context import SpawnProcess
from pathlib import Path

import pytest

from slimdet.data._transport import BLOCK_PREFIX, SHM_DIR


class StderrLines:
    """A child's stderr read line by line on a thread, so that a test waiting for a line fails after a deadline
    (killing the child) instead of hanging on a child that stalled; ``rest`` gives what followed."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self._queue.put(line)
        self._queue.put(None)  # end of stream

    def wait_for(self, predicate: Callable[[str], bool], timeout: float) -> str:
        """The first line (from here on) for which ``predicate`` holds; kills the child and fails when none
        comes within ``timeout`` s or the stream ends first."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = None
                ended = f"no such line within {timeout:g} s"
            else:
                ended = "stderr ended before such a line"
            if line is None:
                self.process.kill()
                self.process.wait()
                pytest.fail(f"{ended}; stderr so far:\n{''.join(self.lines)[-3000:]}")
            self.lines.append(line)
            if predicate(line):
                return line

    def rest(self, timeout: float) -> str:
        """Everything the child writes to stderr until it exits (within ``timeout`` s)."""
        self.process.wait(timeout=timeout)
        self._reader.join(timeout=timeout)
        while (line := self._queue.get()) is not None:
            self.lines.append(line)
        return "".join(self.lines)


def descendants(pid: int) -> set[int]:
    """Every process below ``pid``: children, their children, and so on."""
    below: dict[int, set[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # the command name may hold spaces and ')'
        except OSError:  # gone meanwhile
            continue
        below.setdefault(int(fields[1]), set()).add(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in below.get(todo.pop(), set()) - found:
            found.add(child)
            todo.append(child)
    return found


def running(pid: int) -> bool:
    """Alive, zombies excepted (an orphan's zombie only waits for init to reap it: it holds nothing)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def spawned_workers(pid: int) -> list[int]:
    """The processes below ``pid`` that multiprocessing started with 'spawn' (data or trial workers)."""
    return [p for p in descendants(pid) if "multiprocessing.spawn" in command_line(p)]


def shared_blocks(owner: int) -> list[str]:
    """The shared-memory blocks in /dev/shm made for process ``owner`` (see slimdet/data/_transport.py)."""
    return sorted(p.name for p in Path(SHM_DIR).glob(f"{BLOCK_PREFIX}{owner}_*"))


def wait_for(condition: Callable[[], object], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def assert_sigkill_leaves_nothing(process: subprocess.Popen, within: float = 10.0) -> list[str]:
    """SIGKILL ``process`` and check that its whole tree exits within ``within`` seconds and no shared
    block of its remains; returns the command lines of the processes that were below it."""
    tree = {pid: command_line(pid) for pid in descendants(process.pid)}
    process.send_signal(signal.SIGKILL)
    process.wait()
    gone = wait_for(lambda: not any(map(running, tree)) and not shared_blocks(process.pid), within)
    left = {pid: command_line(pid) for pid in tree if running(pid)}
    blocks = shared_blocks(process.pid)
    if not gone:  # a failing test must not leave them to the machine either
        _clean_up(left, process.pid)
    assert gone, f"left behind: {left}, shared blocks {blocks}"
    return sorted(tree.values())


def signal_on_start(monkeypatch: pytest.MonkeyPatch, *signums: int, this_process: int = 0) -> None:
    """For the rest of the test, each process started with 'spawn' is sent ``signums`` as soon as its
    ``start()`` returns, while it is still starting up (Python itself is still loading), as when a signal
    sent to a whole process group reaches workers just started; this process then gets ``this_process``."""
    start = SpawnProcess.start

    def start_then_signal(process: SpawnProcess) -> None:
        start(process)
        for signum in signums:
            os.kill(process.pid, signum)
        if this_process:
            os.kill(os.getpid(), this_process)

    monkeypatch.setattr(SpawnProcess, "start", start_then_signal)


def _clean_up(left: dict[int, str], owner: int) -> None:
    """Kill what a failed test left; the resource tracker last, so that it may first remove the queues'
    semaphores (it does once no other process holds its pipe)."""
    for pid, command in left.items():
        if "resource_tracker" not in command:
            _kill(pid)
    wait_for(lambda: not any(map(running, left)), timeout=5)
    for pid in left:
        _kill(pid)
    for name in shared_blocks(owner):
        Path(SHM_DIR, name).unlink(missing_ok=True)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it may have exited meanwhile
        os.kill(pid, signal.SIGKILL)
