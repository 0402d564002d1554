"""Rendering helpers shared by every command: stdout for results, stderr for progress and errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table


def stdout_console() -> Console:
    return Console(soft_wrap=True)


def stderr_console() -> Console:
    return Console(stderr=True, soft_wrap=True)


def print_json(data: Any) -> None:
    """One JSON document on stdout, with plain print (rich would wrap long lines)."""
    print(json.dumps(data, indent=2, sort_keys=False, default=str))


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    """A rich table; numeric-looking columns are right-aligned by the caller's formatting."""
    out = Table(title=title, header_style="bold")
    for name in columns:
        out.add_column(name)
    for row in rows:
        out.add_row(*(str(cell) for cell in row))
    return out


def key_value_table(title: str | None, items: Mapping[str, Any]) -> Table:
    return table(title, ["key", "value"], [(k, v) for k, v in items.items()])


@contextmanager
def progress(quiet: bool = False, *extra_fields: str) -> Iterator[Progress]:
    """A progress bar on stderr; silent with ``--quiet`` or when stderr is not a terminal."""
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        *(TextColumn(f"{{task.fields[{name}]}}") for name in extra_fields),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    disabled = quiet or not sys.stderr.isatty()
    with Progress(*columns, console=stderr_console(), disable=disabled, transient=False) as bar:
        yield bar
