"""Detect objects in image files with a ``Detector``, and draw what was found.

A detector comes with an ``InferConfig`` (preprocessing and class names): an exported folder brings its own
``infer_cfg.yml`` (``open_exported``); ``slimdet infer``'s core (``slimdet.commands.infer``) also rebuilds
a checkpoint and derives the same from its config. Each picture is drawn on a copy, written atomically
under the output folder with the input's file name.

A folder of pictures from a camera or a scraper always holds a few broken files: unless ``strict``, a file
that cannot be read is skipped (and reported as it happens), so one bad file does not cost the others.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from slimdet.deploy.draw import class_name, draw_boxes, save_image
from slimdet.deploy.infer_cfg import FILE_NAME as INFER_CFG_FILE
from slimdet.deploy.infer_cfg import InferConfig
from slimdet.deploy.predictor import (
    MODEL_FILE,
    ONNX_FILE,
    PARAMS_FILE,
    Detector,
    OnnxPredictor,
    PaddlePredictor,
)
from slimdet.deploy.preprocess import Preprocessor
from slimdet.errors import DataError, WeightsError

DEFAULT_OUTPUT_DIR = Path("output")


@dataclass(frozen=True)
class Detection:
    """One box kept on one image."""

    class_id: int
    class_name: str
    score: float
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in original pixels

    def to_dict(self) -> dict[str, Any]:
        return {"class_id": self.class_id, "class_name": self.class_name, "score": self.score, "box": list(self.box)}


@dataclass(frozen=True)
class ImageResult:
    """An input image, the drawn copy written for it, and what was found on it."""

    image: str
    drawn: str
    detections: tuple[Detection, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"image": self.image, "drawn": self.drawn, "detections": [d.to_dict() for d in self.detections]}


@dataclass(frozen=True)
class SkippedImage:
    """An input file that could not be read, and why (the reader's one-line message)."""

    image: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"image": self.image, "reason": self.reason}


@dataclass(frozen=True)
class InferResult:
    """Everything ``slimdet infer`` found, image by image, and how (model backend, score threshold); the
    files it could not read, when not strict."""

    backend: str  # paddle_inference | dygraph
    threshold: float
    output_dir: str
    images: tuple[ImageResult, ...]
    skipped: tuple[SkippedImage, ...] = ()

    @property
    def counts(self) -> dict[str, int]:
        """Pictures read, skipped and drawn (every picture read gets its drawn copy, boxes or not)."""
        return {"read": len(self.images), "skipped": len(self.skipped), "drawn": len(self.images)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "threshold": self.threshold,
            "output_dir": self.output_dir,
            **self.counts,
            "images": [image.to_dict() for image in self.images],
            "skipped_images": [skipped.to_dict() for skipped in self.skipped],
        }


def keep_rows(rows: np.ndarray, threshold: float) -> np.ndarray:
    """Rows a deployment shows: a real class and a score above the threshold (the legacy deploy rule)."""
    return rows[(rows[:, 1] > threshold) & (rows[:, 0] > -1)]


def detect_images(
    detector: Detector,
    infer_cfg: InferConfig,
    images: Sequence[Path],
    *,
    threshold: float | None = None,
    output_dir: Path = DEFAULT_OUTPUT_DIR,
    strict: bool = True,
    on_skip: Callable[[SkippedImage], None] | None = None,
) -> InferResult:
    """Run ``detector`` on each image file, one at a time, and draw the kept boxes into ``output_dir``.

    ``strict``: a file that cannot be read raises its ``DataError``. Otherwise it is skipped, listed in
    ``InferResult.skipped`` and handed to ``on_skip`` at once (a long run shows it as it happens).
    """
    threshold = infer_cfg.draw_threshold if threshold is None else float(threshold)
    output_dir = Path(output_dir)
    targets = [output_dir / path.name for path in images]
    clashes = [str(path) for path, target in zip(images, targets) if target.resolve() == path.resolve()]
    if clashes:
        raise DataError(f"drawing would overwrite the input image {clashes[0]}: choose another --output-dir")
    output_dir.mkdir(parents=True, exist_ok=True)
    labels = infer_cfg.label_list
    preprocessor = Preprocessor(infer_cfg.preprocess)
    results, skipped = [], []
    for path, target in zip(images, targets):
        try:
            rgb, batch, im_size = preprocessor.prepare(path)
        except DataError as err:
            if strict:
                raise
            skipped.append(SkippedImage(image=str(path), reason=str(err)))
            if on_skip is not None:
                on_skip(skipped[-1])
            continue
        rows = keep_rows(detector(batch, im_size).bbox, threshold)
        save_image(draw_boxes(rgb, rows, labels), target)
        found = tuple(
            Detection(
                class_id=int(row[0]),
                class_name=class_name(labels, int(row[0])),
                score=float(row[1]),
                box=(float(row[2]), float(row[3]), float(row[4]), float(row[5])),
            )
            for row in rows
        )
        results.append(ImageResult(image=str(path), drawn=str(target), detections=found))
    return InferResult(
        backend=detector.name,
        threshold=threshold,
        output_dir=str(output_dir),
        images=tuple(results),
        skipped=tuple(skipped),
    )


def open_exported(model_dir: Path, *, onnx: bool = False, threads: int | None = None) -> tuple[Detector, InferConfig]:
    """A detector and the ``infer_cfg.yml`` of a folder made by ``slimdet export`` or ``slimdet quantize``:
    Paddle Inference (with its int8 kernels when the file says int8), or ``model.onnx`` with ``onnx``."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise WeightsError(f"model folder '{model_dir}' does not exist: run slimdet export first")
    missing = [name for name in (MODEL_FILE, PARAMS_FILE, INFER_CFG_FILE) if not (model_dir / name).is_file()]
    if missing:
        raise WeightsError(
            f"'{model_dir}' lacks {', '.join(missing)}: point --model-dir at a folder made by slimdet export"
        )
    infer_cfg = InferConfig.read(model_dir)
    if onnx:
        return OnnxPredictor(model_dir / ONNX_FILE, threads=threads), infer_cfg
    return PaddlePredictor(model_dir, threads=threads, int8=infer_cfg.precision == "int8"), infer_cfg
