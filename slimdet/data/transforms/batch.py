"""Transforms applied to a whole batch: one random input size per batch, and sample ops run batch-wise."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from slimdet.data.transforms.base import Sample, SampleTransform, check
from slimdet.errors import ConfigError

# The interpolations RandomShape picks from with random_inter (the legacy list, in its order).
INTERPOLATIONS = (cv2.INTER_NEAREST, cv2.INTER_LINEAR, cv2.INTER_AREA, cv2.INTER_CUBIC, cv2.INTER_LANCZOS4)


class RandomShape:
    """Resize every image of the batch to one random square size (multi-scale training).

    With ``random_inter`` one interpolation per batch is drawn from INTERPOLATIONS, otherwise nearest.
    Boxes are left alone: they are normalised by then (see transforms.base), so they still fit.
    """

    def __init__(self, sizes: Sequence[int] = (), random_inter: bool = False):
        check(
            bool(sizes) and all(isinstance(s, int) and s > 0 for s in sizes),
            "RandomShape",
            f"sizes must be a non-empty list of positive ints, got {sizes!r}",
        )
        self.sizes, self.random_inter = list(sizes), bool(random_inter)

    def __call__(self, samples: list[Sample], rng: np.random.Generator) -> list[Sample]:
        size = self.sizes[int(rng.integers(len(self.sizes)))]
        interp = INTERPOLATIONS[int(rng.integers(len(INTERPOLATIONS)))] if self.random_inter else cv2.INTER_NEAREST
        for sample in samples:
            if sample.get("channel_first"):
                raise ConfigError("RandomShape works on HWC images: put it before Permute")
            sample["image"] = cv2.resize(sample["image"], (size, size), interpolation=interp)
        return samples


class PerSample:
    """A sample transform listed under batch_transforms: applied to each sample with the batch's generator."""

    def __init__(self, transform: SampleTransform):
        self.transform = transform

    def __call__(self, samples: list[Sample], rng: np.random.Generator) -> list[Sample]:
        return [self.transform(sample, rng) for sample in samples]
