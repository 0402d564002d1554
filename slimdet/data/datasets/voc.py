"""PASCAL VOC in PaddleDetection's layout: a list file of 'image xml' pairs relative to ``dataset_dir``.

Reading rules (the legacy ones, stated): box coordinates are read as floats and clipped to
[0, w−1] × [0, h−1] of the ``<size>`` in the XML (no −1 shift of VOC's 1-based numbers); a box left
without area (x2 ≤ x1 or y2 ≤ y1) is dropped; both are listed in ``warnings``. ``difficult`` is kept.
Images without objects are skipped when ``skip_empty`` (training) and kept otherwise (evaluation, so
that detections on them count). Anything unreadable raises ``DataError`` naming the file.
"""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from slimdet.data.datasets.base import (
    DetectionDataset,
    ImageRecord,
    class_names_for,
    clip_boxes,
    existing_dir,
)
from slimdet.errors import DataError, did_you_mean


class VOCDataSet(DetectionDataset):
    """VOC XML annotations listed in ``dataset_dir/anno_path``."""

    def __init__(
        self,
        dataset_dir: str,
        anno_path: str,
        *,
        image_dir: str | None = None,
        use_default_label: bool = True,
        label_list: str = "label_list.txt",
        with_background: bool = True,
        sample_num: int = -1,
        skip_empty: bool = True,
        collect_problems: bool = False,
    ):
        root = existing_dir(dataset_dir, "dataset_dir")
        names = class_names_for(root, use_default_label, label_list)
        super().__init__([], names, with_background=with_background)
        list_file = root / anno_path
        if not list_file.is_file():
            raise DataError(f"anno_path {list_file} not found: it should list 'image xml' pairs relative to {root}")
        image_root = root / image_dir if image_dir else root
        class_ids = {name: i + self.class_offset for i, name in enumerate(names)}
        for line_no, line in enumerate(list_file.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            if 0 <= sample_num <= len(self.records):
                break
            self._admit(
                functools.partial(self._read_entry, line, f"{list_file}:{line_no}", root, image_root, class_ids),
                collect_problems=collect_problems,
                skip_empty=skip_empty,
            )

    def _read_entry(
        self, line: str, where: str, root: Path, image_root: Path, class_ids: dict[str, int]
    ) -> ImageRecord:
        parts = line.split()
        if len(parts) != 2:
            raise DataError(f"{where}: expected 'image_path xml_path', got {line.strip()!r}")
        image, xml = image_root / parts[0], root / parts[1]
        if not image.is_file():
            raise DataError(f"image {image} not found (listed at {where})")
        if not xml.is_file():
            raise DataError(f"annotation {xml} not found (listed at {where})")
        try:
            tree = ET.parse(xml).getroot()
        except ET.ParseError as err:
            raise DataError(f"{xml}: malformed XML ({err}); fix or remove the file") from None
        width, height = _size(tree, xml)
        boxes, classes, difficult = [], [], []
        for k, obj in enumerate(tree.findall("object")):
            name = _text(obj, "name", xml, k)
            if name not in class_ids:
                raise DataError(
                    f"{xml}: object {k} has class '{name}', which is not in the label list "
                    f"({', '.join(class_ids)}){did_you_mean(name, class_ids)}"
                )
            raw = np.array([[_number(obj, f"bndbox/{c}", xml, k) for c in ("xmin", "ymin", "xmax", "ymax")]])
            box = clip_boxes(raw.astype(np.float32), width, height)
            if not np.array_equal(box, raw.astype(np.float32)):
                self.warnings.append(f"{xml}: object {k} box {raw[0].tolist()} clipped to the {width}x{height} image")
            if box[0, 2] <= box[0, 0] or box[0, 3] <= box[0, 1]:
                self.warnings.append(f"{xml}: object {k} box {raw[0].tolist()} has no area; dropped")
                continue
            boxes.append(box[0])
            classes.append(class_ids[name])
            difficult.append(int(_number(obj, "difficult", xml, k, default=0)))
        return ImageRecord(
            im_file=str(image),
            im_id=len(self.records),
            height=height,
            width=width,
            gt_bbox=np.array(boxes, np.float32).reshape(-1, 4),
            gt_class=np.array(classes, np.int32),
            difficult=np.array(difficult, np.int32),
        )


def _size(tree: ET.Element, xml: Path) -> tuple[int, int]:
    try:
        width = int(float(tree.findtext("size/width", "")))
        height = int(float(tree.findtext("size/height", "")))
    except ValueError:
        raise DataError(f"{xml}: <size> needs numeric <width> and <height>") from None
    if width <= 0 or height <= 0:
        raise DataError(f"{xml}: image size {width}x{height} in <size> is not positive")
    return width, height


def _text(obj: ET.Element, path: str, xml: Path, k: int) -> str:
    value = (obj.findtext(path) or "").strip()
    if not value:
        raise DataError(f"{xml}: object {k} has no <{path}>")
    return value


def _number(obj: ET.Element, path: str, xml: Path, k: int, default: float | None = None) -> float:
    text = obj.findtext(path)
    if text is None and default is not None:
        return default
    try:
        return float((text or "").strip())
    except ValueError:
        raise DataError(f"{xml}: object {k} <{path}> is {text!r}, not a number") from None
