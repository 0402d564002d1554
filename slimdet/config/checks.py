"""Check plain YAML data against type annotations and say, per key path, what is wrong.

The schema is ordinary typing (``int``, ``float | list[float]``, ``Literal['VOC', 'COCO']``,
``list[Transform]``, ``TypedDict`` classes), so mypy reads the same declarations this module enforces.
Markers go inside ``Annotated[...]``: ``AtLeast(n)`` for lower bounds, ``Note(text)`` to explain a
refusal, and ``Open()`` for mappings whose extra keys are checked elsewhere (transform arguments).
Mappings whose ``type`` key is a ``Literal`` form tagged unions: ``PiecewiseDecay | LinearWarmup``
dispatches on ``type``.

Every function returns a list of one-line problems instead of raising, so a config gets all its
problems reported at once.
"""

from __future__ import annotations

import types
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import (
    Annotated,
    Any,
    Literal,
    NotRequired,
    Required,
    Union,
    get_args,
    get_origin,
    get_type_hints,
    is_typeddict,
)

from slimdet.errors import did_you_mean


@dataclass(frozen=True)
class AtLeast:
    """Lower bound for a number: ``Annotated[int, AtLeast(1)]``."""

    minimum: float


@dataclass(frozen=True)
class Note:
    """Words appended to a problem with this value, e.g. why only one value is accepted."""

    text: str


@dataclass(frozen=True)
class Open:
    """The mapping may hold keys beyond its declared ones (another module checks them)."""


# (singular, plural) phrases for the expected-type part of messages.
SCALAR_NAMES: dict[Any, tuple[str, str]] = {
    int: ("an integer", "integers"),
    float: ("a number", "numbers"),
    bool: ("true or false", "true/false values"),
    str: ("a string", "strings"),
    type(None): ("null", "nulls"),
}


def typed_keys(schema: Any) -> tuple[dict[str, Any], frozenset[str]]:
    """Key → annotation and the required keys of a TypedDict (Required/NotRequired unwrapped)."""
    hints = {
        key: get_args(hint)[0] if get_origin(hint) in (Required, NotRequired) else hint
        for key, hint in get_type_hints(schema, include_extras=True).items()
    }
    return hints, frozenset(schema.__required_keys__)


def check(value: Any, annotation: Any, path: str) -> list[str]:
    """Problems of ``value`` against ``annotation``; ``path`` (e.g. ``TrainReader.batch_size``) prefixes them."""
    origin = get_origin(annotation)
    if annotation is Any:
        return []
    if origin is Annotated:
        return _check_annotated(value, annotation, path)
    if is_typeddict(annotation):
        return _check_typeddict(value, annotation, path, open_keys=False)
    if origin in (Union, types.UnionType):
        return _check_union(value, annotation, path)
    if origin in (list, tuple):
        if not isinstance(value, list):
            return [_expected(path, annotation, value)]
        item = get_args(annotation)[0]
        return [problem for i, entry in enumerate(value) for problem in check(entry, item, f"{path}[{i}]")]
    if origin is dict:
        return [] if isinstance(value, Mapping) else [_expected(path, annotation, value)]
    if origin is Literal:
        if any(_same(value, choice) for choice in get_args(annotation)):
            return []
        words = [choice for choice in get_args(annotation) if isinstance(choice, str)]
        hint = _suggest(value, words) if isinstance(value, str) else ""
        return [_expected(path, annotation, value) + hint]
    return [] if _is_scalar(value, annotation) else [_expected(path, annotation, value)]


def check_keys(
    value: Any, hints: Mapping[str, Any], required: frozenset[str], path: str, *, open_keys: bool = False
) -> list[str]:
    """Problems of a mapping: unknown keys (with a close match), missing required keys, bad values."""
    if not isinstance(value, Mapping):
        return [f"{path}: expected a mapping, got {_show(value)}"]
    problems = [f"missing key '{_join(path, key)}'" for key in hints if key in required and key not in value]
    for key, entry in value.items():
        if key in hints:
            problems += check(entry, hints[key], _join(path, str(key)))
        elif not open_keys:
            problems.append(f"unknown key '{_join(path, str(key))}'{_suggest(str(key), hints)}")
    return problems


def describe(annotation: Any, plural: bool = False) -> str:
    """The expected type in words: 'an integer', 'a list of integers', "one of 'VOC', 'COCO'"."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return describe(get_args(annotation)[0], plural)
    if origin in (Union, types.UnionType):
        return " or ".join(describe(member, plural) for member in get_args(annotation))
    if origin in (list, tuple):
        return ("lists of " if plural else "a list of ") + describe(get_args(annotation)[0], plural=True)
    if origin is Literal:
        choices = ", ".join(_show(choice) for choice in get_args(annotation))
        return choices if len(get_args(annotation)) == 1 else ("values among " if plural else "one of ") + choices
    if origin is dict or is_typeddict(annotation):
        return "mappings" if plural else "a mapping"
    singular, many = SCALAR_NAMES.get(annotation, (str(annotation), str(annotation)))
    return many if plural else singular


def _check_annotated(value: Any, annotation: Any, path: str) -> list[str]:
    inner, *markers = get_args(annotation)
    if Open() in markers and is_typeddict(inner):
        return _check_typeddict(value, inner, path, open_keys=True)
    problems = check(value, inner, path)
    for marker in markers:
        if not problems and isinstance(marker, AtLeast) and value < marker.minimum:
            problems.append(f"{path}: expected at least {marker.minimum:g}, got {_show(value)}")
    notes = "".join(f" ({marker.text})" for marker in markers if isinstance(marker, Note))
    return [problem + notes for problem in problems]


def _check_typeddict(value: Any, schema: Any, path: str, open_keys: bool) -> list[str]:
    hints, required = typed_keys(schema)
    return check_keys(value, hints, required, path, open_keys=open_keys)


def _check_union(value: Any, annotation: Any, path: str) -> list[str]:
    members = get_args(annotation)
    tagged = {name: member for member in members for name in _type_names(member)}
    if tagged and isinstance(value, Mapping):
        return _check_tagged(value, tagged, path)
    if any(not check(value, member, path) for member in members):
        return []
    return [_expected(path, annotation, value)]


def _check_tagged(value: Mapping[str, Any], tagged: Mapping[str, Any], path: str) -> list[str]:
    """A mapping from a tagged union: its ``type`` picks the schema (a schema with optional ``type`` is the default)."""
    name = value.get("type")
    if name is None:
        defaults = {schema for schema in tagged.values() if "type" not in typed_keys(schema)[1]}
        if len(defaults) == 1:
            return check(value, defaults.pop(), path)
        return [f"missing key '{_join(path, 'type')}' (one of {', '.join(map(repr, tagged))})"]
    if name not in tagged:
        hint = _suggest(str(name), tagged)
        return [f"{_join(path, 'type')}: expected one of {', '.join(map(repr, tagged))}, got {_show(name)}{hint}"]
    return check(value, tagged[name], path)


def _type_names(member: Any) -> tuple[Any, ...]:
    """The ``type`` values a TypedDict accepts, when its ``type`` is a Literal (a tagged-union member)."""
    if not is_typeddict(member):
        return ()
    hint = typed_keys(member)[0].get("type")
    return get_args(hint) if get_origin(hint) is Literal else ()


def _is_scalar(value: Any, annotation: Any) -> bool:
    if annotation is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is None or annotation is type(None):
        return value is None
    return isinstance(value, annotation)


def _same(value: Any, choice: Any) -> bool:
    """Literal membership without Python's True == 1 and 0 == False."""
    return type(value) is type(choice) and value == choice


def _expected(path: str, annotation: Any, value: Any) -> str:
    return f"{path}: expected {describe(annotation)}, got {_show(value)}"


def _show(value: Any, limit: int = 60) -> str:
    """A value as the user wrote it (YAML spelling for true/false/null), cut short when long."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _suggest(word: str, choices: Collection[str]) -> str:
    """A close match; a case-only difference ('voc' for 'VOC') counts as the closest."""
    same_letters = [choice for choice in choices if choice.lower() == word.lower()]
    return f" (did you mean '{same_letters[0]}'?)" if same_letters else did_you_mean(word, choices)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
