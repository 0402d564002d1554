"""COCO instances json (``dataset_dir/anno_path``) with images under ``dataset_dir/image_dir``.

Classes are the json's categories sorted by id (``category_ids[i]`` is the COCO id of class i), so
detections map back to COCO ids for pycocotools. Boxes ``[x, y, w, h]`` become ``x1, y1, x1+w, y1+h``,
clipped to the image; boxes without area are dropped (listed in ``warnings``). Crowd annotations are
kept and marked difficult, so the VOC-style metric ignores them.
"""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from slimdet.data.datasets.base import DetectionDataset, ImageRecord, clip_boxes, existing_dir
from slimdet.errors import DataError


class COCODataSet(DetectionDataset):
    """Images and boxes of a COCO ``instances_*.json``."""

    def __init__(
        self,
        dataset_dir: str,
        anno_path: str,
        *,
        image_dir: str = "",
        with_background: bool = True,
        sample_num: int = -1,
        skip_empty: bool = True,
        collect_problems: bool = False,
    ):
        root = existing_dir(dataset_dir, "dataset_dir")
        anno = root / anno_path
        data = load_coco_json(anno)
        try:
            categories = sorted(data["categories"], key=lambda c: int(c["id"]))
            names = [str(c["name"]) for c in categories]
        except (KeyError, TypeError, ValueError) as err:
            raise DataError(f"{anno}: malformed categories ({err!r})") from None
        super().__init__([], names, with_background=with_background)
        self.category_ids = [int(c["id"]) for c in categories]
        class_ids = {cid: i + self.class_offset for i, cid in enumerate(self.category_ids)}
        by_image: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for ann in data["annotations"]:
            by_image[ann.get("image_id")].append(ann)
        image_root = root / image_dir
        for info in data["images"]:
            if 0 <= sample_num <= len(self.records):
                break
            self._admit(
                functools.partial(self._checked_record, info, by_image[info.get("id")], image_root, anno, class_ids),
                collect_problems=collect_problems,
                skip_empty=skip_empty,
            )

    def _checked_record(
        self, info: dict[str, Any], anns: list[dict[str, Any]], image_root: Path, anno: Path, class_ids: dict[int, int]
    ) -> ImageRecord:
        """``_record``, with a malformed json entry (missing key, wrong type) reported as a ``DataError``."""
        try:
            return self._record(info, anns, image_root, anno, class_ids)
        except (KeyError, TypeError, ValueError) as err:
            raise DataError(
                f"{anno}: image {info.get('id')} or one of its annotations is malformed ({err!r})"
            ) from None

    def _record(
        self, info: dict[str, Any], anns: list[dict[str, Any]], image_root: Path, anno: Path, class_ids: dict[int, int]
    ) -> ImageRecord:
        image = image_root / info["file_name"]
        if not image.is_file():
            raise DataError(f"image {image} not found (image id {info['id']} in {anno})")
        width, height = int(info.get("width", 0)), int(info.get("height", 0))
        if width <= 0 or height <= 0:
            raise DataError(f"{anno}: image id {info['id']} has no positive width/height")
        boxes, classes, crowd = [], [], []
        for ann in anns:
            if ann["category_id"] not in class_ids:
                raise DataError(
                    f"{anno}: annotation {ann.get('id')} has category_id {ann['category_id']}, "
                    "which is not among the json's categories"
                )
            x, y, w, h = (float(v) for v in ann["bbox"])
            box = clip_boxes(np.array([[x, y, x + w, y + h]], np.float32), width, height)[0]
            if box[2] <= box[0] or box[3] <= box[1]:
                self.warnings.append(f"{anno}: annotation {ann.get('id')} box {ann['bbox']} has no area; dropped")
                continue
            boxes.append(box)
            classes.append(class_ids[ann["category_id"]])
            crowd.append(int(ann.get("iscrowd", 0)))
        return ImageRecord(
            im_file=str(image),
            im_id=int(info["id"]),
            height=height,
            width=width,
            gt_bbox=np.array(boxes, np.float32).reshape(-1, 4),
            gt_class=np.array(classes, np.int32),
            difficult=np.array(crowd, np.int32),
        )


def load_coco_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"anno_path {path} not found: point it at a COCO instances json") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not valid JSON ({err})") from None
    missing = [key for key in ("images", "annotations", "categories") if key not in data]
    if missing:
        raise DataError(f"{path}: not a COCO instances file (no {', '.join(missing)})")
    return data
