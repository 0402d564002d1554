"""COCODataSet: categories sorted by id, boxes to corners, crowd marked difficult, errors naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from slimdet.data.datasets import COCODataSet
from slimdet.errors import DataError


def write_coco(root: Path) -> Path:
    (root / "images").mkdir(parents=True)
    for name in ("x.jpg", "y.jpg", "z.jpg"):
        cv2.imwrite(str(root / "images" / name), np.zeros((30, 40, 3), np.uint8))
    data = {
        "images": [
            {"id": 11, "file_name": "x.jpg", "width": 40, "height": 30},
            {"id": 12, "file_name": "y.jpg", "width": 40, "height": 30},
            {"id": 13, "file_name": "z.jpg", "width": 40, "height": 30},
        ],
        "categories": [{"id": 7, "name": "dog"}, {"id": 3, "name": "cat"}],
        "annotations": [
            {"id": 1, "image_id": 11, "category_id": 7, "bbox": [2, 3, 10, 5], "iscrowd": 0},
            {"id": 2, "image_id": 11, "category_id": 3, "bbox": [30, 20, 20, 20], "iscrowd": 1},
            {"id": 3, "image_id": 12, "category_id": 3, "bbox": [5, 5, 0, 4], "iscrowd": 0},
        ],
    }
    (root / "instances.json").write_text(json.dumps(data))
    return root


def test_reads_boxes_as_corners_with_classes_in_category_id_order(tmp_path):
    root = write_coco(tmp_path / "coco")
    dataset = COCODataSet(str(root), "instances.json", image_dir="images", with_background=False)
    assert dataset.class_names == ["cat", "dog"] and dataset.category_ids == [3, 7]
    assert [r.im_id for r in dataset.records] == [11]  # 12 lost its only (zero-width) box, 13 has none
    record = dataset.records[0]
    np.testing.assert_array_equal(record.gt_bbox, [[2, 3, 12, 8], [30, 20, 39, 29]])
    np.testing.assert_array_equal(record.gt_class, [1, 0])
    np.testing.assert_array_equal(record.difficult, [0, 1])  # the crowd box
    assert any("has no area; dropped" in w for w in dataset.warnings)


def test_eval_keeps_images_without_boxes(tmp_path):
    root = write_coco(tmp_path / "coco")
    dataset = COCODataSet(str(root), "instances.json", image_dir="images", skip_empty=False)
    assert [r.im_id for r in dataset.records] == [11, 12, 13]


def test_missing_image_and_bad_json_name_the_file(tmp_path):
    root = write_coco(tmp_path / "coco")
    (root / "images" / "y.jpg").unlink()
    with pytest.raises(DataError, match=r"image .*y\.jpg not found \(image id 12"):
        COCODataSet(str(root), "instances.json", image_dir="images")
    (root / "instances.json").write_text("{not json")
    with pytest.raises(DataError, match=r"instances\.json: not valid JSON"):
        COCODataSet(str(root), "instances.json", image_dir="images")
    (root / "instances.json").write_text(json.dumps({"images": []}))
    with pytest.raises(DataError, match=r"not a COCO instances file \(no annotations, categories\)"):
        COCODataSet(str(root), "instances.json", image_dir="images")
