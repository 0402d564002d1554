"""What the user sees of a ``--nproc`` run: rank 0's output as the command's own, and one line at the end.

Paddle's launcher sends every rank's output to a log file, echoes rank 0's on its own stdout mixed with its
``LAUNCH INFO`` lines, and prints a failed rank's last lines a second time. So the command that starts it
(``distributed.relaunch``) sends the launcher's output to a log and *lends* its own stdout and stderr to
rank 0 (``StdioLender``): rank 0 receives the very file descriptors over a Unix socket (SCM_RIGHTS) and makes them
its ``sys.stdout`` and ``sys.stderr`` (``launched_rank``), so a terminal stays a terminal (live progress
bar), a pipe the same pipe, and ``--json`` is rank 0's one document, exactly as in one process. What native
code writes (gloo aborting when a peer dies) still goes to the rank's log.

A rank's last line (an error, or where a stop left the run) does not go to the user: it goes to the rank's
log and to a small record (``end_of_rank``), from which the launching command prints one line with the
rank's exit code (``rank_ends``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from slimdet._files import write_text_atomic

SOCKET_ENV = "SLIMDET_STDIO_SOCKET"  # where rank 0 asks for the user's stdout and stderr
RECORDS_ENV = "SLIMDET_RANK_RECORDS"  # the folder where each rank records its last line
RANK_ENV = "PADDLE_TRAINER_ID"  # set by the launcher in every process it starts
USER_STDIO = (1, 2)
_RECORD_PATTERN = "end.*.json"
_own_stdio: tuple[TextIO, ...] = ()  # rank 0's own sys.stdout and sys.stderr (its log) while it writes on the user's


class StdioLender:
    """In the launching command, while the launcher runs: hands this process's stdout and stderr to whichever
    rank asks (only rank 0 does); ``environ()`` tells the ranks where to ask and where to record their end."""

    def __init__(self, records: Path) -> None:
        self.records = records
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="slimdet-stdio", daemon=True)

    def environ(self) -> dict[str, str]:
        return {SOCKET_ENV: self.address, RECORDS_ENV: str(self.records)}

    def __enter__(self) -> StdioLender:
        self.records.mkdir(parents=True, exist_ok=True)
        for stale in self.records.glob(_RECORD_PATTERN):  # from an earlier run in the same folder
            stale.unlink()
        self._folder = Path(tempfile.mkdtemp(prefix="slimdet-stdio-"))  # a short path: socket names are short
        self.address = str(self._folder / "socket")
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(self.address)
        self._server.listen()
        self._server.settimeout(0.2)  # the serving thread looks this often whether it should end
        sys.stdout.flush()
        sys.stderr.flush()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self._server.close()
        shutil.rmtree(self._folder, ignore_errors=True)

    def _serve(self) -> None:
        while not self._done.is_set():
            try:
                connection, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with connection:
                socket.send_fds(connection, [b"stdio"], list(USER_STDIO))


@contextmanager
def launched_rank(environ: Mapping[str, str] = os.environ) -> Iterator[None]:
    """Around a whole command: in rank 0 of a run started by ``relaunch``, write on the user's stdout and
    stderr; in any launched rank, an unexpected error is recorded (exit code 1) before its traceback, which
    goes to the rank's log. Outside a launched run, nothing."""
    if RECORDS_ENV not in environ:
        yield
        return
    if environ.get(RANK_ENV) == "0" and environ.get(SOCKET_ENV):
        _borrow_user_stdio(environ[SOCKET_ENV])
    try:
        yield
    except Exception as err:
        end_of_rank(f"{type(err).__name__}: {err}", 1, environ)
        raise


def _borrow_user_stdio(address: str) -> None:
    """Python's ``sys.stdout`` and ``sys.stderr`` become the user's; file descriptors 1 and 2 stay the rank's log,
    so that what native code writes there (gloo aborting because a peer died) stays in the log."""
    global _own_stdio
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.connect(address)
            _, fds, _, _ = socket.recv_fds(connection, 16, len(USER_STDIO))
    except OSError:
        return  # the launching command is gone or lends nothing: rank 0 keeps writing to its log
    _own_stdio = (sys.stdout, sys.stderr)
    # Open for the rest of the process (``end_of_rank`` closes them): no context manager can hold them.
    sys.stdout, sys.stderr = (
        open(fd, "w", buffering=1, encoding=own.encoding, errors=own.errors)  # noqa: SIM115
        for fd, own in zip(fds, _own_stdio)
    )


def end_of_rank(line: str, code: int, environ: Mapping[str, str] = os.environ) -> None:
    """In a launched rank, just before it prints its last ``line`` and exits with ``code``: that line goes to
    the rank's log rather than to the user, and a record of it to the launching command. Elsewhere, nothing."""
    global _own_stdio
    records = environ.get(RECORDS_ENV)
    if not records:
        return
    if _own_stdio:
        for borrowed in (sys.stdout, sys.stderr):
            borrowed.close()
        sys.stdout, sys.stderr = _own_stdio
        _own_stdio = ()
    rank = int(environ.get(RANK_ENV, "0"))
    record = {"rank": rank, "code": code, "line": " ".join(line.split()), "time": time.time()}
    with contextlib.suppress(OSError):  # a full disk: the launching command then says the rank ended unheard
        write_text_atomic(Path(records) / f"end.{rank}.json", json.dumps(record))  # never read half-written


@dataclass(frozen=True)
class RankEnd:
    """How one rank ended, as it recorded it: its last line and exit code."""

    rank: int
    code: int
    line: str
    time: float


def rank_ends(records: Path) -> list[RankEnd]:
    """The records the ranks left in ``records``, in the order they were written."""
    ends = []
    for path in records.glob(_RECORD_PATTERN):
        try:
            ends.append(RankEnd(**json.loads(path.read_text())))
        except (OSError, ValueError, TypeError):
            continue  # a rank killed while writing leaves nothing usable; the others still say what happened
    return sorted(ends, key=lambda end: end.time)
