"""``slimdet config show``: the merged, validated config, as highlighted YAML or one JSON document;
``slimdet config list``: the configs shipped inside the package, which ``-c NAME`` finds from anywhere."""

from __future__ import annotations

from typing import Any

import yaml
from rich.syntax import Syntax

from slimdet import api
from slimdet.cli._options import ConfigOption, JsonOption, OverrideOption
from slimdet.cli._render import print_json, stdout_console, table


class _ShowDumper(yaml.SafeDumper):
    """Block mappings, with lists of scalars on one line (``sizes: [320, 352]``), the way configs are written."""

    def represent_short_lists_flat(self, data: list[Any]) -> yaml.SequenceNode:
        flat = not any(isinstance(item, list | dict) for item in data)
        return self.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flat)


_ShowDumper.add_representer(list, _ShowDumper.represent_short_lists_flat)


def show_command(config: ConfigOption, overrides: OverrideOption = None, as_json: JsonOption = False) -> None:
    """Print the config after includes and -o overrides, validated, with defaults filled in.

    The YAML view starts with a comment naming the file read (a shipped one when -c names no file here).
    """
    cfg = api.show_config(config, overrides=overrides or ())
    merged = cfg.to_dict()
    if as_json:
        print_json(merged)
        return
    text = f"# {cfg.path}\n" + yaml.dump(merged, Dumper=_ShowDumper, sort_keys=False, allow_unicode=True, width=100)
    stdout_console().print(Syntax(text, "yaml", theme="ansi_dark", background_color="default"))


def list_command(as_json: JsonOption = False) -> None:
    """List the shipped configs: -c NAME reads one when no file NAME exists in the working directory."""
    paths = api.list_configs()
    if as_json:
        print_json([{"name": path.name, "path": str(path)} for path in paths])
        return
    rows = [(path.name, str(path)) for path in paths]
    stdout_console().print(table("shipped configs (-c NAME)", ["name", "path"], rows))
