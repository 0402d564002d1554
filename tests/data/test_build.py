"""Building pipelines from reader configs: the contract's batch fields, legacy rules, config errors."""

from __future__ import annotations

import numpy as np
import pytest

from slimdet.data import build_dataset, build_loader, build_pipeline
from slimdet.errors import ConfigError, DataError


def _first_batch(cfg, split, **kwargs):
    return next(iter(build_loader(cfg, split, workers=0, **kwargs)))


def test_train_batch_has_the_contract_fields_shapes_and_dtypes(shapes_config):
    batch = _first_batch(shapes_config(fine_grained=True, size=64, batch_size=4), "train")
    n, size = 4, batch["image"].shape[-1]
    assert size in (64, 96) and batch["image"].shape == (n, 3, size, size)
    expected = {
        "image": ((n, 3, size, size), np.float32),
        "gt_bbox": ((n, 50, 4), np.float32),
        "gt_class": ((n, 50), np.int32),
        "gt_score": ((n, 50), np.float32),
        "target0": ((n, 3, 9, size // 32, size // 32), np.float32),
        "target1": ((n, 3, 9, size // 16, size // 16), np.float32),
        "target2": ((n, 3, 9, size // 8, size // 8), np.float32),
    }
    assert {k: (v.shape, v.dtype) for k, v in batch.items()} == expected
    real = batch["gt_score"] > 0
    assert real.any(axis=1).all()  # every training image keeps at least one box
    boxes = batch["gt_bbox"][real]
    assert np.all((boxes[:, :2] >= 0) & (boxes[:, :2] <= 1) & (boxes[:, 2:] > 0) & (boxes[:, 2:] <= 1))
    assert abs(float(batch["image"].mean())) < 2.0  # normalised, not 0..255


def test_without_fine_grained_loss_gt2yolotarget_is_dropped(shapes_config):
    batch = _first_batch(shapes_config(fine_grained=False), "train")
    assert set(batch) == {"image", "gt_bbox", "gt_class", "gt_score"}


def test_eval_batch_keeps_ids_original_sizes_and_boxes_in_original_pixels(shapes_config):
    cfg = shapes_config(size=64)
    dataset = build_dataset(cfg, "eval")
    batch = _first_batch(cfg, "eval")
    assert batch["image"].shape == (4, 3, 64, 64)
    assert batch["im_size"].dtype == np.int32 and batch["im_size"].tolist() == [[96, 96]] * 4
    assert batch["im_id"].dtype == np.int64 and batch["im_id"].tolist() == [0, 1, 2, 3]  # eval is not shuffled
    for k in range(4):
        record = dataset.records[k]
        n = len(record.gt_class)
        np.testing.assert_array_equal(batch["gt_bbox"][k, :n], record.gt_bbox)
        np.testing.assert_array_equal(batch["gt_bbox"][k, n:], 0)
        np.testing.assert_array_equal(batch["gt_class"][k, :n], record.gt_class)
        np.testing.assert_array_equal(batch["is_difficult"][k, :n], record.difficult)
    assert batch["is_difficult"].dtype == np.int32


def test_test_split_reads_the_given_images(shapes_config, synthetic_voc):
    images = sorted((synthetic_voc / "JPEGImages").glob("test_*.jpg"))[:3]
    loader = build_loader(shapes_config(), "test", images=images, workers=0)
    batches = list(loader)
    assert [b["im_id"].tolist() for b in batches] == [[0], [1], [2]]
    assert batches[0]["image"].shape == (1, 3, 64, 64) and batches[0]["im_size"].tolist() == [[96, 96]]
    assert loader.dataset.class_names == ["circle", "square", "triangle"]


def test_mixup_happens_only_before_mixup_epoch(shapes_config):
    cfg = shapes_config(fine_grained=False)
    cfg["TrainReader"]["mixup_epoch"] = 1
    loader = build_loader(cfg, "train", workers=0)
    scores = [b["gt_score"] for b in loader.epoch_batches(0)]
    assert any(np.any((s > 0) & (s < 1)) for s in scores)  # blended boxes carry their mixup weight
    later = [b["gt_score"] for b in loader.epoch_batches(1)]
    assert all(set(np.unique(s)) <= {0.0, 1.0} for s in later)


def test_same_seed_same_batches_other_seed_other_batches(shapes_config):
    cfg = shapes_config()
    a = _first_batch(cfg, "train", seed=3)
    b = _first_batch(cfg, "train", seed=3)
    c = _first_batch(cfg, "train", seed=4)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not all(a[k].shape == c[k].shape and np.array_equal(a[k], c[k]) for k in a)


def test_unknown_transform_is_a_config_error_listing_the_known_ones(shapes_config):
    cfg = shapes_config()
    cfg["TrainReader"]["sample_transforms"][2] = {"type": "ColorDistortion"}
    expected = (
        r"sample_transforms\[2\]: unknown type 'ColorDistortion' \(did you mean 'ColorDistort'\?\); "
        r"known: BboxXYXY2XYWH, ColorDistort, .*ResizeImage$"  # sample-level ones only
    )
    with pytest.raises(ConfigError, match=expected):
        build_pipeline(cfg, "train")


def test_unknown_parameter_is_a_config_error_with_a_suggestion(shapes_config):
    cfg = shapes_config()
    cfg["TrainReader"]["sample_transforms"][3] = {"type": "RandomExpand", "ratoi": 3}
    with pytest.raises(ConfigError, match=r"RandomExpand\): unknown parameter 'ratoi' \(did you mean 'ratio'\?\)"):
        build_pipeline(cfg, "train")


def test_batch_only_transform_among_sample_transforms_is_refused(shapes_config):
    cfg = shapes_config()
    cfg["TrainReader"]["sample_transforms"].append({"type": "RandomShape", "sizes": [64]})
    with pytest.raises(ConfigError, match="RandomShape works on whole batches: move it to batch_transforms"):
        build_pipeline(cfg, "train")


def test_box_fields_without_padbox_are_refused_early(shapes_config):
    cfg = shapes_config()
    steps = cfg["EvalReader"]["sample_transforms"]
    cfg["EvalReader"]["sample_transforms"] = [t for t in steps if t["type"] != "PadBox"]
    with pytest.raises(ConfigError, match="need PadBox"):
        build_pipeline(cfg, "eval")


def test_num_classes_smaller_than_the_label_list_is_refused(shapes_config):
    cfg = shapes_config()
    cfg["num_classes"] = 2
    with pytest.raises(ConfigError, match="num_classes is 2 but the dataset has 3 classes.*num_classes=3"):
        build_pipeline(cfg, "train")


def test_fine_grained_loss_without_gt2yolotarget_is_refused(shapes_config):
    cfg = shapes_config(fine_grained=True)
    cfg["TrainReader"]["batch_transforms"].pop()
    with pytest.raises(ConfigError, match="no Gt2YoloTarget"):
        build_pipeline(cfg, "train")


def test_missing_reader_section_or_too_few_images_are_clear_errors(shapes_config):
    cfg = shapes_config()
    del cfg["EvalReader"]
    with pytest.raises(ConfigError, match="no EvalReader section"):
        build_loader(cfg, "eval")
    cfg = shapes_config(batch_size=32)  # 16 images, drop_last
    with pytest.raises(DataError, match="16 images make no batch of 32.*lower TrainReader.batch_size"):
        build_loader(cfg, "train")
