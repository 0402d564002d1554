"""Read PaddleDetection YAML safely: ``!Tag`` nodes become plain data, Python tags are refused.

PaddleDetection 0.x loaded its configs with ``yaml.Loader``, which builds registered classes from
``!VOCDataSet {...}`` and would just as happily run ``!!python/object/apply:os.system``. We read the
same files with a ``SafeLoader`` subclass: a local tag turns into ``{"type": "Tag", ...arguments}``, and
anything that names Python code is an error before any of it is constructed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, cast

import yaml

from slimdet.errors import ConfigError

# Legacy tags are class names; anything else after "!" (e.g. "!python/name:os.system") is refused.
TAG_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# YAML 1.2 floats such as 1e-3 (PyYAML's YAML 1.1 resolver reads them as strings: base_lr: '1e-3').
FLOAT_WITHOUT_DOT = re.compile(r"^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$")


class TaggedMapping(dict):  # type: ignore[type-arg]
    """A mapping that was written as ``!Tag``: the legacy merge replaces it wholesale instead of merging into it."""


class TagLoader(yaml.SafeLoader):
    """SafeLoader that reads ``!Tag`` nodes as data and refuses Python tags (class-local, yaml stays untouched)."""


def _construct_local_tag(loader: TagLoader, suffix: str, node: yaml.Node) -> TaggedMapping:
    """``!Name {a: 1}`` → ``{type: Name, a: 1}``; ``!Name {}`` or a bare ``!Name`` → ``{type: Name}``.

    A scalar argument is kept under ``value`` and a sequence under ``args`` (0.x passed a sequence as
    positional arguments), so nothing the file says is silently dropped.
    """
    if not TAG_NAME.fullmatch(suffix):
        raise yaml.constructor.ConstructorError(
            None, None, f"unsupported tag !{suffix} (only !ClassName tags are allowed)", node.start_mark
        )
    if isinstance(node, yaml.MappingNode):
        arguments = loader.construct_mapping(node, deep=True)
        if "type" in arguments:
            raise yaml.constructor.ConstructorError(
                None, None, f"!{suffix} also has a 'type' key: keep one of the two", node.start_mark
            )
        return TaggedMapping({"type": suffix, **arguments})
    if isinstance(node, yaml.SequenceNode):
        return TaggedMapping({"type": suffix, "args": loader.construct_sequence(node, deep=True)})
    value = loader.construct_scalar(cast(yaml.ScalarNode, node))  # mappings and sequences are handled above
    return TaggedMapping({"type": suffix} if value == "" else {"type": suffix, "value": value})


def _refuse_python_tag(loader: TagLoader, suffix: str, node: yaml.Node) -> Any:
    raise yaml.constructor.ConstructorError(
        None,
        None,
        f"refusing the Python tag !!python/{suffix} (configs hold plain data and !ClassName tags only)",
        node.start_mark,
    )


TagLoader.add_multi_constructor("!", _construct_local_tag)
TagLoader.add_multi_constructor("tag:yaml.org,2002:python/", _refuse_python_tag)
TagLoader.add_implicit_resolver("tag:yaml.org,2002:float", FLOAT_WITHOUT_DOT, list("-+0123456789"))


def parse_yaml(text: str, source: str, *, with_line: bool = True) -> Any:
    """Parse one YAML document with ``TagLoader``; errors name ``source`` (and the line, for files)."""
    try:
        return yaml.load(text, Loader=TagLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"{source}:{mark.line + 1}" if with_line and mark is not None else source
        raise ConfigError(f"{where}: {err.problem or err.context}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{source}: invalid YAML ({err})") from None


def read_yaml_file(path: Path, included_by: Path | None = None) -> Any:
    """Parse a config file; a missing or unreadable file is a one-line ConfigError."""
    origin = f" (included by {included_by})" if included_by is not None else ""
    if not path.exists():
        raise ConfigError(f"config file not found: {path}{origin}")
    if not path.is_file():
        raise ConfigError(f"config path is not a file: {path}{origin}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read config file {path}: {err}") from None
    return parse_yaml(text, str(path))
