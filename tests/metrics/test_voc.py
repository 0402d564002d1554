"""VOC mAP on hand-made detections; every expected AP is worked out by hand in the comments."""

import numpy as np
import pytest

from slimdet.errors import ConfigError, DataError
from slimdet.metrics.voc import VOCMetric, pixel_iou

A, B, C = 0, 1, 2
NAMES = ["a", "b", "c"]


def batch(*images):
    """images: lists of (class, x1, y1, x2, y2, difficult) → an eval batch padded to 50 rows."""
    n = len(images)
    gt_bbox = np.zeros((n, 50, 4), dtype="float32")
    gt_class = np.zeros((n, 50), dtype="int32")
    difficult = np.zeros((n, 50), dtype="int32")
    for i, objects in enumerate(images):
        for j, (cls, x1, y1, x2, y2, diff) in enumerate(objects):
            gt_bbox[i, j] = (x1, y1, x2, y2)
            gt_class[i, j] = cls
            difficult[i, j] = diff
    return {"gt_bbox": gt_bbox, "gt_class": gt_class, "is_difficult": difficult, "im_id": np.arange(n) + 100}


def dets(*images):
    """images: lists of (class, score, x1, y1, x2, y2) in the order the model emitted them."""
    rows = [row for image in images for row in image]
    return {
        "bbox": np.array(rows, dtype="float32").reshape(-1, 6),
        "bbox_num": np.array([len(image) for image in images], dtype="int32"),
    }


def evaluate(gt, detections, **kwargs):
    metric = VOCMetric(NAMES, **kwargs)
    metric.process(gt, detections)
    return metric


OBJ1, OBJ2, OBJ3 = (10, 10, 29, 29), (50, 50, 69, 69), (10, 10, 29, 29)
FAR = (80, 80, 90, 90)

# Class a: 3 objects; in score order the detections are TP, FP (far away), TP, FP (duplicate of OBJ3).
# cumulative TP 1,1,2,2 / FP 0,1,1,2 → precision 1, 1/2, 2/3, 1/2; recall 1/3, 1/3, 2/3, 2/3.
# 11point: t = 0..0.3 → 1 (4 points); t = 0.4..0.6 → max(2/3, 1/2) = 2/3 (3 points); t ≥ 0.7 → 0.
#   AP = (4 + 3·2/3) / 11 = 6/11.
# integral: 1·(1/3) + (2/3)·(1/3) = 5/9.
# Class b: 1 object, found → AP 1. Class c: no objects → not in the mean.
GT_AB = batch([(A, *OBJ1, 0), (A, *OBJ2, 0), (B, 0, 0, 9, 9, 0)], [(A, *OBJ3, 0)])
DETS_AB = dets(
    [(A, 0.9, *OBJ1), (A, 0.8, *FAR), (B, 0.5, 0, 0, 9, 9)],
    [(A, 0.7, *OBJ3), (A, 0.6, *OBJ3)],
)


@pytest.mark.parametrize(("map_type", "ap_a"), [("11point", 6 / 11), ("integral", 5 / 9)])
def test_ap_of_hand_made_detections(map_type, ap_a):
    result = evaluate(GT_AB, DETS_AB, map_type=map_type).evaluate()
    assert result["AP/a"] == pytest.approx(ap_a)
    assert result["AP/b"] == pytest.approx(1.0)
    assert "AP/c" not in result
    assert result["mAP"] == pytest.approx((ap_a + 1.0) / 2)


def test_summary_counts_ground_truth_and_detections_per_class():
    summary = evaluate(GT_AB, DETS_AB).summary()
    rows = {row.name: row for row in summary.classes}
    assert (rows["a"].num_gt, rows["a"].num_det) == (3, 4)
    assert (rows["b"].num_gt, rows["b"].num_det) == (1, 1)
    assert (rows["c"].num_gt, rows["c"].num_det, rows["c"].ap) == (0, 0, None)
    assert summary.description == "mAP(0.50, 11point)"
    assert summary.to_dict()["metrics"]["mAP"] == pytest.approx(summary.metrics["mAP"])


def test_results_accumulate_over_batches_and_reset_forgets_them():
    metric = VOCMetric(NAMES)
    metric.process(batch([(A, *OBJ1, 0)]), dets([(A, 0.9, *FAR)]))
    metric.process(batch([(A, *OBJ1, 0)]), dets([(A, 0.8, *OBJ1)]))
    # 2 objects, detections FP (0.9) then TP (0.8): precision 0, 1/2 at recall 0, 1/2 → 11point:
    # t = 0..0.5 → 1/2 (6 points), t ≥ 0.6 → 0: AP = 3/11.
    assert metric.evaluate()["mAP"] == pytest.approx(3 / 11)
    metric.reset()
    assert metric.evaluate() == {"mAP": 0.0}


def test_duplicate_detection_of_one_object_is_a_false_positive():
    gt = batch([(A, *OBJ1, 0)])
    # TP then FP: precision 1, 1/2 at recall 1, 1 → 11point picks 1 everywhere; integral counts only
    # the first (recall does not grow on the second).
    assert evaluate(gt, dets([(A, 0.9, *OBJ1), (A, 0.8, *OBJ1)]), map_type="integral").evaluate()["mAP"] == 1.0
    # with 2 objects the duplicate costs: precision 1, 1/2, recall 1/2, 1/2 → integral 1/2.
    gt2 = batch([(A, *OBJ1, 0), (A, *OBJ2, 0)])
    got = evaluate(gt2, dets([(A, 0.9, *OBJ1), (A, 0.8, *OBJ1)]), map_type="integral").evaluate()
    assert got["mAP"] == pytest.approx(0.5)


def test_detections_are_matched_in_received_order_not_score_order():
    # The lower-scored detection arrives first and claims the object; the higher one becomes a FP.
    # Sorted by score: FP, TP → precision 0, 1/2 at recall 0, 1 → 11point 1/2, integral 1/2.
    gt = batch([(A, *OBJ1, 0)])
    detections = dets([(A, 0.3, *OBJ1), (A, 0.9, *OBJ1)])
    assert evaluate(gt, detections).evaluate()["mAP"] == pytest.approx(0.5)
    assert evaluate(gt, detections, map_type="integral").evaluate()["mAP"] == pytest.approx(0.5)


def test_class_with_only_difficult_objects_is_left_out_of_the_mean():
    gt = batch([(A, *OBJ1, 0), (B, *OBJ2, 1)])
    result = evaluate(gt, dets([(A, 0.9, *OBJ1), (B, 0.9, *FAR)])).evaluate()
    assert "AP/b" not in result
    assert result["mAP"] == 1.0


def test_detection_of_a_difficult_object_is_neither_true_nor_false_positive():
    gt = batch([(A, *OBJ1, 0), (A, *OBJ2, 1), (A, *FAR, 0)])
    # Two counted objects, OBJ1 found: precision 1 at recall 1/2 → 11point 6/11. Were the difficult
    # hit a FP the list would be FP, TP (AP 3/11); were it a TP, TP, TP (AP 1).
    assert evaluate(gt, dets([(A, 0.9, *OBJ2), (A, 0.8, *OBJ1)])).evaluate()["mAP"] == pytest.approx(6 / 11)


def test_equal_scores_keep_the_order_detections_arrived_in():
    # Two objects, one per image. Same score: the FP (first image) arrived before the TP (second)
    # and stays first after sorting: precision 0, 1/2 at recall 0, 1/2 → 11point 6·(1/2)/11 = 3/11
    # (TP first would give 6/11).
    metric = VOCMetric(["a"])
    metric.process(batch([(A, *OBJ1, 0)]), dets([(A, 0.5, *FAR)]))
    metric.process(batch([(A, *OBJ1, 0)]), dets([(A, 0.5, *OBJ1)]))
    assert metric.evaluate()["mAP"] == pytest.approx(3 / 11)


def test_evaluate_difficult_counts_difficult_objects():
    gt = batch([(A, *OBJ1, 0), (A, *OBJ2, 1)])
    # Both objects count; only one is found: precision 1 at recall 1/2 → 11point 6/11.
    result = evaluate(gt, dets([(A, 0.9, *OBJ1)]), evaluate_difficult=True).evaluate()
    assert result["mAP"] == pytest.approx(6 / 11)


def test_class_with_objects_but_no_detections_scores_zero():
    gt = batch([(A, *OBJ1, 0), (B, *OBJ2, 0)])
    result = evaluate(gt, dets([(A, 0.9, *OBJ1)])).evaluate()
    assert result["AP/b"] == 0.0
    assert result["mAP"] == pytest.approx(0.5)


def test_iou_of_exactly_half_is_not_a_match():
    # Inclusive corners: gt 10×10 px = 100, prediction 20×10 = 200, overlap 100 → IoU 100/200 = 0.5.
    gt = batch([(A, 0, 0, 9, 9, 0)])
    assert evaluate(gt, dets([(A, 0.9, 0, 0, 19, 9)])).evaluate()["mAP"] == 0.0
    # One pixel narrower: 100 / 190 > 0.5 → a match.
    assert evaluate(gt, dets([(A, 0.9, 0, 0, 18, 9)])).evaluate()["mAP"] == 1.0


def test_iou_counts_pixels_inclusively():
    # gt (0,0)-(1,1) is 2×2 px, prediction (0,0)-(2,1) is 3×2 px: IoU 4/6, a match; without the +1
    # the areas would be 1 and 2 and the IoU 0.5, not a match.
    assert pixel_iou(np.array([[0.0, 0, 2, 1]]), np.array([[0.0, 0, 1, 1]]))[0, 0] == pytest.approx(4 / 6)
    assert evaluate(batch([(A, 0, 0, 1, 1, 0)]), dets([(A, 0.9, 0, 0, 2, 1)])).evaluate()["mAP"] == 1.0


def test_ground_truth_after_the_first_padding_row_is_ignored():
    gt = batch([(A, *OBJ1, 0), (A, 0, 0, 0, 0, 0), (A, *OBJ2, 0)])
    summary = evaluate(gt, dets([(A, 0.9, *OBJ1)])).summary()
    assert summary.classes[A].num_gt == 1
    assert summary.metrics["mAP"] == 1.0


def test_detection_of_the_wrong_class_is_a_false_positive():
    gt = batch([(A, *OBJ1, 0), (B, *OBJ2, 0)])
    result = evaluate(gt, dets([(B, 0.9, *OBJ1), (A, 0.8, *OBJ1)])).evaluate()
    assert result["AP/a"] == 1.0
    assert result["AP/b"] == 0.0


def test_records_are_coco_style_with_inclusive_widths():
    metric = evaluate(batch([], [(A, *OBJ1, 0)]), dets([], [(B, 0.25, 10, 20, 29, 59)]))
    assert metric.records() == [{"image_id": 101, "category_id": B, "bbox": [10.0, 20.0, 20.0, 40.0], "score": 0.25}]


def test_detections_that_do_not_fit_the_batch_are_rejected():
    with pytest.raises(DataError, match="bbox_num"):
        evaluate(batch([(A, *OBJ1, 0)]), {"bbox": np.zeros((2, 6)), "bbox_num": np.array([1])})


def test_class_id_beyond_the_class_names_is_rejected():
    with pytest.raises(DataError, match="outside the 3 class names"):
        evaluate(batch([(A, *OBJ1, 0)]), dets([(7, 0.9, *OBJ1)]))


def test_unknown_map_type_suggests_the_close_one():
    with pytest.raises(ConfigError, match="did you mean '11point'"):
        VOCMetric(NAMES, map_type="11points")
