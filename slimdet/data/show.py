"""Pictures of what the model is fed: training samples after every transform, boxes and names drawn.

The image is taken back to viewable pixels by inverting NormalizeImage and Permute; boxes are mapped
from whatever form the pipeline left them in (normalised or pixel, centre/size or corners) onto it.
A box's label shows its gt_score when below 1 (mixup weight).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from slimdet._files import write_bytes_atomic
from slimdet.data.build import build_loader
from slimdet.data.pipeline import Pipeline
from slimdet.data.transforms import BboxXYXY2XYWH, DecodeImage, NormalizeBox, NormalizeImage, Permute, Sample
from slimdet.data.transforms.base import image_hw
from slimdet.errors import DataError

MIN_PICTURE_SIDE = 480  # small inputs are enlarged (nearest) so boxes and names stay legible
_COLOURS = [(56, 56, 255), (151, 157, 255), (31, 112, 255), (29, 178, 255), (49, 210, 207), (10, 249, 72),
            (23, 204, 146), (134, 219, 61), (211, 188, 0), (209, 99, 255)]  # fmt: skip


@dataclass(frozen=True)
class ShowReport:
    out_dir: str
    files: list[str]
    boxes: int
    seed: int

    def to_dict(self) -> dict:
        return asdict(self)


def show_samples(cfg: Mapping[str, Any], *, num: int, out_dir: str | Path, seed: int = 0) -> ShowReport:
    """Write ``num`` augmented training samples (epoch 0 under ``seed``) as PNGs into ``out_dir``."""
    if num < 1:
        raise DataError(f"--num must be at least 1, got {num}")
    loader = build_loader(cfg, "train", seed=seed, workers=0)
    names = loader.dataset.class_names
    offset = loader.dataset.class_offset
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: list[str] = []
    boxes = 0
    for samples in loader.epoch_samples(loader.epoch):
        for sample in samples:
            picture, drawn = render_sample(sample, loader.pipeline, names, offset)
            path = out / f"sample_{len(files):03d}.png"
            _write_png(path, picture)
            files.append(str(path))
            boxes += drawn
            if len(files) == num:
                return ShowReport(out_dir=str(out), files=files, boxes=boxes, seed=seed)
    return ShowReport(out_dir=str(out), files=files, boxes=boxes, seed=seed)


def render_sample(sample: Sample, pipeline: Pipeline, names: list[str], offset: int) -> tuple[np.ndarray, int]:
    """A BGR picture of one transformed sample with its boxes, and how many boxes were drawn."""
    image = viewable_image(sample, pipeline)
    h, w = image.shape[:2]
    zoom = max(1, math.ceil(MIN_PICTURE_SIDE / max(h, w)))
    image = cv2.resize(image, (w * zoom, h * zoom), interpolation=cv2.INTER_NEAREST)
    boxes = pixel_boxes(sample, pipeline) * zoom
    scores = sample.get("gt_score", np.ones(len(boxes), np.float32))
    drawn = 0
    for box, cls, score in zip(boxes, sample["gt_class"], scores):
        if score <= 0 or not np.any(box):
            continue  # padding rows
        index = int(cls) - offset
        name = names[index] if 0 <= index < len(names) else f"class {int(cls)}"
        label = name if score >= 0.999 else f"{name} {score:.2f}"
        colour = _COLOURS[index % len(_COLOURS)]
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(image, (x1, y1), (x2, y2), colour, 2)
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
        ty = max(y1, th + base + 2)
        cv2.rectangle(image, (x1, ty - th - base - 2), (x1 + tw + 2, ty), colour, -1)
        cv2.putText(image, label, (x1 + 1, ty - base), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        drawn += 1
    return image, drawn


def viewable_image(sample: Sample, pipeline: Pipeline) -> np.ndarray:
    """The sample's image as HWC BGR uint8, undoing NormalizeImage and Permute."""
    image = sample["image"]
    if sample.get("channel_first"):
        image = image.transpose(1, 2, 0)
    rgb = all(d.to_rgb for d in pipeline.find(DecodeImage))
    for permute in pipeline.find(Permute):
        rgb ^= permute.to_bgr
    normalizers = pipeline.find(NormalizeImage)
    if normalizers:
        image = normalizers[-1].invert(image)
    image = np.clip(image, 0, 255).astype(np.uint8)
    return cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if rgb else np.ascontiguousarray(image)


def pixel_boxes(sample: Sample, pipeline: Pipeline) -> np.ndarray:
    """The sample's boxes as x1, y1, x2, y2 in pixels of its current image."""
    boxes = np.asarray(sample["gt_bbox"], np.float32).copy()
    if pipeline.find(BboxXYXY2XYWH):
        boxes = np.concatenate([boxes[:, :2] - boxes[:, 2:] / 2, boxes[:, :2] + boxes[:, 2:] / 2], axis=1)
    h, w = image_hw(sample)
    frame = (1.0, 1.0) if pipeline.find(NormalizeBox) else (float(sample["h"]), float(sample["w"]))
    return boxes * np.array([w / frame[1], h / frame[0], w / frame[1], h / frame[0]], np.float32)


def _write_png(path: Path, image: np.ndarray) -> None:
    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise RuntimeError(f"OpenCV could not encode {path.name}")
    write_bytes_atomic(path, data.tobytes())
