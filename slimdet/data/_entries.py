"""Turning a config entry ``{type: Name, key: value, ...}`` into an object, with errors a user can act on."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any, TypeVar

from slimdet.errors import ConfigError, did_you_mean

T = TypeVar("T")


def build_entry(table: Mapping[str, type[T]], entry: Any, where: str, **extra: Any) -> T:
    """Instantiate ``table[entry['type']]`` with the entry's other keys (plus ``extra``).

    ``where`` names the place in the config (e.g. 'TrainReader.sample_transforms[3]') for messages.
    Unknown types and unknown or missing parameters raise one ConfigError that lists what is accepted.
    """
    if not isinstance(entry, Mapping) or "type" not in entry:
        raise ConfigError(f"{where} must be a mapping with a 'type' (e.g. !{next(iter(table))} {{...}}), got {entry!r}")
    name = entry["type"]
    if name not in table:
        raise ConfigError(
            f"{where}: unknown type '{name}'{did_you_mean(str(name), table)}; known: {', '.join(sorted(table))}"
        )
    cls = table[name]
    params = {k: v for k, v in entry.items() if k != "type"}
    accepted = {
        p.name: p
        for p in inspect.signature(cls).parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
    for key in params:
        if key not in accepted or key in extra:
            raise ConfigError(
                f"{where} ({name}): unknown parameter '{key}'{did_you_mean(key, accepted)}; "
                f"accepted: {', '.join(k for k in accepted if k not in extra) or 'none'}"
            )
    params.update(extra)
    missing = [k for k, p in accepted.items() if p.default is p.empty and k not in params]
    if missing:
        raise ConfigError(f"{where} ({name}): missing parameter(s) {', '.join(missing)}")
    return cls(**params)
