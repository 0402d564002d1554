"""Fixtures for the data tests: configs on the shared synthetic dataset, and breakable copies of it."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .configs import reader_config


@pytest.fixture
def shapes_config(synthetic_voc: Path) -> Callable[..., dict[str, Any]]:
    """``shapes_config(**kwargs)``: reader_config on the shared synthetic dataset."""
    return lambda **kwargs: reader_config(synthetic_voc, **kwargs)


@pytest.fixture
def voc_copy(synthetic_voc: Path, tmp_path: Path) -> Path:
    """A private copy of the synthetic dataset that a test may break."""
    return Path(shutil.copytree(synthetic_voc, tmp_path / "shapes"))
