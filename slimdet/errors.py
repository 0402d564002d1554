"""User-facing errors: each message says what is wrong and how to fix it.

The CLI prints any ``SlimdetError`` as one red line and exits 2; an ``OSError`` (such as
:class:`WriteError`) as one red line and exit 1; everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class SlimdetError(Exception):
    """A mistake the user can fix (bad flag, bad file, bad config)."""


class ConfigError(SlimdetError):
    """The configuration file or an override is wrong."""


class DataError(SlimdetError):
    """A dataset, image or annotation is missing or malformed."""


class WeightsError(SlimdetError):
    """A weight file or URL cannot be read or does not fit the model."""


class PlanError(SlimdetError):
    """A pruning plan names unknown or unprunable parameters, or has bad ratios."""


class RankFailed(SlimdetError):
    """A process of a data-parallel run failed after the pre-flight checks had passed; said in one line by the
    command that launched it, which exits with that process's code (2 for a user mistake, 1 otherwise)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class WriteError(OSError):
    """The system refused to write a file: disk full, read-only file system, permission denied.

    Not a ``SlimdetError`` (the command was right; exit 1), but one line all the same: it names the file
    the command was writing, whatever temp name the failing call saw, and the system's reason.
    """

    def __str__(self) -> str:
        return f"cannot write {self.filename}: {self.strerror}"


class PeerLost(ConnectionError):
    """Another process of a data-parallel run (on this machine or another node) went away mid-training: its
    machine or process stopped, or the network failed. Not the user's mistake (exit 1), but one line naming
    the lost peer instead of gloo's traceback, so that a node whose peer died ends with a reason, not a hang."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or an empty string when nothing is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
