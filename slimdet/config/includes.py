"""Config files that include others: 0.x ``_READER_`` and 2.x ``_BASE_``, merged the legacy way.

Order, lowest first: the ``_READER_`` file (0.x merged it first, so the main file wins), then each
``_BASE_`` entry in list order (2.x: later entries win), then the including file itself. Paths are
relative to the including file; ``~`` is expanded. Includes nest; a file that includes itself again,
directly or not, is an error naming the whole chain.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from slimdet.config.tags import TaggedMapping, read_yaml_file
from slimdet.errors import ConfigError

READER_KEY = "_READER_"
BASE_KEY = "_BASE_"


def merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """``top`` over ``base``, recursively, as a new mapping; neither input is modified.

    A plain mapping merges key by key into the mapping below it. Anything else replaces what was there
    wholesale: scalars, lists, and mappings written as ``!Tag`` (0.x built those into objects, which its
    merge could not look into; so ``dataset: !VOCDataSet`` replaces the reader's ``!COCODataSet`` whole).
    """
    out = type(base)(base) if isinstance(base, TaggedMapping) else dict(base)
    for key, value in top.items():
        below = out.get(key)
        if isinstance(value, Mapping) and not isinstance(value, TaggedMapping) and isinstance(below, Mapping):
            out[key] = merge(below, value)
        else:
            out[key] = value
    return out


def read_with_includes(path: Path) -> dict[str, Any]:
    """The file at ``path`` with all its includes merged in (raises ConfigError on any file problem)."""
    return _read(Path(os.path.expanduser(path)), chain=(), included_by=None)


def _read(path: Path, chain: tuple[Path, ...], included_by: Path | None) -> dict[str, Any]:
    resolved = path.resolve()
    if resolved in chain:
        loop = [*chain[chain.index(resolved) :], resolved]
        raise ConfigError(f"include cycle: {' -> '.join(_short(p, chain[0]) for p in loop)}")
    data = read_yaml_file(path, included_by)
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: a config file must be a mapping of keys, got {type(data).__name__}")
    data = dict(data)
    merged: dict[str, Any] = {}
    for include in _includes(data.pop(READER_KEY, None), data.pop(BASE_KEY, None), path):
        target = include if include.is_absolute() else path.parent / include
        merged = merge(merged, _read(target, (*chain, resolved), included_by=path))
    return merge(merged, data)


def _includes(reader: Any, bases: Any, path: Path) -> list[Path]:
    """The include paths in merge order, checked for shape."""
    listed = bases if isinstance(bases, list) else [] if bases is None else [bases]
    entries = ([] if reader is None else [reader]) + listed
    if not all(isinstance(entry, str) and entry for entry in entries):
        raise ConfigError(
            f"{path}: {READER_KEY} must be one file path and {BASE_KEY} a list of file paths, "
            f"got {READER_KEY}={reader!r}, {BASE_KEY}={bases!r}"
        )
    return [Path(os.path.expanduser(entry)) for entry in entries]


def _short(path: Path, root: Path) -> str:
    """A path relative to the first file's folder when possible, so cycle messages stay readable."""
    try:
        return os.path.relpath(path, root.parent)
    except ValueError:  # another drive on Windows
        return str(path)
