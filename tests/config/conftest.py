"""Helpers for config tests: small YAML files written the way PaddleDetection 0.x wrote them."""

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

WriteYaml = Callable[[str, str], Path]


@pytest.fixture
def write_yaml(tmp_path: Path) -> WriteYaml:
    """``write_yaml('sub/a.yml', text)`` writes dedented ``text`` under tmp_path and returns the path."""

    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write
