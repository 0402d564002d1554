"""Box bookkeeping: normalise to [0, 1], pad to a fixed count, convert to centre/size."""

from __future__ import annotations

import numpy as np

from slimdet.data.transforms.base import BOX_FIELDS, Sample, check


class NormalizeBox:
    """Divide x by the frame width and y by its height (``w``, ``h``: see transforms.base)."""

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        scale = np.array([sample["w"], sample["h"], sample["w"], sample["h"]], np.float32)
        sample["gt_bbox"] = (sample["gt_bbox"] / scale).astype(np.float32)
        return sample


class PadBox:
    """Zero-pad (or truncate) every per-box field to ``num_max_boxes`` rows, so samples stack."""

    def __init__(self, num_max_boxes: int = 50):
        ok = isinstance(num_max_boxes, int) and num_max_boxes >= 1
        check(ok, "PadBox", f"num_max_boxes must be >= 1, got {num_max_boxes!r}")
        self.num_max_boxes = num_max_boxes

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        n = min(len(sample["gt_bbox"]), self.num_max_boxes)
        for key in BOX_FIELDS:
            if key in sample:
                values = sample[key]
                padded = np.zeros((self.num_max_boxes, *values.shape[1:]), values.dtype)
                padded[:n] = values[:n]
                sample[key] = padded
        return sample


class BboxXYXY2XYWH:
    """(x1, y1, x2, y2) → (centre x, centre y, w, h); padded all-zero rows stay zero."""

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        boxes = sample["gt_bbox"]
        size = boxes[:, 2:] - boxes[:, :2]
        sample["gt_bbox"] = np.concatenate([boxes[:, :2] + size / 2, size], axis=1).astype(np.float32)
        return sample
