"""COCO box mAP through pycocotools (the optional extra ``slimdet[coco]``).

pycocotools is imported when a ``COCOMetric`` is made, so VOC users never need it. It prints progress
to stdout, which core code must not do, so every call into it runs with stdout captured.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from slimdet.errors import DataError, SlimdetError
from slimdet.metrics.base import ClassAP, DetectionLog, EvalResult, split_per_image

# pycocotools' 12 summary numbers, in the order COCOeval.stats holds them; -1 means "undefined"
# (e.g. no small objects in the evaluated images).
STAT_NAMES: tuple[str, ...] = (
    "mAP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large",
    "AR1", "AR10", "AR100", "AR_small", "AR_medium", "AR_large",
)  # fmt: skip

T = TypeVar("T")


def _quietly(fn: Callable[..., T], *args: Any) -> T:
    """Run a pycocotools call with its progress prints swallowed."""
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args)


class COCOMetric:
    """COCO AP@[.5:.95] over an eval loader's batches (``Evaluator`` protocol).

    ``anno_path`` is the COCO-format ground-truth json; ``clsid2catid`` maps the model's contiguous
    class ids to the json's category ids. Only the processed images are evaluated, so a partial run
    gives the metric of the images it saw. Batches need ``im_id`` only.
    """

    def __init__(self, anno_path: str | Path, clsid2catid: Mapping[int, int]) -> None:
        try:
            from pycocotools.coco import COCO
        except ImportError:
            raise SlimdetError(
                "COCO evaluation needs pycocotools: pip install 'slimdet[coco]' (or use metric: VOC)"
            ) from None
        path = Path(anno_path)
        if not path.is_file():
            raise DataError(f"COCO annotation file {path} not found: check EvalReader.dataset.anno_path")
        self.anno_path = path
        self.clsid2catid = {int(k): int(v) for k, v in clsid2catid.items()}
        self._gt = _quietly(COCO, str(path))
        known = set(self._gt.getCatIds())
        unknown = sorted(set(self.clsid2catid.values()) - known)
        if unknown:
            raise DataError(f"category ids {unknown} are not in {path}: the label map and the annotations differ")
        self._log = DetectionLog()

    def reset(self) -> None:
        self._log.clear()

    def process(self, batch: Mapping[str, np.ndarray], detections: Mapping[str, np.ndarray]) -> None:
        im_ids = np.asarray(batch["im_id"]).reshape(-1)
        self._log.add(im_ids, split_per_image(detections, len(im_ids)))

    def records(self) -> list[dict[str, Any]]:
        """Detections as bbox.json records with the annotation file's category ids."""
        return self._log.records(self.clsid2catid)

    def summary(self) -> EvalResult:
        from pycocotools.cocoeval import COCOeval

        image_ids = sorted(set(self._log.image_ids))
        unknown = sorted(set(image_ids) - set(self._gt.getImgIds()))
        if unknown:
            raise DataError(
                f"image ids {unknown[:5]} are not in {self.anno_path}: evaluate with the loader built from it"
            )
        records = self.records()
        cat_ids = [self.clsid2catid[k] for k in sorted(self.clsid2catid)]
        num_det = {cat: 0 for cat in cat_ids}
        for record in records:
            num_det[record["category_id"]] += 1
        if records:
            evaluation = COCOeval(self._gt, _quietly(self._gt.loadRes, records), "bbox")
            evaluation.params.imgIds = image_ids
            _quietly(evaluation.evaluate)
            _quietly(evaluation.accumulate)
            _quietly(evaluation.summarize)
            metrics = {name: float(value) for name, value in zip(STAT_NAMES, evaluation.stats)}
            precision = evaluation.eval["precision"]  # [iou thr, recall, category, area, max dets]
            column = {cat: i for i, cat in enumerate(evaluation.params.catIds)}
        else:  # pycocotools cannot load an empty result list; nothing detected means zero
            metrics = {name: 0.0 for name in STAT_NAMES}
            precision, column = None, {}
        rows = []
        for cat in cat_ids:
            num_gt = self._count_gt(image_ids, cat)
            ap: float | None = None
            if num_gt:
                ap = 0.0
                if precision is not None:
                    values = precision[:, :, column[cat], 0, -1]  # all areas, 100 detections
                    ap = float(values[values > -1].mean()) if np.any(values > -1) else 0.0
            name = self._gt.loadCats(cat)[0]["name"]
            rows.append(ClassAP(name=name, ap=ap, num_gt=num_gt, num_det=num_det[cat]))
        metrics.update({f"AP/{row.name}": row.ap for row in rows if row.ap is not None})
        return EvalResult(metric="COCO", description="mAP(0.50:0.95)", metrics=metrics, classes=tuple(rows))

    def _count_gt(self, image_ids: list[int], cat: int) -> int:
        """Non-crowd objects of one category in the evaluated images (an empty id list means none,
        whereas pycocotools would read it as "all images")."""
        if not image_ids:
            return 0
        anns = self._gt.loadAnns(self._gt.getAnnIds(imgIds=image_ids, catIds=[cat]))
        return sum(1 for ann in anns if not ann.get("iscrowd", 0))

    def evaluate(self) -> dict[str, float]:
        return dict(self.summary().metrics)
