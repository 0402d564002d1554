"""Conventions shared by the transforms.

A sample is a dict. Besides the record fields (``im_file``, ``im_id``, ``gt_bbox``, ``gt_class``,
``gt_score``, ``difficult``) it carries ``image`` (HWC uint8 until NormalizeImage makes it float32,
CHW after Permute, flagged by ``channel_first``), ``im_size`` (the decoded image's original h, w)
and ``h``/``w``: the size of the frame the pixel boxes live in.

Resizing (ResizeImage, RandomShape) changes the image but not ``h``/``w`` nor the boxes — exactly as in
PaddleDetection, where eval boxes stay in original pixels and training boxes are normalised by the
frame. Flip, expand and crop work on pixels and boxes together, so they must run before any resize and
before Permute; running them later is a ConfigError, not a silent misalignment.

Every transform takes an explicit ``numpy.random.Generator``; none touches global random state.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from slimdet.data.datasets.base import Sample
from slimdet.errors import ConfigError

BOX_FIELDS = ("gt_bbox", "gt_class", "gt_score", "difficult")


class SampleTransform(Protocol):
    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample: ...


class BatchTransform(Protocol):
    def __call__(self, samples: list[Sample], rng: np.random.Generator) -> list[Sample]: ...


def image_hw(sample: Sample) -> tuple[int, int]:
    """Height and width of the current image, whatever its layout."""
    shape = sample["image"].shape
    return (shape[1], shape[2]) if sample.get("channel_first") else (shape[0], shape[1])


def require_frame(sample: Sample, op: str) -> tuple[int, int]:
    """(h, w) for an op that moves pixels and boxes together; refuses resized or CHW images."""
    if sample.get("channel_first"):
        raise ConfigError(f"{op} works on HWC images: put it before Permute")
    h, w = sample["image"].shape[:2]
    if (h, w) != (sample["h"], sample["w"]):
        raise ConfigError(
            f"{op} after a resize would misplace the boxes (they stay in the {sample['w']}x{sample['h']} "
            "frame): put ResizeImage/RandomShape after it"
        )
    return h, w


def keep_boxes(sample: Sample, keep: np.ndarray) -> None:
    """Keep only the boxes at ``keep`` (indices or mask) in every per-box field."""
    for key in BOX_FIELDS:
        if key in sample:
            sample[key] = sample[key][keep]


def check(condition: bool, op: str, message: str) -> None:
    """A ConfigError naming the transform when a parameter is invalid."""
    if not condition:
        raise ConfigError(f"{op}: {message}")


def as_triple(value: Any, op: str, name: str) -> tuple[float, float, float]:
    """A per-channel value given as one number or three."""
    if isinstance(value, (int, float)):
        return (float(value),) * 3
    ok = isinstance(value, (list, tuple)) and len(value) == 3
    check(ok, op, f"{name} must be a number or 3 numbers, got {value!r}")
    return tuple(float(v) for v in value)  # type: ignore[return-value]
