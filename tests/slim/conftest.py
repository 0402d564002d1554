"""Fixtures for the slim tests: a toy detector with legacy parameter names (see toy.py)."""

import zlib  # noqa: F401  (before paddle, see slimdet/__init__.py)

import pytest

from .toy import ToyDetector, build_toy


@pytest.fixture
def toy_detector() -> ToyDetector:
    return build_toy()
