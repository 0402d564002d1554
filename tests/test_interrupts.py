"""Signals a process was started with ignored stay ignored (a background job of a shell without job control
ignores SIGINT, ``trap '' TERM`` SIGTERM): stop requests, deferred signals and paddle's import alike; a SIGTERM
repeated during an orderly stop changes nothing."""

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from slimdet.interrupts import STOP_SIGNALS, Terminated, signals_deferred, sigterm_raises, stop_requests


@pytest.fixture(params=STOP_SIGNALS, ids=["SIGINT", "SIGTERM"])
def ignored(request) -> Iterator[int]:
    """A stop signal this process ignores, as if it had been started so; the handler from before is put back."""
    previous = signal.signal(request.param, signal.SIG_IGN)
    try:
        yield request.param
    finally:
        signal.signal(request.param, previous)


def test_a_stop_request_is_not_made_of_an_ignored_signal(ignored):
    requests = []
    with stop_requests(requests.append):
        assert signal.getsignal(ignored) == signal.SIG_IGN
        os.kill(os.getpid(), ignored)
    assert requests == [] and signal.getsignal(ignored) == signal.SIG_IGN


def test_an_ignored_signal_is_not_deferred_and_stays_ignored(ignored):
    with signals_deferred():
        assert signal.getsignal(ignored) == signal.SIG_IGN
        os.kill(os.getpid(), ignored)
    assert signal.getsignal(ignored) == signal.SIG_IGN  # and nothing was raised on the way out


def test_waiting_for_the_launcher_neither_hears_nor_forwards_an_ignored_signal(ignored):
    from slimdet.launcher import _stop_forwarded

    class Launcher:
        def __init__(self) -> None:
            self.sent: list[int] = []

        def send_signal(self, signum: int) -> None:
            self.sent.append(signum)

    launcher = Launcher()
    with _stop_forwarded(launcher) as received:
        os.kill(os.getpid(), ignored)
    assert (received, launcher.sent) == ([], []) and signal.getsignal(ignored) == signal.SIG_IGN


def test_a_signal_that_is_not_ignored_still_requests_the_stop():
    requests = []
    with stop_requests(requests.append):
        os.kill(os.getpid(), signal.SIGTERM)
    assert requests == [signal.SIGTERM]


def test_once_a_sigterm_asked_for_the_stop_more_of_them_change_nothing_until_the_command_ends():
    """paddle's launcher sends SIGTERM up to three times, 0.2 s apart: one landing after the loop has stopped
    must not turn the orderly stop (its line, its exit code) into an abrupt one. A new command hears it again."""
    requests = []
    with sigterm_raises():
        with stop_requests(requests.append):
            os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)  # after the loop, on the way out: absorbed
    assert requests == [signal.SIGTERM]
    with pytest.raises(Terminated), sigterm_raises():
        os.kill(os.getpid(), signal.SIGTERM)


PROBE = """
import signal, sys
if sys.argv[1] == "ignored":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
from slimdet.interrupts import sigterm_raises
with sigterm_raises():
    import paddle  # installs its own C++ handler for SIGTERM
    handler = signal.getsignal(signal.SIGTERM)
    print("ignored" if handler == signal.SIG_IGN else handler.__name__)
"""


@pytest.mark.parametrize("started", ["ignored", "default"])
def test_paddles_import_neither_takes_sigterm_nor_unignores_it(started):
    """A command takes SIGTERM back from paddle's C++ handler (to stop with a checkpoint), unless it was
    ignored from the start: then it stays ignored. In a fresh interpreter, where paddle is not imported yet."""
    probe = subprocess.run([sys.executable, "-c", PROBE, started], capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == {"ignored": "ignored", "default": "_raise_terminated"}[started]
