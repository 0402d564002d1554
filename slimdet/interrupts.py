"""Stopping on SIGINT and SIGTERM: the same polite stop for Ctrl-C and for ``kill``, a batch scheduler or systemd.

Both signals mean "stop": a training loop finishes the step in progress, saves a checkpoint to resume from
and exits with 128 + the signal number (130, 143), the code a shell shows for a process ended by that signal.
Elsewhere SIGTERM raises :class:`Terminated` where SIGINT raises ``KeyboardInterrupt``, so the same cleanup
runs (``finally`` blocks, temp files, loader workers) instead of the process dying on the spot.

``import paddle`` installs C++ handlers for SIGTERM (they print a "FatalError … C++ Traceback" and kill the
process): :func:`sigterm_raises` takes SIGTERM back as soon as paddle has been imported.

A signal this process was started with ignored stays ignored: a shell without job control (a script running
``slimdet train … &``) starts background jobs with SIGINT ignored, so that a Ctrl-C meant for the job in the
foreground does not stop them, and ``trap '' TERM`` asks the same of SIGTERM.

Helper processes (loader and sensitivity workers) leave both signals to the process that started them,
which stops them itself: they ignore them. A signal sent to the whole process group (Ctrl-C in a terminal,
``kill -TERM -PGID``, systemd, paddle's launcher) also reaches a helper that is still starting up, before
it could ignore anything, and would kill it: :func:`start_helpers` starts them with both signals blocked,
and :func:`leave_stops_to_parent` turns the block into "ignored" once the helper is ready.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from multiprocessing.process import BaseProcess
from types import ModuleType
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_VERBS = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}
_CAN_BLOCK = hasattr(signal, "pthread_sigmask")  # POSIX; on Windows no signal reaches a process group anyway
_stop_requested = 0  # the signal that asked for the stop that stop_requests() is carrying out, 0 while none did
_terminating = False  # a SIGTERM asked a loop to stop: until the command ends, more of them change nothing


class Terminated(KeyboardInterrupt):
    """SIGTERM as an exception, a ``KeyboardInterrupt`` so that code cleaning up after Ctrl-C also cleans up
    after SIGTERM."""


class Interrupted(Exception):
    """A run that SIGINT or SIGTERM stopped once it had saved what it needs to resume; the message says how.

    Not a ``SlimdetError``: the CLI exits with :func:`exit_code` of ``signum``, not 2.
    """

    def __init__(self, message: str, signum: int = signal.SIGINT) -> None:
        super().__init__(message)
        self.signum = signum


def exit_code(signum: int) -> int:
    """The shell's exit code for a process stopped by ``signum``: 130 for SIGINT, 143 for SIGTERM."""
    return 128 + signum


def verb(signum: int) -> str:
    """ "interrupted" (Ctrl-C) or "terminated" (SIGTERM), for the one line a stopped command prints."""
    return _VERBS.get(signum, f"stopped by {signal.Signals(signum).name}")


def signal_of(error: KeyboardInterrupt) -> int:
    """Which signal raised ``error``: SIGTERM for :class:`Terminated`, else SIGINT."""
    return signal.SIGTERM if isinstance(error, Terminated) else signal.SIGINT


def _raise_terminated(signum: int, frame: Any) -> None:
    if not _terminating:  # a repeated SIGTERM (paddle's launcher sends three) must not cut the stop short
        raise Terminated


def _ignored(signum: int) -> bool:
    """Whether ``signum`` is ignored here (the process was started so, see the module's docstring)."""
    return signal.getsignal(signum) == signal.SIG_IGN


def stop_signals_heard() -> tuple[int, ...]:
    """SIGINT and SIGTERM, less any this process was started with ignored: the ones to install handlers for."""
    return tuple(signum for signum in STOP_SIGNALS if not _ignored(signum))


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()  # signal.signal works only there


def _restorable(handler: Any, signum: int) -> Any:
    """A handler ``signal.signal`` accepts back: ``None`` (installed outside Python) becomes Python's default."""
    if handler is not None:
        return handler
    return signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """For a whole command: SIGTERM raises :class:`Terminated`, also once paddle is imported (paddle's C++
    handler would print a C++ traceback and kill the process without cleaning up); ignored at the start, it
    stays ignored, paddle's import notwithstanding. Restored at the end."""
    if not _on_main_thread():
        yield
        return
    wanted = signal.SIG_IGN if _ignored(signal.SIGTERM) else _raise_terminated

    def take_back() -> None:  # from paddle's C++ handler, installed by its import
        if _on_main_thread():
            signal.signal(signal.SIGTERM, wanted)

    global _terminating
    previous = signal.signal(signal.SIGTERM, wanted)
    hook = _AfterImport("paddle", take_back)
    sys.meta_path.insert(0, hook)
    try:
        yield
    finally:
        hook.remove()
        signal.signal(signal.SIGTERM, _restorable(previous, signal.SIGTERM))
        _terminating = False


@contextmanager
def stop_requests(request_stop: Callable[[int], None]) -> Iterator[None]:
    """Around a loop that can stop cleanly between two steps: a SIGINT or SIGTERM calls ``request_stop(signum)``.

    After that a second Ctrl-C goes to the handler from before (it interrupts at once: the user insists),
    while SIGTERM stays a request: paddle's launcher sends it three times within a second, and a scheduler
    that insists sends SIGKILL; after the block too, until the command ends (``sigterm_raises``), a SIGTERM
    changes nothing once one asked for the stop. A signal ignored at the start stays ignored. The handlers from
    before are back when the block ends.
    """
    global _stop_requested
    if not _on_main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in stop_signals_heard()}
    outer_request = _stop_requested

    def handler(signum: int, frame: Any) -> None:
        global _stop_requested, _terminating
        _stop_requested = _stop_requested or signum
        _terminating = _terminating or signum == signal.SIGTERM
        request_stop(signum)
        if signal.SIGINT in previous:
            signal.signal(signal.SIGINT, _restorable(previous[signal.SIGINT], signal.SIGINT))

    for signum in previous:
        signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, _restorable(old, signum))
        _stop_requested = outer_request


def stop_requested() -> int:
    """The signal that asked for a stop that is under way (see :func:`stop_requests`), 0 while none did.

    Code waiting for helper processes asks it when one has died: while this process is stopping, that is
    part of the stop (the helper may have been sent the same signal), not a crash to report.
    """
    return _stop_requested


@contextmanager
def signals_deferred() -> Iterator[None]:
    """SIGINT and SIGTERM (those not ignored) wait until the block is done, then reach the handlers from before:
    files written as one set (a checkpoint) are never cut in half by a second signal."""
    if not _on_main_thread():
        yield
        return
    pending: list[int] = []
    previous = {signum: signal.signal(signum, lambda s, frame: pending.append(s)) for signum in stop_signals_heard()}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, _restorable(old, signum))
        for signum in dict.fromkeys(pending):  # in arrival order, each once
            signal.raise_signal(signum)


def start_helpers(processes: Sequence[BaseProcess]) -> None:
    """Start helper processes with SIGINT and SIGTERM blocked, so that one still starting up does not die of
    a signal sent to the whole process group; each must call :func:`leave_stops_to_parent` when ready.

    The mask is per thread and inherited through fork and exec ('spawn'). Another thread of this process
    may still take a signal meanwhile, so Python's handlers wait too (:func:`signals_deferred`): no helper is
    left half-started, without the data it was to read from this process. A signal that arrived is handled
    once all are started; should its handler raise (``KeyboardInterrupt``, :class:`Terminated`), the caller
    stops the helpers.
    """
    with signals_deferred(), _stop_signals_blocked():
        for process in processes:
            process.start()


@contextmanager
def _stop_signals_blocked() -> Iterator[None]:
    """SIGINT and SIGTERM blocked in this thread, and in the processes it starts, until the block ends."""
    if not _CAN_BLOCK:
        yield
        return
    from multiprocessing import resource_tracker

    # Starting a process starts multiprocessing's resource tracker first if it is not running, and that
    # unblocks both signals afterwards (it blocks them for its own start): have it running before blocking.
    resource_tracker.ensure_running()
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def leave_stops_to_parent() -> None:
    """In a helper started by :func:`start_helpers`, once nothing it imports installs handlers of its own
    any more (paddle does): ignore SIGINT and SIGTERM, then unblock them. One that arrived while they were
    blocked is dropped: the process that started the helper got it too, and stops the helper itself."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    if _CAN_BLOCK:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs ``callback`` right after module ``name`` is first imported (executed), wherever that happens.

    It only wraps the loader that the rest of ``sys.meta_path`` finds, and leaves ``sys.meta_path`` at once.
    """

    def __init__(self, name: str, callback: Callable[[], object]) -> None:
        self.name = name
        self.callback = callback

    def find_spec(self, fullname: str, path: Any = None, target: ModuleType | None = None) -> Any:
        if fullname != self.name:
            return None
        self.remove()
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module
        callback = self.callback

        def exec_module(module: ModuleType) -> None:
            execute(module)
            callback()

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec

    def remove(self) -> None:
        if self in sys.meta_path:
            sys.meta_path.remove(self)
