"""COCO mAP through pycocotools on a tiny hand-written annotation file."""

import json
import sys

import numpy as np
import pytest

from slimdet.errors import DataError, SlimdetError
from slimdet.metrics.coco import COCOMetric

pytest.importorskip("pycocotools")

# Two images; category ids 1 ("cat") and 3 ("dog") are not contiguous, as in COCO.
CLSID2CATID = {0: 1, 1: 3}
OBJECTS = {  # image id -> [(category id, [x, y, w, h])]
    7: [(1, [10, 10, 30, 20]), (3, [50, 40, 40, 40])],
    9: [(3, [5, 5, 60, 50])],
}


@pytest.fixture
def anno_path(tmp_path):
    images = [{"id": im_id, "width": 100, "height": 100, "file_name": f"{im_id}.jpg"} for im_id in OBJECTS]
    annotations = [
        {"id": k + 1, "image_id": im_id, "category_id": cat, "bbox": box, "area": box[2] * box[3], "iscrowd": 0}
        for k, (im_id, cat, box) in enumerate((i, c, b) for i, objs in OBJECTS.items() for c, b in objs)
    ]
    categories = [{"id": 1, "name": "cat"}, {"id": 3, "name": "dog"}]
    path = tmp_path / "instances.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return path


def detections_for(im_ids, skip_category=None):
    """Model-style detections reproducing every object: inclusive corners, x2 = x + w − 1."""
    catid2clsid = {v: k for k, v in CLSID2CATID.items()}
    rows, counts = [], []
    for im_id in im_ids:
        image_rows = [
            (catid2clsid[cat], 0.9, x, y, x + w - 1, y + h - 1)
            for cat, (x, y, w, h) in OBJECTS[im_id]
            if cat != skip_category
        ]
        rows += image_rows
        counts.append(len(image_rows))
    return {"bbox": np.array(rows, dtype="float32").reshape(-1, 6), "bbox_num": np.array(counts)}


def run(anno_path, detections):
    metric = COCOMetric(anno_path, CLSID2CATID)
    metric.process({"im_id": np.array([7, 9])}, detections)
    return metric


def test_perfect_detections_score_one(anno_path, capsys):
    result = run(anno_path, detections_for([7, 9])).evaluate()
    assert result["mAP"] == pytest.approx(1.0)
    assert result["AP50"] == pytest.approx(1.0)
    assert result["AP/cat"] == pytest.approx(1.0)
    assert result["AP/dog"] == pytest.approx(1.0)
    assert capsys.readouterr().out == ""  # pycocotools' prints are swallowed


def test_category_without_detections_scores_zero(anno_path):
    summary = run(anno_path, detections_for([7, 9], skip_category=3)).summary()
    rows = {row.name: row for row in summary.classes}
    assert rows["dog"].ap == 0.0
    assert (rows["dog"].num_gt, rows["dog"].num_det) == (2, 0)
    assert rows["cat"].ap == pytest.approx(1.0)
    assert (rows["cat"].num_gt, rows["cat"].num_det) == (1, 1)
    assert summary.metrics["mAP"] == pytest.approx(0.5)


def test_no_detections_at_all_give_zero(anno_path):
    empty = {"bbox": np.zeros((0, 6), dtype="float32"), "bbox_num": np.array([0, 0])}
    result = run(anno_path, empty).evaluate()
    assert result["mAP"] == 0.0
    assert result["AP/cat"] == 0.0


def test_records_use_the_annotation_category_ids(anno_path):
    records = run(anno_path, detections_for([7, 9])).records()
    assert records[1] == {
        "image_id": 7,
        "category_id": 3,
        "bbox": [50.0, 40.0, 40.0, 40.0],
        "score": pytest.approx(0.9),
    }


def test_unknown_image_ids_are_reported(anno_path):
    metric = COCOMetric(anno_path, CLSID2CATID)
    metric.process({"im_id": np.array([8])}, {"bbox": np.zeros((0, 6)), "bbox_num": np.array([0])})
    with pytest.raises(DataError, match=r"image ids \[8\]"):
        metric.evaluate()


def test_missing_annotation_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="not found"):
        COCOMetric(tmp_path / "nope.json", CLSID2CATID)


def test_missing_pycocotools_names_the_extra(anno_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pycocotools.coco", None)  # makes the import fail
    with pytest.raises(SlimdetError, match=r"slimdet\[coco\]"):
        COCOMetric(anno_path, CLSID2CATID)
