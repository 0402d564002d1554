"""RandomShape: one size per batch, boxes still on their pixels; sample ops listed as batch ops."""

from __future__ import annotations

import numpy as np
import pytest

from slimdet.data.transforms import NormalizeBox, Permute, PerSample, RandomFlipImage, RandomShape
from slimdet.errors import ConfigError

from .painted import COLOURS, box_mask, colour_mask, iou, painted_sample


def test_every_image_of_the_batch_gets_the_same_random_size():
    sizes = set()
    for seed in range(12):
        samples = [painted_sample(h=60, w=80), painted_sample(h=50, w=50)]
        out = RandomShape(sizes=[64, 96, 128], random_inter=True)(samples, np.random.default_rng(seed))
        shapes = {s["image"].shape for s in out}
        assert len(shapes) == 1
        sizes |= {shape[0] for shape in shapes}
    assert sizes == {64, 96, 128}


def test_normalised_boxes_still_cover_their_pixels_after_reshaping():
    sample = NormalizeBox()(painted_sample(h=60, w=80), None)
    (out,) = RandomShape(sizes=[128])([sample], np.random.default_rng(0))
    for box, cls in zip(out["gt_bbox"], out["gt_class"]):
        # inclusive pixel box [x1, x2] of the frame spans [x1, x2 + 1) continuously
        frame_box = box * [80, 60, 80, 60] + [0, 0, 1, 1]
        on_image = frame_box * [128 / 80, 128 / 60, 128 / 80, 128 / 60] - [0, 0, 1, 1]
        assert iou(colour_mask(out["image"], COLOURS[cls]), box_mask((128, 128), on_image)) > 0.9


def test_without_random_inter_nearest_neighbour_creates_no_new_colours():
    sample = painted_sample()
    (out,) = RandomShape(sizes=[97], random_inter=False)([sample], np.random.default_rng(0))
    colours = {tuple(c) for c in out["image"].reshape(-1, 3)}
    assert colours <= {(0, 0, 0), *COLOURS}


def test_reshaping_a_chw_image_is_refused():
    sample = Permute()(painted_sample(), None)
    with pytest.raises(ConfigError, match="before Permute"):
        RandomShape(sizes=[64])([sample], np.random.default_rng(0))


def test_sample_op_in_batch_transforms_runs_on_each_sample_with_the_batch_generator():
    samples = [painted_sample(), painted_sample()]
    out = PerSample(RandomFlipImage(prob=1.0))(samples, np.random.default_rng(0))
    assert all(s["gt_bbox"][0, 0] == 80 - 1 - 24 for s in out)
