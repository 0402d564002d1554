"""Parity comparison: order-free, per image, with pixel and score tolerances."""

import numpy as np

from slimdet.deploy.parity import compare_detections
from slimdet.deploy.predictor import Detections

ROWS = np.array(
    [
        [0, 0.9, 10, 10, 50, 50],
        [0, 0.4, 12, 11, 40, 60],
        [2, 0.7, 60, 5, 90, 30],
        [1, 0.8, 5, 5, 20, 20],  # second image
    ],
    dtype=np.float32,
)
REFERENCE = Detections(bbox=ROWS, bbox_num=np.array([3, 1], np.int32))


def _compare(candidate: Detections):
    return compare_detections([(REFERENCE, candidate)], reference="a", candidate="b")


def test_identical_outputs_agree():
    report = _compare(REFERENCE)
    assert report.ok
    assert report.images == 2 and report.detections == 4
    assert report.max_box_diff == 0.0 and report.max_score_diff == 0.0


def test_row_order_within_an_image_does_not_matter():
    by_score = ROWS[[0, 2, 1, 3]]  # onnxruntime's order: by score, not grouped by class
    assert _compare(Detections(bbox=by_score, bbox_num=REFERENCE.bbox_num)).ok


def test_a_box_moved_beyond_a_thousandth_of_a_pixel_fails():
    moved = ROWS.copy()
    moved[2, 4] += 0.01
    report = _compare(Detections(bbox=moved, bbox_num=REFERENCE.bbox_num))
    assert not report.ok
    assert abs(report.max_box_diff - 0.01) < 1e-4


def test_a_score_change_beyond_tolerance_fails():
    changed = ROWS.copy()
    changed[3, 1] -= 1e-4
    report = _compare(Detections(bbox=changed, bbox_num=REFERENCE.bbox_num))
    assert not report.ok and report.max_score_diff > 1e-5


def test_a_missing_detection_is_reported_for_its_image():
    fewer = Detections(bbox=ROWS[[0, 1, 3]], bbox_num=np.array([2, 1], np.int32))
    report = _compare(fewer)
    assert not report.ok
    assert report.count_mismatches == (0,)


def test_a_changed_class_fails():
    relabelled = ROWS.copy()
    relabelled[3, 0] = 2
    report = _compare(Detections(bbox=relabelled, bbox_num=REFERENCE.bbox_num))
    assert report.class_mismatches == (1,)
    assert not report.ok
