"""YOLOv3 anchors, masks and strides of the legacy VOC (and COCO) configs (docs/legacy.md, "YOLOv3 geometry").

Level 0 is the coarsest map (stride 32) and gets the three largest anchors.
"""

from __future__ import annotations

from collections.abc import Sequence

# (w, h) in pixels of the 608-px network input, indices 0..8.
YOLOV3_ANCHORS: tuple[tuple[int, int], ...] = (
    (10, 13), (16, 30), (33, 23),
    (30, 61), (62, 45), (59, 119),
    (116, 90), (156, 198), (373, 326),
)  # fmt: skip
# Anchor indices used by each output level, coarsest first.
YOLOV3_ANCHOR_MASKS: tuple[tuple[int, ...], ...] = ((6, 7, 8), (3, 4, 5), (0, 1, 2))
# Input pixels per grid cell of each output level, coarsest first.
DOWNSAMPLE_RATIOS: tuple[int, ...] = (32, 16, 8)


def level_anchors(anchors: Sequence[Sequence[int]], mask: Sequence[int]) -> list[int]:
    """The anchors of one level flattened to ``[w0, h0, w1, h1, …]``: the integer layout ``yolo_box`` takes."""
    return [int(value) for index in mask for value in anchors[index]]
