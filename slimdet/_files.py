"""Atomic file writes: a crash never leaves a half-written file under the final name.

Every file slimdet writes goes through here: a temp file in the target's folder, then one rename. When
the system refuses a write (no space, read-only, no permission), the temp file goes and a ``WriteError``
names the file that was being written.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from slimdet.errors import WriteError

FILE_MODE = 0o644


@contextmanager
def atomic_path(target: str | os.PathLike[str], suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temp path beside ``target`` for a writer that wants a file name (savefig, paddle.save);
    it becomes ``target`` when the block ends without error and is removed otherwise. The system refusing
    to write (disk full, read-only) raises a ``WriteError`` that names ``target``."""
    target = Path(target)
    tmp: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
        os.close(fd)
        tmp = Path(name)
        yield tmp
        os.chmod(tmp, FILE_MODE)  # mkstemp makes it private; results are meant to be read by others
        os.replace(tmp, target)
    except OSError as err:
        raise _as_write_error(err, target, tmp) from err
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to a temp file beside ``path``, then rename it over ``path``."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        handle.write(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """``write_bytes_atomic`` for UTF-8 text."""
    return write_bytes_atomic(path, text.encode("utf-8"))


@contextmanager
def atomic_dir(final: str | os.PathLike[str]) -> Iterator[Path]:
    """``atomic_path`` for a whole folder (a dataset, an export): yield an empty folder beside ``final`` to
    fill; when the block ends without error it replaces ``final`` (an existing one is moved aside and
    deleted only once the new one is in place), otherwise it is deleted and ``final`` stays as it was."""
    final = Path(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        staged = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    except OSError as err:
        raise _as_write_error(err, final, None) from err
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staged, 0o777 & ~umask)  # what mkdir would give; mkdtemp makes it private
        yield staged
        _replace_dir(staged, final)
    except BaseException as err:
        shutil.rmtree(staged, ignore_errors=True)
        if isinstance(err, OSError):
            raise _as_write_error(err, final, staged) from err
        raise


def _as_write_error(err: OSError, target: Path, staged: Path | None) -> OSError:
    """``err`` as a ``WriteError`` naming what it failed to write under its final name: ``target``, or the file
    below it when ``err`` names one under the ``staged`` temp path. Writes often fail without naming a file
    (``write()`` on a full disk); an error that names a file unrelated to ``target`` (a read) is left as it is.
    Without ``staged`` (the temp name was being made) every error is one of writing ``target``."""
    if isinstance(err, WriteError):
        return err
    if staged is not None and err.filename is not None:
        failed = Path(os.fsdecode(err.filename))
        if staged is not None and failed.is_relative_to(staged):
            target = target / failed.relative_to(staged)
        elif failed != target and failed not in target.parents:
            return err
    return WriteError(err.errno, err.strerror or str(err), str(target))


def _replace_dir(staged: Path, final: Path) -> None:
    if not final.exists():
        staged.rename(final)
        return
    trash = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
    final.rename(trash / final.name)
    staged.rename(final)
    shutil.rmtree(trash, ignore_errors=True)
