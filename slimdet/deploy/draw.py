"""Draw labelled boxes on a copy of an image and save it atomically."""

from __future__ import annotations

import colorsys
import math
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from slimdet._files import write_bytes_atomic

MIN_DRAWN_SIDE = 480  # pixels; smaller pictures are drawn enlarged so that their captions can be read


def drawn_scale(shape: tuple[int, int]) -> int:
    """The whole factor a picture of ``shape`` (h, w) is enlarged by before drawing (1: drawn as it is)."""
    return max(1, math.ceil(MIN_DRAWN_SIDE / max(1, min(shape))))


def class_color(class_id: int) -> tuple[int, int, int]:
    """A stable, well-separated BGR colour per class (golden-ratio steps around the hue circle)."""
    hue = (class_id * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 0.95)
    return int(b * 255), int(g * 255), int(r * 255)


def class_name(label_list: Sequence[str], class_id: int) -> str:
    """The label of a class id, or the id itself when the list is shorter (a model with more classes)."""
    return label_list[class_id] if 0 <= class_id < len(label_list) else str(class_id)


def draw_boxes(rgb: np.ndarray, rows: np.ndarray, label_list: Sequence[str]) -> np.ndarray:
    """A BGR copy of ``rgb`` with each row (class, score, x1, y1, x2, y2) drawn as a box and a caption.

    A picture whose shorter side is under ``MIN_DRAWN_SIDE`` is enlarged first, by a whole factor (``drawn_scale``):
    no caption can be read on a 96-pixel picture, whatever the font.
    """
    factor = drawn_scale(rgb.shape[:2])
    canvas = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    if factor > 1:
        canvas = cv2.resize(canvas, None, fx=factor, fy=factor, interpolation=cv2.INTER_LINEAR)
        rows = np.concatenate([rows[:, :2], rows[:, 2:6] * factor], axis=1)
    thickness = max(1, round(min(canvas.shape[:2]) / 300))
    scale = max(0.35, min(canvas.shape[:2]) / 800)
    for class_id, score, x1, y1, x2, y2 in rows:
        color = class_color(int(class_id))
        name = class_name(label_list, int(class_id))
        top_left, bottom_right = (int(round(x1)), int(round(y1))), (int(round(x2)), int(round(y2)))
        cv2.rectangle(canvas, top_left, bottom_right, color, thickness)
        caption = f"{name} {score:.2f}"
        (width, height), baseline = cv2.getTextSize(caption, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        # caption above the box when there is room, inside it otherwise
        y_text = top_left[1] - baseline if top_left[1] - height - baseline >= 0 else top_left[1] + height
        cv2.rectangle(
            canvas, (top_left[0], y_text - height), (top_left[0] + width, y_text + baseline), color, cv2.FILLED
        )
        cv2.putText(
            canvas, caption, (top_left[0], y_text), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA
        )
    return canvas


def save_image(bgr: np.ndarray, path: Path) -> Path:
    """Encode in the format the file's suffix names (the input's own format) and write atomically."""
    path = Path(path)
    ok, encoded = cv2.imencode(path.suffix, bgr)
    if not ok:
        raise OSError(f"OpenCV could not encode {path.name}")
    return write_bytes_atomic(path, encoded.tobytes())
