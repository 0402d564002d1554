"""The input sizes a config evaluates and trains at, and the stride every input size must be a multiple of.

Several commands measure FLOPs or trace graphs at "the size the model is evaluated at"; they all read it
here, from the config's EvalReader, so that they agree. ``--nproc auto`` reads the training size: whether
splitting a batch over processes pays depends on it.
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
    sizes = _sizes(cfg.get("EvalReader") or {}, "sample_transforms", "ResizeImage", "target_size")
    return max(sizes) if sizes else DEFAULT_INPUT_SIZE


def train_input_size(cfg: Mapping[str, Any]) -> int:
    """The side of an average training batch: the mean of ``TrainReader``'s ``RandomShape.sizes`` (multi-scale
    training draws one per batch), else its ``ResizeImage.target_size``, else the eval size."""
    reader = cfg.get("TrainReader") or {}
    sizes = _sizes(reader, "batch_transforms", "RandomShape", "sizes") or _sizes(
        reader, "sample_transforms", "ResizeImage", "target_size"
    )
    return round(sum(sizes) / len(sizes)) if sizes else eval_input_size(cfg)


def _sizes(reader: Mapping[str, Any], stage: str, transform_type: str, key: str) -> list[int]:
    """The sizes (one or a list) that the first ``transform_type`` of ``reader``'s ``stage`` gives under ``key``."""
    for transform in reader.get(stage) or []:
        if isinstance(transform, Mapping) and transform.get("type") == transform_type:
            size = transform.get(key, DEFAULT_INPUT_SIZE)
            return [int(s) for s in size] if isinstance(size, list | tuple) else [int(size)]
    return []
