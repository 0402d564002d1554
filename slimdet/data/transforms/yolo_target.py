"""Gt2YoloTarget: per-level training targets of the fine-grained YOLOv3 loss.

Input per sample (end of the legacy pipeline): image [3, H, W], ``gt_bbox`` [B, 4] normalised
(cx, cy, w, h), ``gt_class`` [B], ``gt_score`` [B]. Output ``target{l}`` [len(mask_l), 6 + C, H/r_l, W/r_l]
with channels tx, ty, tw, th, scale weight, score, one-hot class.

Each box with w, h, score > 0 goes to the best of *all* anchors by IoU of origin-aligned boxes (ties
keep the first), in the cell holding its centre, on the level whose mask holds that anchor:
tx = cx·grid_w − gi, ty = cy·grid_h − gj, tw = ln(w·W / anchor_w), th = ln(h·H / anchor_h),
scale = 2 − w·h, score = gt_score, class one-hot. With ``iou_thresh`` < 1 the level's other anchors
whose IoU exceeds it get the same target. A later box on the same (anchor, cell) replaces the earlier
one entirely (the legacy op left the earlier box's class bit set as well). A centre exactly on the
right/bottom edge (cx = 1) goes to the last cell instead of past the grid.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from slimdet.data.transforms.base import Sample, check, image_hw
from slimdet.errors import ConfigError


class Gt2YoloTarget:
    """Turn a batch's boxes into ``target0..`` arrays (one per anchor mask / downsample ratio)."""

    def __init__(
        self,
        anchors: Sequence[Sequence[float]],
        anchor_masks: Sequence[Sequence[int]],
        downsample_ratios: Sequence[int],
        num_classes: int = 80,
        iou_thresh: float = 1.0,
    ):
        check(
            len(anchor_masks) == len(downsample_ratios),
            "Gt2YoloTarget",
            f"anchor_masks ({len(anchor_masks)}) and downsample_ratios ({len(downsample_ratios)}) need the same length",
        )
        check(all(len(a) == 2 for a in anchors), "Gt2YoloTarget", "anchors must be [w, h] pairs")
        flat = [i for mask in anchor_masks for i in mask]
        in_range = all(0 <= i < len(anchors) for i in flat)
        check(in_range, "Gt2YoloTarget", f"anchor_masks refer to anchors beyond the {len(anchors)} given")
        ok = isinstance(num_classes, int) and num_classes >= 1
        check(ok, "Gt2YoloTarget", f"num_classes must be >= 1, got {num_classes!r}")
        self.anchors = np.array(anchors, np.float64)
        self.anchor_masks = [list(mask) for mask in anchor_masks]
        self.downsample_ratios = list(downsample_ratios)
        self.num_classes = num_classes
        self.iou_thresh = float(iou_thresh)

    def __call__(self, samples: list[Sample], rng: np.random.Generator) -> list[Sample]:
        for sample in samples:
            h, w = image_hw(sample)
            targets = self.encode(sample["gt_bbox"], sample["gt_class"], sample["gt_score"], h, w)
            for level, target in enumerate(targets):
                sample[f"target{level}"] = target
        return samples

    def encode(
        self, gt_bbox: np.ndarray, gt_class: np.ndarray, gt_score: np.ndarray, h: int, w: int
    ) -> list[np.ndarray]:
        """Targets for one image of size h × w (boxes normalised cx, cy, w, h)."""
        grids = [(int(h / r), int(w / r)) for r in self.downsample_ratios]
        targets = [
            np.zeros((len(mask), 6 + self.num_classes, gh, gw), np.float32)
            for mask, (gh, gw) in zip(self.anchor_masks, grids)
        ]
        anchor_wh = self.anchors / np.array([w, h], np.float64)
        for (cx, cy, bw, bh), cls, score in zip(gt_bbox, gt_class, gt_score):
            if bw <= 0 or bh <= 0 or score <= 0:
                continue
            if not 0 <= cls < self.num_classes:
                raise ConfigError(f"a box has class id {cls} but num_classes is {self.num_classes}: raise num_classes")
            inter = np.minimum(bw, anchor_wh[:, 0]) * np.minimum(bh, anchor_wh[:, 1])
            iou = inter / (bw * bh + anchor_wh[:, 0] * anchor_wh[:, 1] - inter)
            best = int(np.argmax(iou))
            for target, mask, (gh, gw) in zip(targets, self.anchor_masks, grids):
                gi, gj = min(int(cx * gw), gw - 1), min(int(cy * gh), gh - 1)
                for n, index in enumerate(mask):
                    if index == best or (self.iou_thresh < 1 and iou[index] > self.iou_thresh):
                        cell = target[n, :, gj, gi]
                        cell[:] = 0.0
                        cell[0] = cx * gw - gi
                        cell[1] = cy * gh - gj
                        cell[2] = np.log(bw * w / self.anchors[index, 0])
                        cell[3] = np.log(bh * h / self.anchors[index, 1])
                        cell[4] = 2.0 - bw * bh
                        cell[5] = score
                        cell[6 + int(cls)] = 1.0
        return targets
