"""Transforms that move pixels and boxes together: expand, IoU-constrained crop, horizontal flip.

Boxes here are pixel ``x1, y1, x2, y2`` with inclusive indices (``x2 ≤ w − 1``), the convention the
VOC reader produces, so a flipped box covers exactly the mirrored pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from slimdet.data.transforms.base import Sample, as_triple, check, keep_boxes, require_frame


class RandomExpand:
    """Place the image at a random spot of a canvas up to ``ratio`` times larger, filled with ``fill_value``.

    Legacy semantics: the sample is left alone with probability ``prob`` (0.5 either way by default).
    """

    def __init__(self, ratio: float = 4.0, prob: float = 0.5, fill_value: float | Sequence[float] = (127.5,) * 3):
        check(ratio > 1.01, "RandomExpand", f"ratio must be larger than 1.01, got {ratio!r}")
        check(0.0 <= prob <= 1.0, "RandomExpand", f"prob must be in [0, 1], got {prob!r}")
        self.ratio, self.prob = float(ratio), float(prob)
        self.fill_value = np.array(as_triple(fill_value, "RandomExpand", "fill_value")).astype(np.uint8)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if rng.uniform(0.0, 1.0) < self.prob:
            return sample
        height, width = require_frame(sample, "RandomExpand")
        ratio = rng.uniform(1.0, self.ratio)
        h, w = int(height * ratio), int(width * ratio)
        if h <= height or w <= width:
            return sample
        y = int(rng.integers(0, h - height))
        x = int(rng.integers(0, w - width))
        canvas = np.empty((h, w, 3), np.uint8)
        canvas[:] = self.fill_value
        canvas[y : y + height, x : x + width] = sample["image"]
        sample["image"] = canvas
        sample["h"], sample["w"] = h, w
        sample["gt_bbox"] = sample["gt_bbox"] + np.array([x, y, x, y], np.float32)
        return sample


class RandomCrop:
    """Crop a random region that overlaps the boxes enough (the SSD/YOLOv3 sampling of the legacy reader).

    The thresholds (plus "no crop" when ``allow_no_crop``) are tried in random order; for each, up to
    ``num_attempts`` regions of area share scale² (scale in ``scaling``) and aspect ratio in
    ``aspect_ratio`` are drawn, and the first whose best IoU with a box reaches the threshold (every box's,
    with ``cover_all_box``) and that contains at least one box centre is taken. Boxes whose centre falls
    outside are dropped; the others are clipped to the region (to its last pixel, ``w − 1``).
    """

    def __init__(
        self,
        aspect_ratio: Sequence[float] | None = (0.5, 2.0),
        thresholds: Sequence[float] = (0.0, 0.1, 0.3, 0.5, 0.7, 0.9),
        scaling: Sequence[float] = (0.3, 1.0),
        num_attempts: int = 50,
        allow_no_crop: bool = True,
        cover_all_box: bool = False,
    ):
        check(
            aspect_ratio is None or (len(aspect_ratio) == 2 and 0 < aspect_ratio[0] <= aspect_ratio[1]),
            "RandomCrop",
            f"aspect_ratio must be [min, max] with 0 < min <= max, got {aspect_ratio!r}",
        )
        ok = len(scaling) == 2 and 0 < scaling[0] <= scaling[1] <= 1
        check(ok, "RandomCrop", f"scaling must be [min, max] in (0, 1], got {scaling!r}")
        check(num_attempts >= 1, "RandomCrop", f"num_attempts must be >= 1, got {num_attempts!r}")
        self.aspect_ratio = tuple(aspect_ratio) if aspect_ratio is not None else None
        self.thresholds = tuple(float(t) for t in thresholds)
        self.scaling = tuple(scaling)
        self.num_attempts = int(num_attempts)
        self.allow_no_crop, self.cover_all_box = bool(allow_no_crop), bool(cover_all_box)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        boxes = sample["gt_bbox"]
        if len(boxes) == 0:
            return sample
        h, w = require_frame(sample, "RandomCrop")
        choices: list[float | None] = list(self.thresholds) + ([None] if self.allow_no_crop else [])
        for pick in rng.permutation(len(choices)):
            threshold = choices[pick]
            if threshold is None:
                return sample
            for _ in range(self.num_attempts):
                crop = self._draw_region(h, w, rng)
                if crop is None:
                    continue
                iou = _iou_with(boxes, crop)
                if iou.max() < threshold or (self.cover_all_box and iou.min() < threshold):
                    continue
                keep, cropped = _boxes_inside(boxes, crop)
                if keep.any():
                    x1, y1, x2, y2 = crop
                    sample["image"] = sample["image"][y1:y2, x1:x2]
                    sample["h"], sample["w"] = y2 - y1, x2 - x1
                    keep_boxes(sample, keep)
                    sample["gt_bbox"] = cropped[keep]
                    return sample
        return sample

    def _draw_region(self, h: int, w: int, rng: np.random.Generator) -> tuple[int, int, int, int] | None:
        scale = rng.uniform(*self.scaling)
        if self.aspect_ratio is not None:
            low, high = self.aspect_ratio
            ratio = rng.uniform(max(low, scale**2), min(high, scale**-2))
            h_scale, w_scale = scale / np.sqrt(ratio), scale * np.sqrt(ratio)
        else:
            h_scale, w_scale = rng.uniform(*self.scaling), rng.uniform(*self.scaling)
            if not 0.5 <= h_scale * h / (w_scale * w) <= 2.0:
                return None
        crop_h, crop_w = min(int(h * h_scale), h), min(int(w * w_scale), w)
        if crop_h < 1 or crop_w < 1:
            return None
        y = int(rng.integers(0, h - crop_h + 1))
        x = int(rng.integers(0, w - crop_w + 1))
        return x, y, x + crop_w, y + crop_h


def _iou_with(boxes: np.ndarray, region: tuple[int, int, int, int]) -> np.ndarray:
    """IoU of every box with one region (continuous areas, as the legacy crop computed it)."""
    r = np.array(region, np.float32)
    lt = np.maximum(boxes[:, :2], r[:2])
    rb = np.minimum(boxes[:, 2:], r[2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
    area = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
    return inter / (area + np.prod(r[2:] - r[:2]) - inter + 1e-10)


def _boxes_inside(boxes: np.ndarray, region: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Which boxes have their centre in the region, and all boxes in region coordinates (clipped)."""
    x1, y1, x2, y2 = region
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    inside = np.all((centres >= (x1, y1)) & (centres < (x2, y2)), axis=1)
    shifted = boxes - np.array([x1, y1, x1, y1], np.float32)
    shifted[:, 0::2] = np.clip(shifted[:, 0::2], 0, x2 - x1 - 1)
    shifted[:, 1::2] = np.clip(shifted[:, 1::2], 0, y2 - y1 - 1)
    has_area = np.all(shifted[:, :2] < shifted[:, 2:], axis=1)
    return inside & has_area, shifted


class RandomFlipImage:
    """Mirror left-right with probability ``prob``; ``is_normalized`` says whether boxes are in [0, 1]."""

    def __init__(self, prob: float = 0.5, is_normalized: bool = False):
        check(0.0 <= prob <= 1.0, "RandomFlipImage", f"prob must be in [0, 1], got {prob!r}")
        self.prob, self.is_normalized = float(prob), bool(is_normalized)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if rng.uniform(0.0, 1.0) >= self.prob:
            return sample
        _, w = require_frame(sample, "RandomFlipImage")
        sample["image"] = np.ascontiguousarray(sample["image"][:, ::-1])
        boxes = sample["gt_bbox"].copy()
        edge = 1.0 if self.is_normalized else w - 1.0
        boxes[:, 0], boxes[:, 2] = edge - sample["gt_bbox"][:, 2], edge - sample["gt_bbox"][:, 0]
        sample["gt_bbox"] = boxes
        return sample
