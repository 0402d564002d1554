"""Calibration images for post-training int8: a few training images, prepared as the deployed model sees them.

Quantization fixes each activation's int8 range from what the float model computes on these images, so
they go through the export's own ``infer_cfg.yml`` preprocessing (not the training augmentation): the
ranges are those of deployment. The images are spread evenly over the TrainReader's dataset, so a run
is repeatable and sees more than the first few files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from slimdet.deploy.infer_cfg import InferConfig
from slimdet.deploy.preprocess import Preprocessor
from slimdet.errors import DataError

DEFAULT_CALIBRATION_IMAGES = 32

Feed = dict[str, np.ndarray]  # {"image": float32 [1,3,S,S], "im_size": int32 [1,2]}: one exported-graph input


def calibration_images(cfg: Mapping[str, Any], count: int) -> list[Path]:
    """``count`` image files spread evenly over the TrainReader's dataset (all of them when it has fewer)."""
    from slimdet.data import build_dataset

    if count < 1:
        raise DataError(f"--calib-images must be at least 1, got {count}")
    records = build_dataset(cfg, "train").records
    if not records:
        raise DataError("the TrainReader's dataset has no images with objects to calibrate on: check its dataset_dir")
    picks = np.unique(np.linspace(0, len(records) - 1, min(count, len(records))).round().astype(int))
    return [Path(records[i].im_file) for i in picks]


def calibration_feeds(images: Sequence[Path], infer_cfg: InferConfig) -> list[Feed]:
    """Each image read and preprocessed as ``slimdet infer`` would, as a batch of one."""
    preprocessor = Preprocessor(infer_cfg.preprocess)
    feeds = []
    for path in images:
        _, image, im_size = preprocessor.prepare(path)
        feeds.append({"image": image, "im_size": im_size})
    return feeds
