"""Samples whose boxes are painted into the image, so a test can see where the pixels went."""

from __future__ import annotations

import numpy as np

COLOURS = [(250, 20, 20), (20, 250, 20), (20, 20, 250)]


def painted_sample(h: int = 60, w: int = 80, boxes=((5, 10, 24, 29), (40, 30, 69, 49))) -> dict:
    """A black HWC image with box i filled (inclusive pixels) in COLOURS[i], and the matching sample fields."""
    image = np.zeros((h, w, 3), np.uint8)
    for colour, (x1, y1, x2, y2) in zip(COLOURS, boxes):
        image[y1 : y2 + 1, x1 : x2 + 1] = colour
    n = len(boxes)
    return {
        "im_file": "painted.jpg",
        "im_id": 0,
        "image": image,
        "h": h,
        "w": w,
        "im_size": np.array([h, w], np.int32),
        "gt_bbox": np.array(boxes, np.float32).reshape(-1, 4),
        "gt_class": np.arange(n, dtype=np.int32),
        "gt_score": np.ones(n, np.float32),
        "difficult": np.zeros(n, np.int32),
    }


def colour_mask(image: np.ndarray, colour) -> np.ndarray:
    """Pixels within a small tolerance of a colour (interpolation may blur edges a little)."""
    return np.all(np.abs(image.astype(int) - np.array(colour)) < 60, axis=-1)


def box_mask(shape: tuple[int, int], box) -> np.ndarray:
    """The inclusive-pixel rectangle of a box, rounded to whole pixels."""
    mask = np.zeros(shape, bool)
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    mask[y1 : y2 + 1, x1 : x2 + 1] = True
    return mask


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))
