"""data show: pictures of augmented samples with their boxes drawn where the objects are."""

from __future__ import annotations

import cv2
import numpy as np

from slimdet.data import build_loader
from slimdet.data.show import pixel_boxes, show_samples, viewable_image

from .configs import reader_config


def test_writes_the_requested_number_of_pngs_with_boxes(synthetic_voc, tmp_path):
    report = show_samples(reader_config(synthetic_voc), num=5, out_dir=tmp_path / "pics", seed=1)
    assert len(report.files) == 5 and report.boxes >= 5
    for path in report.files:
        image = cv2.imread(path)
        assert image is not None and image.shape[0] >= 480  # small inputs are enlarged
    assert not [p for p in (tmp_path / "pics").iterdir() if p.suffix != ".png"]  # no temp files left


def test_pictures_undo_normalisation_and_map_boxes_to_pixels(synthetic_voc):
    cfg = reader_config(synthetic_voc, size=64)
    keep = ("DecodeImage", "NormalizeBox", "PadBox", "BboxXYXY2XYWH")  # no random geometry
    cfg["TrainReader"]["sample_transforms"] = [t for t in cfg["TrainReader"]["sample_transforms"] if t["type"] in keep]
    cfg["TrainReader"]["batch_transforms"][0]["sizes"] = [192]  # 96 px images, doubled
    loader = build_loader(cfg, "train", workers=0)
    sample = next(loader.epoch_samples(0))[0]
    picture = viewable_image(sample, loader.pipeline)
    original = cv2.imread(sample["im_file"])
    enlarged = cv2.resize(original, (192, 192), interpolation=cv2.INTER_LINEAR)
    assert np.abs(picture.astype(int) - enlarged.astype(int)).mean() < 12  # same picture, BGR again
    boxes = pixel_boxes(sample, loader.pipeline)
    real = sample["gt_score"] > 0
    record = next(r for r in loader.dataset.records if r.im_file == sample["im_file"])
    expected = record.gt_bbox * 2  # x2/y2 are inclusive pixels, so a doubled box spans 2·x2 exactly
    np.testing.assert_allclose(boxes[real], expected, atol=1e-3)
