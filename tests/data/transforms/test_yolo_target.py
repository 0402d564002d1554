"""Gt2YoloTarget against targets worked out by hand (legacy anchors, 128 × 128 input, 3 classes).

Grids: 128/32 = 4 (level 0, anchors 6-8), 128/16 = 8 (level 1, anchors 3-5), 128/8 = 16 (level 2, 0-2).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from slimdet.data.transforms import Gt2YoloTarget
from slimdet.errors import ConfigError

ANCHORS = [[10, 13], [16, 30], [33, 23], [30, 61], [62, 45], [59, 119], [116, 90], [156, 198], [373, 326]]
MASKS = [[6, 7, 8], [3, 4, 5], [0, 1, 2]]


def _targets(boxes, classes, scores, iou_thresh=1.0):
    op = Gt2YoloTarget(ANCHORS, MASKS, [32, 16, 8], num_classes=3, iou_thresh=iou_thresh)
    sample = {
        "image": np.zeros((3, 128, 128), np.float32),
        "channel_first": True,
        "gt_bbox": np.array(boxes, np.float32).reshape(-1, 4),
        "gt_class": np.array(classes, np.int32),
        "gt_score": np.array(scores, np.float32),
    }
    (out,) = op([sample], np.random.default_rng(0))
    return out["target0"], out["target1"], out["target2"]


def _nonzero_cells(target):
    return sorted({(n, j, i) for n, _, j, i in zip(*np.nonzero(target))})


def test_shapes_are_anchors_by_channels_by_grid():
    t0, t1, t2 = _targets([], [], [])
    assert t0.shape == (3, 9, 4, 4) and t1.shape == (3, 9, 8, 8) and t2.shape == (3, 9, 16, 16)
    assert t0.dtype == np.float32
    assert not (t0.any() or t1.any() or t2.any())


def test_small_box_goes_to_its_best_anchor_cell_with_hand_computed_values():
    # 16 x 32 px box centred at (0.3, 0.6). IoU with anchor 1 (16x30): 480 / 512 = 0.9375, the best
    # (anchor 2, 33x23: 368 / 903 = 0.41; anchor 0: 130 / 512 = 0.25). Anchor 1 is on level 2 at n = 1.
    t0, t1, t2 = _targets([[0.3, 0.6, 0.125, 0.25]], [2], [0.7])
    assert not t0.any() and not t1.any()
    assert _nonzero_cells(t2) == [(1, 9, 4)]  # gj = int(0.6 * 16) = 9, gi = int(0.3 * 16) = 4
    cell = t2[1, :, 9, 4]
    np.testing.assert_allclose(cell[0], 0.3 * 16 - 4, atol=1e-6)  # tx = 0.8
    np.testing.assert_allclose(cell[1], 0.6 * 16 - 9, atol=1e-6)  # ty = 0.6
    np.testing.assert_allclose(cell[2], math.log(16 / 16), atol=1e-6)  # tw
    np.testing.assert_allclose(cell[3], math.log(32 / 30), atol=1e-6)  # th
    np.testing.assert_allclose(cell[4], 2 - 0.125 * 0.25, atol=1e-6)  # scale weight 1.96875
    np.testing.assert_allclose(cell[5], 0.7, atol=1e-6)  # gt_score
    np.testing.assert_array_equal(cell[6:], [0, 0, 1])  # one-hot class 2


def test_large_box_goes_to_the_coarsest_level():
    # 115.2 x 96 px: anchor 6 (116x90) has IoU 10368 / 11131.2 = 0.93; level 0, n = 0, cell (2, 2).
    t0, t1, t2 = _targets([[0.5, 0.5, 0.9, 0.75]], [0], [1.0])
    assert not t1.any() and not t2.any()
    assert _nonzero_cells(t0) == [(0, 2, 2)]
    np.testing.assert_allclose(
        t0[0, :, 2, 2],
        [0, 0, math.log(115.2 / 116), math.log(96 / 90), 2 - 0.9 * 0.75, 1.0, 1, 0, 0],
        atol=1e-6,
    )


def test_a_later_box_on_the_same_anchor_and_cell_replaces_the_earlier_one_entirely():
    _, _, t2 = _targets([[0.3, 0.6, 0.125, 0.25], [0.31, 0.61, 0.125, 0.23]], [2, 0], [1.0, 1.0])
    assert _nonzero_cells(t2) == [(1, 9, 4)]
    cell = t2[1, :, 9, 4]
    np.testing.assert_allclose(cell[3], math.log(0.23 * 128 / 30), atol=1e-6)
    np.testing.assert_array_equal(cell[6:], [1, 0, 0])  # no stale class bit from the first box


def test_iou_thresh_also_assigns_other_anchors_of_the_level_above_it():
    # IoUs with level-2 anchors: 0.25 (anchor 0), 0.9375 (1, best), 0.41 (2) -> with 0.3, anchor 2 too.
    _, t1, t2 = _targets([[0.3, 0.6, 0.125, 0.25]], [1], [1.0], iou_thresh=0.3)
    assert not t1.any()  # anchor 3 (30x61): 512 / 1830 = 0.28, below the threshold
    assert _nonzero_cells(t2) == [(1, 9, 4), (2, 9, 4)]
    np.testing.assert_allclose(t2[2, 2:4, 9, 4], [math.log(16 / 33), math.log(32 / 23)], atol=1e-6)
    np.testing.assert_array_equal(t2[2, 6:, 9, 4], [0, 1, 0])


def test_padding_rows_and_zero_score_boxes_get_no_target():
    targets = _targets([[0.3, 0.6, 0.125, 0.25], [0, 0, 0, 0]], [1, 0], [0.0, 0.0])
    assert not any(t.any() for t in targets)


def test_centre_on_the_far_edge_goes_to_the_last_cell():
    _, _, t2 = _targets([[1.0, 1.0, 0.125, 0.25]], [0], [1.0])
    assert _nonzero_cells(t2) == [(1, 15, 15)]
    np.testing.assert_allclose(t2[1, :2, 15, 15], [1.0, 1.0])


def test_class_beyond_num_classes_is_a_config_error():
    with pytest.raises(ConfigError, match="num_classes is 3"):
        _targets([[0.3, 0.6, 0.125, 0.25]], [3], [1.0])


def test_masks_and_ratios_must_pair_up():
    with pytest.raises(ConfigError, match="same length"):
        Gt2YoloTarget(ANCHORS, MASKS, [32, 16])
