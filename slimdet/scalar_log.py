"""VisualDL scalar logs (``--use-vdl``) that a resumed job continues without showing a step twice.

VisualDL's writer starts a new file in its folder per session, and its reader (the board's too) reads only the
newest file of a folder, the greatest name. A resumed run must therefore not simply add a file (the steps of the
earlier sessions would vanish from the board), nor append to the old one: that session may have logged steps after
the checkpoint now resumed, which the resumed run logs again. So ``ScalarLog`` opens a folder by carrying over:
the scalars of the current file up to ``keep_through`` (a training: the iteration it resumes from; 0: none) go
into a new file named to sort last, then the older files are removed; a (tag, step) already in the log is never
written again. Until the old files go, the reader reads the new one, which already holds what was kept.

visualdl is an optional extra (``pip install 'slimdet[vdl]'``), imported when a log is opened;
``require_visualdl`` tells a command before any work that it is missing.
"""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path
from types import TracebackType

from slimdet.errors import SlimdetError

INSTALL = "pip install 'slimdet[vdl]'"
DEFAULT_DIR_NAME = "vdl"  # in save_dir/<config>/, beside the checkpoints
RECORDS = "vdlrecords"  # what VisualDL's reader requires in a log file's name


class ScalarLog:
    """Scalars by (tag, step) in the VisualDL log folder ``folder``; ``keep_through``: the steps of the folder's
    current log that stay (those at or below it), everything after it and every older file goes."""

    def __init__(self, folder: str | os.PathLike[str], *, keep_through: int = 0) -> None:
        try:
            from visualdl import LogWriter
        except ImportError as err:
            raise SlimdetError(f"VisualDL cannot be imported ({err}): {INSTALL}") from err
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        old = sorted(path for path in self.folder.iterdir() if RECORDS in path.name and path.is_file())
        kept = _scalars(old[-1], keep_through) if old and keep_through > 0 else []  # steps start at 1
        # Nanoseconds, 19 digits: sorts after VisualDL's own (10-digit seconds) names and after every earlier one.
        name = f"{RECORDS}.{time.time_ns()}.log"
        self._writer = LogWriter(logdir=str(self.folder), file_name=name, max_queue=1024)
        self.path = self.folder / name
        self.written: set[tuple[str, int]] = set()
        for tag, step, value, walltime in kept:
            self._writer.add_scalar(tag, value, step, walltime)
            self.written.add((tag, step))
        self._writer.flush()
        for path in old:
            path.unlink(missing_ok=True)

    def add(self, tag: str, value: float, step: int) -> None:
        """Log ``value`` as ``tag`` at ``step``, unless the log holds that step of that tag already."""
        if (tag, step) not in self.written:
            self._writer.add_scalar(tag, float(value), step)
            self.written.add((tag, step))

    def flush(self) -> None:
        """Put what was added on disk (the writer's thread otherwise does every two minutes)."""
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> ScalarLog:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def require_visualdl() -> None:
    """Raise the one-line ``SlimdetError`` that says how to install VisualDL when it is not installed (found without
    importing it: a launching process never pays for it)."""
    if importlib.util.find_spec("visualdl") is None:
        raise SlimdetError(f"--use-vdl needs VisualDL, which is not installed: {INSTALL}")


def log_dir(use: bool, given: str | os.PathLike[str] | None, default: Path) -> Path | None:
    """The folder ``--use-vdl`` / ``--vdl-log-dir`` ask to log to (a folder given asks for a log too), or None for
    no log; checks that VisualDL is installed when one is asked for."""
    if not use and given is None:
        return None
    require_visualdl()
    return Path(given) if given is not None else default


def _scalars(path: Path, keep_through: int) -> list[tuple[str, int, float, int]]:
    """(tag, step, value, walltime) of every scalar in the VisualDL file ``path`` at a step ≤ ``keep_through``."""
    from visualdl import LogReader

    try:
        log = LogReader(file_path=str(path))
        return [
            (tag, record.id, record.value, record.timestamp)
            for tag in log.get_tags().get("scalar", [])
            for record in log.get_data("scalar", tag)
            if record.id <= keep_through
        ]
    except Exception as err:  # protobuf and VisualDL raise many kinds for a damaged file; all mean the same
        raise SlimdetError(
            f"cannot read the VisualDL log {path} ({type(err).__name__}: {err}): move it away to start the log over"
        ) from err
