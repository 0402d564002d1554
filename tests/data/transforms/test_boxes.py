"""NormalizeBox, PadBox and BboxXYXY2XYWH."""

from __future__ import annotations

import numpy as np

from slimdet.data.transforms import BboxXYXY2XYWH, NormalizeBox, PadBox

from .painted import painted_sample


def test_normalize_divides_by_the_frame_size():
    sample = NormalizeBox()(painted_sample(h=60, w=80, boxes=((8, 6, 40, 30),)), None)
    np.testing.assert_allclose(sample["gt_bbox"], [[0.1, 0.1, 0.5, 0.5]])


def test_pad_fills_every_per_box_field_with_zeros_and_truncates_extra_boxes():
    sample = PadBox(num_max_boxes=4)(painted_sample(boxes=((1, 1, 5, 5), (6, 6, 9, 9))), None)
    assert sample["gt_bbox"].shape == (4, 4) and sample["gt_bbox"].dtype == np.float32
    np.testing.assert_array_equal(sample["gt_bbox"][2:], 0)
    assert sample["gt_class"].tolist() == [0, 1, 0, 0]
    assert sample["gt_score"].tolist() == [1, 1, 0, 0]
    assert sample["difficult"].tolist() == [0, 0, 0, 0]
    truncated = PadBox(num_max_boxes=1)(painted_sample(boxes=((1, 1, 5, 5), (6, 6, 9, 9))), None)
    assert truncated["gt_bbox"].tolist() == [[1, 1, 5, 5]] and truncated["gt_class"].tolist() == [0]


def test_xyxy_to_centre_size_and_padding_stays_zero():
    sample = {"gt_bbox": np.array([[0.1, 0.2, 0.5, 0.6], [0, 0, 0, 0]], np.float32)}
    out = BboxXYXY2XYWH()(sample, None)["gt_bbox"]
    np.testing.assert_allclose(out, [[0.3, 0.4, 0.4, 0.4], [0, 0, 0, 0]], atol=1e-7)
