"""Flip, expand, crop and resize keep every box on the pixels of its object."""

from __future__ import annotations

import numpy as np
import pytest

from slimdet.data.transforms import NormalizeBox, RandomCrop, RandomExpand, RandomFlipImage, ResizeImage
from slimdet.errors import ConfigError

from .painted import COLOURS, box_mask, colour_mask, iou, painted_sample


def _assert_boxes_on_their_pixels(sample: dict) -> None:
    image = sample["image"]
    assert image.shape[:2] == (sample["h"], sample["w"])
    for box, cls in zip(sample["gt_bbox"], sample["gt_class"]):
        np.testing.assert_array_equal(colour_mask(image, COLOURS[cls]), box_mask(image.shape[:2], box))


def test_flip_mirrors_boxes_with_their_pixels():
    sample = RandomFlipImage(prob=1.0)(painted_sample(), np.random.default_rng(0))
    _assert_boxes_on_their_pixels(sample)
    np.testing.assert_array_equal(sample["gt_bbox"][0], [80 - 1 - 24, 10, 80 - 1 - 5, 29])


def test_flip_of_normalised_boxes_mirrors_them_in_unit_coordinates():
    sample = painted_sample()
    sample = NormalizeBox()(sample, None)
    before = sample["gt_bbox"].copy()
    sample = RandomFlipImage(prob=1.0, is_normalized=True)(sample, np.random.default_rng(0))
    np.testing.assert_allclose(sample["gt_bbox"][:, [0, 2]], 1 - before[:, [2, 0]])
    for box, cls in zip(sample["gt_bbox"] * [80, 60, 80, 60], sample["gt_class"]):
        assert iou(colour_mask(sample["image"], COLOURS[cls]), box_mask((60, 80), box)) > 0.9


def test_flip_probability_zero_changes_nothing():
    original = painted_sample()
    sample = RandomFlipImage(prob=0.0)(painted_sample(), np.random.default_rng(0))
    np.testing.assert_array_equal(sample["image"], original["image"])
    np.testing.assert_array_equal(sample["gt_bbox"], original["gt_bbox"])


@pytest.mark.parametrize("seed", range(5))
def test_expand_moves_boxes_with_the_image_onto_a_filled_canvas(seed):
    sample = RandomExpand(ratio=3.0, prob=0.0, fill_value=[7, 8, 9])(painted_sample(), np.random.default_rng(seed))
    h, w = sample["image"].shape[:2]
    assert h > 60 and w > 80 and h <= 180 and w <= 240
    _assert_boxes_on_their_pixels(sample)
    assert np.all(sample["image"][0, 0] == [7, 8, 9]) or np.all(sample["image"][-1, -1] == [7, 8, 9])


def test_expand_is_skipped_with_probability_prob():
    sample = RandomExpand(prob=1.0)(painted_sample(), np.random.default_rng(0))
    assert sample["image"].shape == (60, 80, 3)


def test_crop_keeps_the_boxes_whose_centre_is_inside_clipped_to_the_region():
    cropped = 0
    for seed in range(40):
        sample = RandomCrop()(painted_sample(), np.random.default_rng(seed))
        if sample["image"].shape[:2] == (60, 80):
            continue
        cropped += 1
        assert len(sample["gt_bbox"]) >= 1
        _assert_boxes_on_their_pixels(sample)
    assert cropped >= 10  # most draws crop; allow_no_crop makes some leave the image alone


def test_crop_keeps_every_per_box_field_aligned():
    for seed in range(40):
        sample = painted_sample()
        sample["gt_score"] = np.array([0.25, 0.75], np.float32)
        sample["difficult"] = np.array([1, 0], np.int32)
        sample = RandomCrop()(sample, np.random.default_rng(seed))
        if len(sample["gt_class"]) == 1:
            cls = int(sample["gt_class"][0])
            assert sample["gt_score"].tolist() == [[0.25, 0.75][cls]]
            assert sample["difficult"].tolist() == [[1, 0][cls]]
            return
    pytest.fail("no crop dropped a box in 40 draws")


def test_same_generator_state_gives_the_same_crop():
    a = RandomCrop()(painted_sample(), np.random.default_rng(11))
    b = RandomCrop()(painted_sample(), np.random.default_rng(11))
    np.testing.assert_array_equal(a["image"], b["image"])
    np.testing.assert_array_equal(a["gt_bbox"], b["gt_bbox"])


def test_crop_without_boxes_returns_the_sample_untouched():
    sample = painted_sample(boxes=())
    assert RandomCrop()(sample, np.random.default_rng(0))["image"].shape == (60, 80, 3)


def test_resize_leaves_boxes_in_the_original_frame_where_they_still_match_the_pixels():
    sample = ResizeImage(target_size=120, interp=0)(painted_sample(), np.random.default_rng(0))
    assert sample["image"].shape == (120, 120, 3)
    assert (sample["h"], sample["w"]) == (60, 80)  # the frame the boxes (and eval metrics) refer to
    scale = np.array([120 / 80, 120 / 60, 120 / 80, 120 / 60])
    for box, cls in zip(sample["gt_bbox"], sample["gt_class"]):
        on_resized = np.concatenate([box[:2], box[2:] + 1]) * scale - [0, 0, 1, 1]
        assert iou(colour_mask(sample["image"], COLOURS[cls]), box_mask((120, 120), on_resized)) > 0.9
    normalised = NormalizeBox()(sample, None)["gt_bbox"]
    np.testing.assert_allclose(normalised[0], [5 / 80, 10 / 60, 24 / 80, 29 / 60])


def test_resize_with_max_size_keeps_the_aspect_ratio():
    sample = ResizeImage(target_size=30, max_size=100)(painted_sample(), np.random.default_rng(0))
    assert sample["image"].shape[:2] == (30, 40)
    sample = ResizeImage(target_size=90, max_size=100)(painted_sample(), np.random.default_rng(0))
    assert sample["image"].shape[:2] == (75, 100)  # the long side hit max_size


@pytest.mark.parametrize(
    "op", [RandomFlipImage(prob=1.0), RandomExpand(prob=0.0), RandomCrop(thresholds=[0.0], allow_no_crop=False)]
)
def test_moving_pixels_after_a_resize_is_refused(op):
    sample = ResizeImage(target_size=100)(painted_sample(), np.random.default_rng(0))
    with pytest.raises(ConfigError, match="after a resize"):
        op(sample, np.random.default_rng(0))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: RandomExpand(ratio=1.0), "ratio must be larger than 1.01"),
        (lambda: RandomCrop(scaling=[0.5, 2.0]), "scaling"),
        (lambda: RandomFlipImage(prob=2.0), "prob"),
        (lambda: ResizeImage(target_size=0), "target_size"),
    ],
)
def test_invalid_parameters_are_config_errors(make, message):
    with pytest.raises(ConfigError, match=message):
        make()
