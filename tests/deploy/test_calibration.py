"""Calibration images: spread over the TrainReader's data, prepared like deployment."""

import numpy as np
import pytest

from slimdet.config import load_config
from slimdet.deploy.calibration import calibration_feeds, calibration_images
from slimdet.deploy.infer_cfg import InferConfig
from slimdet.errors import DataError


def test_images_are_spread_over_the_training_set_and_prepared_at_the_export_size(tiny_train_config, synthetic_voc):
    cfg = load_config(tiny_train_config).to_dict()
    train = [synthetic_voc / line.split()[0] for line in (synthetic_voc / "trainval.txt").read_text().splitlines()]
    picked = calibration_images(cfg, 4)
    assert len(set(picked)) == 4 and picked[0] == train[0] and picked[-1] == train[-1]
    assert calibration_images(cfg, 1000) == train  # never more than there are

    feeds = calibration_feeds(picked[:2], InferConfig.from_config(cfg, ["circle", "square", "triangle"]))
    assert [feed["image"].shape for feed in feeds] == [(1, 3, 64, 64)] * 2
    assert feeds[0]["im_size"].dtype == np.int32 and feeds[0]["im_size"].tolist() == [[96, 96]]


def test_zero_images_is_refused(tiny_train_config):
    with pytest.raises(DataError, match="at least 1"):
        calibration_images(load_config(tiny_train_config).to_dict(), 0)
