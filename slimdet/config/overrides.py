"""``-o key=value`` overrides, as PaddleDetection's ``ppdet/utils/cli.py`` read them, minus one bug.

Each item splits at the first ``=``; the value is YAML (``true``, ``0.001``, ``[320, 416]``, even
``!VOCDataSet {...}``), read with the same safe loader as the files. A dotted key reaches into sections:
``TrainReader.dataset.dataset_dir=x``. The legacy parser rebuilt the intermediate dict for every item of
depth three or more, so ``a.b.c=1 a.b.d=2`` kept only ``d``; here every item is merged, so both stay.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slimdet.config.includes import merge
from slimdet.config.tags import parse_yaml
from slimdet.errors import ConfigError


def parse_overrides(items: Sequence[str]) -> tuple[dict[str, Any], list[str]]:
    """The overrides as one nested mapping to merge on top of the file, plus a problem per bad item."""
    layer: dict[str, Any] = {}
    problems: list[str] = []
    for item in items:
        key, sep, text = item.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(parts):
            problems.append(f"override {item!r} is not key=value (e.g. -o TrainReader.batch_size=4)")
            continue
        try:
            value = parse_yaml(text, source=f"override {item!r}", with_line=False)
        except ConfigError as err:
            problems.append(str(err))
            continue
        for part in reversed(parts):
            value = {part: value}
        layer = merge(layer, value)
    return layer, problems


def override_key(item: str) -> str:
    """The top-level key an item sets: 'TrainReader' for ``TrainReader.batch_size=4``, 'num_classes' for
    ``num_classes=4`` (a malformed item gives whatever precedes its first dot or '=': parsing reports it)."""
    return item.partition("=")[0].strip().split(".")[0]
