"""Drawing: boxes on a copy, colours per class, atomic saves."""

import cv2
import numpy as np

from slimdet.deploy.draw import class_color, draw_boxes, save_image


def test_draws_on_a_copy_in_the_class_colour():
    rgb = np.zeros((100, 120, 3), np.uint8)
    rows = np.array([[1, 0.9, 20, 40, 80, 90]], np.float32)
    bgr = draw_boxes(rgb, rows, ["a", "b"])
    assert not rgb.any()  # input untouched
    assert tuple(int(v) for v in bgr[65, 20]) == class_color(1)  # left edge, below the caption
    assert tuple(int(v) for v in bgr[90, 50]) == class_color(1)  # bottom edge
    assert not bgr[65, 50].any()  # inside the box stays as it was


def test_classes_get_distinct_colours():
    colours = {class_color(i) for i in range(20)}
    assert len(colours) == 20


def test_save_image_writes_a_readable_file_and_no_temp(tmp_path):
    bgr = np.full((8, 9, 3), 77, np.uint8)
    path = save_image(bgr, tmp_path / "x.png")
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]
    np.testing.assert_array_equal(cv2.imread(str(path)), bgr)
