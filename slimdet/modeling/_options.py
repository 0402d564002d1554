"""Checks that a legacy config section asks only for what slimdet's models implement.

PaddleDetection 0.x sections carry switches (extra blocks, DCN, DropBlock, SPP, …) that the two
supported YOLOv3 VOC models leave off. A config that turns one on must fail loudly rather than build
a different network than the user expects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from slimdet.errors import ConfigError


def reject_unsupported(section_name: str, section: Mapping[str, Any], allowed: Mapping[str, tuple[Any, ...]]) -> None:
    """Raise one ConfigError naming every ``key: value`` of ``section`` outside its allowed values.

    ``allowed`` maps a key to the values slimdet implements; keys absent from ``section`` are fine
    (the legacy defaults are the supported values).
    """
    problems = [
        f"{section_name}.{key}: {section[key]!r} is not supported (use {' or '.join(repr(v) for v in values)})"
        for key, values in allowed.items()
        if key in section and section[key] not in values
    ]
    if problems:
        raise ConfigError("; ".join(problems))
