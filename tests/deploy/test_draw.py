"""Drawing: boxes on a copy, colours per class, atomic saves."""

import cv2
import numpy as np

from slimdet.deploy.draw import MIN_DRAWN_SIDE, class_color, draw_boxes, drawn_scale, save_image


def test_draws_on_a_copy_in_the_class_colour():
    rgb = np.zeros((MIN_DRAWN_SIDE, 600, 3), np.uint8)
    rows = np.array([[1, 0.9, 100, 200, 400, 450]], np.float32)
    bgr = draw_boxes(rgb, rows, ["a", "b"])
    assert not rgb.any() and bgr.shape == rgb.shape  # input untouched; large enough as it is
    assert tuple(int(v) for v in bgr[325, 100]) == class_color(1)  # left edge, below the caption
    assert tuple(int(v) for v in bgr[450, 250]) == class_color(1)  # bottom edge
    assert not bgr[325, 250].any()  # inside the box stays as it was


def test_small_pictures_are_enlarged_by_a_whole_factor_with_their_boxes():
    assert (drawn_scale((100, 120)), drawn_scale((96, 96)), drawn_scale((MIN_DRAWN_SIDE, 2000))) == (5, 5, 1)
    rgb = np.zeros((100, 120, 3), np.uint8)
    bgr = draw_boxes(rgb, np.array([[1, 0.9, 20, 40, 80, 90]], np.float32), ["a", "b"])
    assert bgr.shape == (500, 600, 3)
    assert tuple(int(v) for v in bgr[325, 100]) == class_color(1)  # left edge at x = 20 × 5
    assert tuple(int(v) for v in bgr[450, 250]) == class_color(1)  # bottom edge at y = 90 × 5
    assert not bgr[325, 250].any()


def test_classes_get_distinct_colours():
    colours = {class_color(i) for i in range(20)}
    assert len(colours) == 20


def test_save_image_writes_a_readable_file_and_no_temp(tmp_path):
    bgr = np.full((8, 9, 3), 77, np.uint8)
    path = save_image(bgr, tmp_path / "x.png")
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]
    np.testing.assert_array_equal(cv2.imread(str(path)), bgr)
