"""What every evaluator accepts and returns, and the detection log both VOC and COCO keep.

Detections arrive as the model's eval output turned to numpy: ``bbox`` [K, 6] rows
(class, score, x1, y1, x2, y2) in original-image pixels, grouped per image by ``bbox_num`` [N].
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np

from slimdet.errors import DataError


class Evaluator(Protocol):
    """Accumulate batches, then compute the metric once (detectron2's reset / process / evaluate)."""

    def reset(self) -> None:
        """Forget everything processed so far."""

    def process(self, batch: Mapping[str, np.ndarray], detections: Mapping[str, np.ndarray]) -> None:
        """Add one eval batch (numpy arrays from the loader) and the model's detections for it."""

    def evaluate(self) -> dict[str, float]:
        """``"mAP"`` as a fraction in [0, 1], plus ``"AP/<class name>"`` per evaluated class."""


class ReportingEvaluator(Evaluator, Protocol):
    """An evaluator that can also explain its numbers and hand back what it saw."""

    def summary(self) -> EvalResult:
        """The metrics plus a per-class breakdown (the CLI's table)."""

    def records(self) -> list[dict[str, Any]]:
        """Every processed detection as a COCO-style result record (what ``--output_eval`` writes)."""


@dataclass(frozen=True)
class ClassAP:
    """One row of the per-class table."""

    name: str
    ap: float | None  # None: the class has no ground truth that counts, so it is not in the mean
    num_gt: int
    num_det: int


@dataclass(frozen=True)
class EvalResult:
    """An evaluator's outcome: the flat metrics dict and the per-class rows behind it."""

    metric: str  # "VOC" or "COCO"
    description: str  # what "mAP" means here, e.g. "mAP(0.50, 11point)" as the legacy tools logged it
    metrics: Mapping[str, float]
    classes: tuple[ClassAP, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "description": self.description,
            "metrics": dict(self.metrics),
            "classes": [asdict(row) for row in self.classes],
        }


def score(
    evaluator: Evaluator,
    pairs: Iterable[tuple[Mapping[str, np.ndarray], Mapping[str, np.ndarray]]],
    *,
    on_step: Callable[[int], None] | None = None,
) -> None:
    """The one scoring loop of every evaluation: reset ``evaluator``, then give it each (ground truth,
    detections) pair in turn, calling ``on_step(images)`` after each (progress bars).

    A checkpoint is scored on the EvalReader's batches run through its model (``engine.evaluate``), an exported
    folder one image at a time through its own preprocessing (``deploy.evaluate``): what they feed differs,
    how it is scored does not.
    """
    evaluator.reset()
    for truth, detections in pairs:
        evaluator.process(truth, detections)
        if on_step is not None:
            on_step(len(detections["bbox_num"]))


def split_per_image(detections: Mapping[str, np.ndarray], num_images: int) -> list[np.ndarray]:
    """The [K, 6] detection rows cut into one [k_i, 6] array per image using ``bbox_num``."""
    rows = np.asarray(detections["bbox"], dtype=np.float64).reshape(-1, 6)
    counts = np.asarray(detections["bbox_num"], dtype=np.int64).reshape(-1)
    if counts.size != num_images or counts.sum() != rows.shape[0]:
        raise DataError(
            f"detections do not fit the batch: bbox_num {counts.tolist()} for {num_images} images and "
            f"{rows.shape[0]} boxes; the model's eval output must come from this batch"
        )
    return np.split(rows, np.cumsum(counts)[:-1])


class DetectionLog:
    """Detections kept as compact arrays (one row per box plus its image id), turned into
    COCO-style records only when asked: a full VOC test run has ~500k boxes, too many for dicts."""

    def __init__(self) -> None:
        self._image_ids: list[np.ndarray] = []
        self._rows: list[np.ndarray] = []
        self._seen: list[np.ndarray] = []

    def clear(self) -> None:
        self._image_ids.clear()
        self._rows.clear()
        self._seen.clear()

    def add(self, im_ids: np.ndarray, per_image: list[np.ndarray]) -> None:
        ids = np.asarray(im_ids, dtype=np.int64).reshape(-1)
        self._seen.append(ids)
        self._rows.extend(per_image)
        self._image_ids.extend(np.full(len(rows), im_id, dtype=np.int64) for im_id, rows in zip(ids, per_image))

    @property
    def image_ids(self) -> list[int]:
        """Every processed image, with or without detections, in order of arrival."""
        return np.concatenate(self._seen).tolist() if self._seen else []

    @property
    def rows(self) -> np.ndarray:
        return np.concatenate(self._rows) if self._rows else np.zeros((0, 6))

    def records(self, clsid2catid: Mapping[int, int] | None = None) -> list[dict[str, Any]]:
        """Results in COCO's format: image_id, category_id, bbox [x, y, w, h], score.

        Boxes are pixel boxes with inclusive corners, so w = x2 − x1 + 1 as the legacy ``bbox2out``
        wrote them. ``clsid2catid`` maps contiguous class ids to category ids (identity when None).
        """
        rows = self.rows
        image_ids = np.concatenate(self._image_ids) if self._image_ids else np.zeros(0, dtype=np.int64)
        return [
            {
                "image_id": int(im_id),
                "category_id": int(clsid2catid[int(cls)] if clsid2catid is not None else int(cls)),
                "bbox": [float(x1), float(y1), float(x2 - x1 + 1), float(y2 - y1 + 1)],
                "score": float(score),
            }
            for im_id, (cls, score, x1, y1, x2, y2) in zip(image_ids, rows)
        ]
