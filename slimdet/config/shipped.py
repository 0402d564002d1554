"""The configs shipped inside the package (``slimdet/configs/``), and how ``-c NAME`` finds one.

They are package data, so a wheel install has them too: ``slimdet config list`` shows them, and
``-c yolov3_mobilenet_v1_voc.yml`` (or ``-c configs/yolov3_mobilenet_v1_voc.yml``, as the README's
examples from a clone say) reads the shipped file when no such file exists from the working directory.
A file that does exist always wins, so a user's own copy is never shadowed. In a clone, ``configs/`` at
the top is a link to the same folder.
"""

from __future__ import annotations

import os
from pathlib import Path

SHIPPED_DIR = Path(__file__).resolve().parents[1] / "configs"
SUFFIX = ".yml"


def shipped_configs() -> list[Path]:
    """Every shipped config file, by name (includes such as ``yolov3_reader.yml`` among them)."""
    return sorted(SHIPPED_DIR.glob(f"*{SUFFIX}"))


def resolve_config_path(path: str | os.PathLike[str]) -> Path:
    """``path`` when it exists; else the shipped config it names (a bare name, with or without ``.yml``,
    or ``configs/<name>``); else ``path`` unchanged, for the reader to report as missing."""
    given = Path(path)
    if given.exists() or given.parent not in (Path("."), Path("configs")):
        return given
    for name in (given.name, f"{given.name}{SUFFIX}"):
        shipped = SHIPPED_DIR / name
        if shipped.is_file():
            return shipped
    return given
