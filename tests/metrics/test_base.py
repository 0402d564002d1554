"""The shared detection format: per-image splitting, the detection log and the result record."""

import json

import numpy as np
import pytest

from slimdet.errors import DataError
from slimdet.metrics.base import ClassAP, DetectionLog, EvalResult, split_per_image


def test_split_per_image_follows_bbox_num_including_empty_images():
    rows = np.arange(18, dtype="float32").reshape(3, 6)
    parts = split_per_image({"bbox": rows, "bbox_num": np.array([2, 0, 1])}, 3)
    assert [len(part) for part in parts] == [2, 0, 1]
    np.testing.assert_array_equal(parts[2], rows[2:])


def test_split_per_image_rejects_counts_that_do_not_add_up():
    with pytest.raises(DataError):
        split_per_image({"bbox": np.zeros((3, 6)), "bbox_num": np.array([1, 1])}, 2)


def test_detection_log_remembers_images_without_detections():
    log = DetectionLog()
    log.add(np.array([[5], [6]]), [np.zeros((0, 6)), np.array([[2, 0.5, 0, 0, 9, 4]])])
    assert log.image_ids == [5, 6]
    assert log.records({2: 17}) == [{"image_id": 6, "category_id": 17, "bbox": [0.0, 0.0, 10.0, 5.0], "score": 0.5}]
    log.clear()
    assert log.image_ids == [] and log.records() == []


def test_eval_result_to_dict_is_plain_json():
    result = EvalResult("VOC", "mAP(0.50, 11point)", {"mAP": 0.5}, (ClassAP("a", 0.5, 2, 3), ClassAP("b", None, 0, 1)))
    data = json.loads(json.dumps(result.to_dict()))
    assert data["classes"][1] == {"name": "b", "ap": None, "num_gt": 0, "num_det": 1}
    assert data["metrics"] == {"mAP": 0.5}


def test_score_starts_afresh_and_reports_each_steps_images():
    from slimdet.metrics.base import score

    class Recorder:
        def __init__(self):
            self.seen = ["stale"]

        def reset(self):
            self.seen = []

        def process(self, truth, detections):
            self.seen.append((truth["im_id"].tolist(), detections["bbox_num"].tolist()))

    recorder, steps = Recorder(), []
    pairs = [
        ({"im_id": np.array([1, 2])}, {"bbox_num": np.array([0, 3])}),
        ({"im_id": np.array([3])}, {"bbox_num": np.array([1])}),
    ]
    score(recorder, pairs, on_step=steps.append)
    assert recorder.seen == [([1, 2], [0, 3]), ([3], [1])] and steps == [2, 1]
