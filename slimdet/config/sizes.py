"""The input size a config evaluates at, and the stride every input size must be a multiple of.

Several commands measure FLOPs or trace graphs at "the size the model is evaluated at"; they all read it
here, from the config's EvalReader, so that they agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DEFAULT_INPUT_SIZE = 608  # EvalReader ResizeImage target_size of the legacy reader
COARSEST_STRIDE = 32


def eval_input_size(cfg: Mapping[str, Any]) -> int:
    """The side the eval reader resizes images to: ``EvalReader`` ``ResizeImage.target_size`` (608 if absent).

    A list of sizes (multi-scale) gives the largest.
    """
    reader = cfg.get("EvalReader") or {}
    for transform in reader.get("sample_transforms") or []:
        if isinstance(transform, Mapping) and transform.get("type") == "ResizeImage":
            size = transform.get("target_size", DEFAULT_INPUT_SIZE)
            return int(max(size)) if isinstance(size, list | tuple) else int(size)
    return DEFAULT_INPUT_SIZE
