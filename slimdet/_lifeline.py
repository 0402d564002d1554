"""Helper processes die with the process that started them, however it dies (SIGKILL included).

A worker blocked on a task queue never learns that its parent was killed: it waits forever, adopted by
init, holding its memory — and, through the pipe it shares with it, it keeps multiprocessing's resource
tracker alive too, so nothing cleans up the shared-memory blocks. Hence every child slimdet starts
holds a :class:`Lifeline` to its parent, taken the moment the child starts:

- on Linux, the kernel's parent-death signal (``prctl(PR_SET_PDEATHSIG)``) kills the child as soon as
  the parent is gone. The kernel ties it to the parent *thread* that started the child, so it is only
  armed when that thread is the main thread, which lives as long as the process;
- everywhere, a daemon thread checks twice a second that the parent is still there and ends the
  process otherwise (the same idea as PyTorch's DataLoader watchdog).

The parent may die before the child gets that far, so the child checks once more right after arming
the signal: a parent already gone means a new parent pid.

The other way round, a parent waiting for a result from its helpers (:func:`next_result`) looks between
results whether one of them ended: what that one had taken on would never come.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import Any

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
CHECK_EVERY = 0.5  # seconds between the watchdog's looks at the parent
ORPHAN_EXIT_CODE = 1  # nobody reads it (the parent is gone), but a clean 0 would be a lie
RESULT_WAIT = 0.1  # seconds a parent waits for a result before it looks whether a helper ended


@dataclass(frozen=True)
class Lifeline:
    """Made in the parent (:meth:`to_this_process`), handed to the child, held there (:meth:`hold`)."""

    parent_pid: int
    death_signal: bool = True  # whether the kernel's parent-death signal may be armed (see module doc)

    @classmethod
    def to_this_process(cls) -> Lifeline:
        """A lifeline to the calling process, for a child started from the calling thread."""
        return cls(os.getpid(), death_signal=threading.current_thread() is threading.main_thread())

    def hold(self) -> None:
        """In the child, first thing: exit when the parent is gone, now or later."""
        if self.death_signal:
            set_parent_death_signal(signal.SIGKILL)  # workers write nothing: nothing is lost, nothing dumped
        if not self.parent_alive():
            os._exit(ORPHAN_EXIT_CODE)
        threading.Thread(target=self._watch, name="slimdet-lifeline", daemon=True).start()

    def arm_before_exec(self) -> None:
        """``preexec_fn`` for a program run with subprocess: it gets SIGTERM when the parent dies, so that it
        can stop what it started in turn. Linux only: a program we exec cannot run our watchdog."""
        if self.death_signal:
            set_parent_death_signal(signal.SIGTERM)  # kept across exec
        if os.getppid() != self.parent_pid:
            os._exit(ORPHAN_EXIT_CODE)

    def parent_alive(self) -> bool:
        """Whether the parent is still there: still our parent (POSIX re-parents orphans), and still
        open at the other end of multiprocessing's sentinel pipe when we are its child (any OS)."""
        mp_parent = multiprocessing.parent_process()
        return os.getppid() == self.parent_pid and (mp_parent is None or mp_parent.is_alive())

    def _watch(self) -> None:
        while self.parent_alive():
            time.sleep(CHECK_EVERY)
        os._exit(ORPHAN_EXIT_CODE)  # from a thread, ends the whole process at once


def end_with(pid: int) -> None:
    """End this process (SIGKILL) once another one than its parent, ``pid``, is gone or a zombie.

    A forked watcher process does it, not a thread: a thread needs the GIL, which paddle keeps through some
    blocking calls (a rank meeting the others over gloo), so it could only act once that call returns. Call it
    before any thread starts (a fork copies only the calling thread). The watcher dies with this process (the
    parent-death signal) and never returns."""
    me = os.getpid()
    if not hasattr(os, "fork") or os.fork() != 0:
        return
    try:  # the watcher: nothing here may raise into the copy of the caller's stack
        for signum in (signal.SIGINT, signal.SIGTERM):  # a stop sent to the group ends it quietly, whatever
            signal.signal(signum, signal.SIG_DFL)  # handler it was forked with (paddle's prints a C++ dump)
        set_parent_death_signal(signal.SIGKILL)
        while os.getppid() == me and process_alive(pid):
            time.sleep(CHECK_EVERY)
        if os.getppid() == me:
            os.kill(me, signal.SIGKILL)
    finally:
        os._exit(0)


def process_alive(pid: int) -> bool:
    """Whether ``pid`` runs: a zombie (killed, not yet reaped by its parent) counts as gone."""
    if not os.path.isdir("/proc/self"):  # no /proc (not Linux): a signal 0 tells whether the pid exists
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"  # the state follows the command's name
    except FileNotFoundError:  # gone, and reaped
        return False


def set_parent_death_signal(signum: int) -> bool:
    """Ask Linux to send ``signum`` to this process when its parent (thread) dies; False elsewhere."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return False
    return prctl(PR_SET_PDEATHSIG, ctypes.c_ulong(signum), 0, 0, 0) == 0


class HelperEnded(Exception):
    """A helper process ended while its parent was waiting for results."""

    def __init__(self, helper: BaseProcess) -> None:
        super().__init__(f"{helper.name} ended (exit code {helper.exitcode})")
        self.helper = helper


def next_result(results: Any, helpers: Sequence[BaseProcess], ended: Callable[[BaseProcess], bool]) -> Any:
    """The next item of the ``results`` queue; raises :class:`HelperEnded` instead once one of ``helpers`` has
    ``ended`` (what counts as that is the caller's: a helper may be allowed to finish its part and leave)."""
    while True:
        try:
            return results.get(timeout=RESULT_WAIT)
        except queue.Empty:
            for helper in helpers:
                if ended(helper):
                    raise HelperEnded(helper) from None
