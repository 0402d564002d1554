"""The legacy VOC model configs shipped in configs/ (docs/legacy.md, "Configs"), loaded as commands load them."""

from pathlib import Path
from typing import Any

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def voc_cfg(name: str) -> dict[str, Any]:
    """``configs/<name>.yml`` as ``Config.to_dict()`` (the shape ``build_model`` reads)."""
    from slimdet.config import load_config

    return load_config(CONFIGS / f"{name}.yml").to_dict()
