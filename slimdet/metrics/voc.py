"""Pascal VOC mAP exactly as PaddleDetection 0.x computed it (docs/legacy.md, "VOC mAP").

IoU uses inclusive pixel corners (area = (x2 − x1 + 1)(y2 − y1 + 1)); a detection matches the
same-class ground truth it overlaps most when that IoU is strictly above the threshold; difficult
ground truths neither count nor penalise; predictions are matched in the order they arrive (NMS
order), so a second detection of an already matched object is a false positive.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

from slimdet.errors import ConfigError, DataError, did_you_mean
from slimdet.metrics.base import ClassAP, DetectionLog, EvalResult, split_per_image

MapType = Literal["11point", "integral"]
MAP_TYPES: tuple[str, ...] = ("11point", "integral")


def strip_padding(gt_bbox: np.ndarray, *per_box: np.ndarray) -> tuple[np.ndarray, ...]:
    """Cut the zero-padded ground-truth rows: everything from the first all-zero box on."""
    empty = np.flatnonzero(np.all(gt_bbox == 0, axis=1))
    keep = int(empty[0]) if empty.size else len(gt_bbox)
    return (gt_bbox[:keep], *(values[:keep] for values in per_box))


def pixel_iou(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """IoU matrix [K, G] of pixel boxes with inclusive corners (the +1 convention).

    Boxes that do not overlap in the exclusive sense (one's x1 at or past the other's x2, same for y)
    score 0, as the legacy ``jaccard_overlap`` decided before applying the +1.
    """
    p = pred[:, None, :]
    g = gt[None, :, :]
    apart = (p[..., 0] >= g[..., 2]) | (p[..., 2] <= g[..., 0]) | (p[..., 1] >= g[..., 3]) | (p[..., 3] <= g[..., 1])
    iw = np.minimum(p[..., 2], g[..., 2]) - np.maximum(p[..., 0], g[..., 0]) + 1
    ih = np.minimum(p[..., 3], g[..., 3]) - np.maximum(p[..., 1], g[..., 1]) + 1
    inter = iw * ih
    area_p = (p[..., 2] - p[..., 0] + 1) * (p[..., 3] - p[..., 1] + 1)
    area_g = (g[..., 2] - g[..., 0] + 1) * (g[..., 3] - g[..., 1] + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / (area_p + area_g - inter)
    return np.where(apart, 0.0, iou)


def match_image(
    dets: np.ndarray, gt_box: np.ndarray, gt_class: np.ndarray, difficult: np.ndarray, overlap_thresh: float
) -> tuple[np.ndarray, np.ndarray]:
    """Judge one image's detections [k, 6] in received order.

    Returns ``(counted, true_positive)`` boolean arrays over the detections: ``counted`` is false for
    detections whose best match is a difficult object (ignored), ``true_positive`` marks the first
    counted detection matching each object.
    """
    k = len(dets)
    if k == 0:
        return np.zeros(0, dtype=bool), np.zeros(0, dtype=bool)
    if len(gt_box) == 0:
        return np.ones(k, dtype=bool), np.zeros(k, dtype=bool)
    iou = pixel_iou(dets[:, 2:6], gt_box)
    same_class = dets[:, :1].astype(np.int64) == gt_class[None, :].astype(np.int64)
    iou = np.where(same_class, iou, -1.0)  # only same-class objects compete; ties keep the first
    best = iou.argmax(axis=1)
    matched = iou[np.arange(k), best] > overlap_thresh
    counted = ~(matched & (difficult[best] != 0))
    eligible = np.flatnonzero(matched & counted)
    true_positive = np.zeros(k, dtype=bool)
    _, first = np.unique(best[eligible], return_index=True)  # first claim on each object wins
    true_positive[eligible[first]] = True
    return counted, true_positive


def average_precision(true_positive: np.ndarray, num_gt: int, map_type: MapType) -> float:
    """AP of one class from its detections' TP flags, already sorted by descending score.

    ``11point``: mean over t = 0, 0.1, …, 1 of the best precision at recall ≥ t (0 when unreached).
    ``integral``: Σ precision_i · (recall_i − previous recall) where recall grows; no precision
    envelope, as in the legacy code (lower than the VOC2010+ interpolated AP when precision rises).
    """
    if num_gt == 0 or true_positive.size == 0:
        return 0.0
    tp = np.cumsum(true_positive, dtype=np.float64)
    fp = np.cumsum(~true_positive, dtype=np.float64)
    precision = tp / (tp + fp)
    recall = tp / num_gt
    if map_type == "11point":
        return float(np.mean([precision[recall >= t].max(initial=0.0) for t in np.arange(11) / 10.0]))
    gain = np.diff(recall, prepend=0.0)
    return float(np.sum(np.where(gain > 1e-6, precision * gain, 0.0)))


class VOCMetric:
    """VOC mAP over an eval loader's batches (``Evaluator`` protocol).

    ``class_names`` index the class ids of ground truth and detections. ``evaluate()`` returns
    ``mAP`` (mean over the classes with at least one counted ground truth; a class with ground truth
    but no detections contributes 0) and ``AP/<name>`` for each of those classes.
    """

    def __init__(
        self,
        class_names: Sequence[str],
        map_type: MapType = "11point",
        overlap_thresh: float = 0.5,
        evaluate_difficult: bool = False,
    ) -> None:
        if map_type not in MAP_TYPES:
            raise ConfigError(
                f"unknown map_type '{map_type}'{did_you_mean(map_type, MAP_TYPES)}: use one of {', '.join(MAP_TYPES)}"
            )
        self.class_names = list(class_names)
        self.map_type: MapType = map_type
        self.overlap_thresh = float(overlap_thresh)
        self.evaluate_difficult = bool(evaluate_difficult)
        self._log = DetectionLog()
        self.reset()

    def reset(self) -> None:
        self._log.clear()
        self._gt_counts = np.zeros(len(self.class_names), dtype=np.int64)
        self._det_counts = np.zeros(len(self.class_names), dtype=np.int64)
        self._classes: list[np.ndarray] = []  # per batch: class of each counted detection
        self._scores: list[np.ndarray] = []
        self._tps: list[np.ndarray] = []

    def process(self, batch: Mapping[str, np.ndarray], detections: Mapping[str, np.ndarray]) -> None:
        gt_bbox = np.asarray(batch["gt_bbox"], dtype=np.float64)
        gt_class = np.asarray(batch["gt_class"]).astype(np.int64)
        difficult = np.asarray(batch.get("is_difficult", np.zeros_like(gt_class))).astype(np.int64)
        if self.evaluate_difficult:
            difficult = np.zeros_like(difficult)
        per_image = split_per_image(detections, len(gt_bbox))
        self._log.add(batch["im_id"], per_image)
        for dets, boxes, classes, diff in zip(per_image, gt_bbox, gt_class, difficult):
            boxes, classes, diff = strip_padding(boxes, classes, diff)
            self._check_class_ids(classes, "ground truth")
            self._check_class_ids(dets[:, 0].astype(np.int64), "detection")
            self._gt_counts += np.bincount(classes[diff == 0], minlength=len(self.class_names))
            self._det_counts += np.bincount(dets[:, 0].astype(np.int64), minlength=len(self.class_names))
            counted, tp = match_image(dets, boxes, classes, diff, self.overlap_thresh)
            self._classes.append(dets[counted, 0].astype(np.int64))
            self._scores.append(dets[counted, 1])
            self._tps.append(tp[counted])

    def _check_class_ids(self, ids: np.ndarray, what: str) -> None:
        bad = ids[(ids < 0) | (ids >= len(self.class_names))]
        if bad.size:
            raise DataError(
                f"{what} class id {int(bad[0])} is outside the {len(self.class_names)} class names: "
                "num_classes and the dataset's label list must agree"
            )

    def summary(self) -> EvalResult:
        classes = np.concatenate(self._classes) if self._classes else np.zeros(0, dtype=np.int64)
        scores = np.concatenate(self._scores) if self._scores else np.zeros(0)
        tps = np.concatenate(self._tps) if self._tps else np.zeros(0, dtype=bool)
        order = np.argsort(-scores, kind="stable")  # ties keep arrival order, as the legacy sort did
        classes, tps = classes[order], tps[order]
        rows = []
        for cls, name in enumerate(self.class_names):
            num_gt = int(self._gt_counts[cls])
            ap = average_precision(tps[classes == cls], num_gt, self.map_type) if num_gt else None
            rows.append(ClassAP(name=name, ap=ap, num_gt=num_gt, num_det=int(self._det_counts[cls])))
        aps = [row.ap for row in rows if row.ap is not None]
        metrics = {"mAP": float(np.mean(aps)) if aps else 0.0}
        metrics.update({f"AP/{row.name}": row.ap for row in rows if row.ap is not None})
        return EvalResult(
            metric="VOC",
            description=f"mAP({self.overlap_thresh:.2f}, {self.map_type})",
            metrics=metrics,
            classes=tuple(rows),
        )

    def evaluate(self) -> dict[str, float]:
        return dict(self.summary().metrics)

    def records(self) -> list[dict[str, Any]]:
        """Detections as bbox.json records; VOC category ids are the class ids (legacy, no background)."""
        return self._log.records()
