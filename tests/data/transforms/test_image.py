"""Decode, mixup, colour distortion, normalisation and permutation."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from slimdet.data.transforms import ColorDistort, DecodeImage, MixupImage, NormalizeImage, Permute
from slimdet.errors import ConfigError, DataError

from .painted import painted_sample


def _sample_for(path) -> dict:
    return {"im_file": str(path), "h": 0, "w": 0}


def test_decode_reads_rgb_and_records_the_original_size(tmp_path):
    bgr = np.zeros((12, 20, 3), np.uint8)
    bgr[..., 0] = 200  # blue in OpenCV's order
    cv2.imwrite(str(tmp_path / "x.png"), bgr)
    sample = DecodeImage(to_rgb=True)(_sample_for(tmp_path / "x.png"), None)
    assert sample["image"].shape == (12, 20, 3)
    assert sample["image"][0, 0].tolist() == [0, 0, 200]
    assert (sample["h"], sample["w"]) == (12, 20)
    assert sample["im_size"].tolist() == [12, 20] and sample["im_size"].dtype == np.int32
    assert DecodeImage(to_rgb=False)(_sample_for(tmp_path / "x.png"), None)["image"][0, 0].tolist() == [200, 0, 0]


def test_decode_names_a_missing_or_corrupt_image(tmp_path):
    with pytest.raises(DataError, match=r"image .*gone\.jpg not found"):
        DecodeImage()(_sample_for(tmp_path / "gone.jpg"), None)
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 this is not really a jpeg")
    with pytest.raises(DataError, match=r"cannot decode image .*bad\.jpg"):
        DecodeImage()(_sample_for(tmp_path / "bad.jpg"), None)
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(DataError, match=r"empty\.jpg"):
        DecodeImage()(_sample_for(tmp_path / "empty.jpg"), None)


def test_decode_with_mixup_decodes_the_partner_too(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((4, 4, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "b.png"), np.zeros((6, 5, 3), np.uint8))
    sample = {**_sample_for(tmp_path / "a.png"), "mixup": _sample_for(tmp_path / "b.png")}
    sample = DecodeImage(with_mixup=True)(sample, None)
    assert sample["mixup"]["image"].shape == (6, 5, 3)


def _mix_pair() -> dict:
    first = painted_sample(h=40, w=50, boxes=((1, 1, 10, 10), (20, 20, 30, 30)))
    first["image"][:] = 200
    second = painted_sample(h=60, w=30, boxes=((5, 5, 25, 50),))
    second["image"][:] = 100
    second["gt_class"][:] = 2
    second["gt_score"][:] = 0.5
    first["mixup"] = second
    return first


def test_mixup_blends_images_and_unites_boxes_with_weighted_scores():
    for seed in range(5):
        sample = MixupImage(alpha=1.5, beta=1.5)(_mix_pair(), np.random.default_rng(seed))
        image = sample["image"]
        assert image.shape == (60, 50, 3) and (sample["h"], sample["w"]) == (60, 50)
        factor = (float(image[0, 0, 0]) - 100) / 100  # both images there: 200·f + 100·(1 − f)
        assert 0 < factor < 1
        assert abs(float(image[50, 10, 0]) - 100 * (1 - factor)) <= 1  # only the partner there
        assert abs(float(image[10, 40, 0]) - 200 * factor) <= 1  # only the sample there
        np.testing.assert_array_equal(sample["gt_bbox"], [[1, 1, 10, 10], [20, 20, 30, 30], [5, 5, 25, 50]])
        np.testing.assert_array_equal(sample["gt_class"], [0, 1, 2])
        np.testing.assert_allclose(sample["gt_score"], [factor, factor, 0.5 * (1 - factor)], atol=0.011)
        assert len(sample["difficult"]) == 3 and "mixup" not in sample


def test_mixup_without_partner_does_nothing_and_needs_a_decoded_partner():
    sample = painted_sample()
    assert MixupImage()(sample, np.random.default_rng(0)) is sample
    pair = _mix_pair()
    del pair["mixup"]["image"]
    with pytest.raises(ConfigError, match="with_mixup: true"):
        MixupImage()(pair, np.random.default_rng(0))


def test_color_distort_keeps_shape_and_uint8_and_is_repeatable():
    image = np.random.default_rng(0).integers(0, 256, (20, 30, 3)).astype(np.uint8)
    outputs = [ColorDistort()({"image": image.copy()}, np.random.default_rng(4))["image"] for _ in range(2)]
    assert outputs[0].dtype == np.uint8 and outputs[0].shape == image.shape
    np.testing.assert_array_equal(outputs[0], outputs[1])
    changed = [
        not np.array_equal(ColorDistort()({"image": image.copy()}, np.random.default_rng(s))["image"], image)
        for s in range(10)
    ]
    assert any(changed)


def test_color_distort_with_every_op_skipped_returns_the_same_pixels():
    image = np.random.default_rng(0).integers(0, 256, (8, 8, 3)).astype(np.uint8)
    never = [0.5, 1.5, 1.0]  # skip probability 1
    op = ColorDistort(hue=[-18, 18, 1.0], saturation=never, contrast=never, brightness=never)
    np.testing.assert_array_equal(op({"image": image.copy()}, np.random.default_rng(0))["image"], image)


def test_color_distort_contrast_scales_pixels_by_a_factor_in_range():
    image = np.full((4, 4, 3), 100, np.uint8)
    never, always = [0, 0, 1.0], [0.5, 1.5, 0.0]
    out = ColorDistort(hue=never, saturation=never, brightness=never, contrast=always)(
        {"image": image.copy()}, np.random.default_rng(2)
    )["image"]
    assert np.all(out == out[0, 0, 0]) and 50 <= out[0, 0, 0] <= 150


def test_normalize_then_permute_gives_chw_float_and_inverts():
    image = np.random.default_rng(1).integers(0, 256, (5, 7, 3)).astype(np.uint8)
    norm = NormalizeImage(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225], is_scale=True, is_channel_first=False)
    sample = norm({"image": image.copy()}, None)
    expected = (image / 255.0 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    assert sample["image"].dtype == np.float32
    np.testing.assert_allclose(sample["image"], expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(norm.invert(sample["image"]), image, atol=1e-3)
    sample = Permute(to_bgr=False, channel_first=True)(sample, None)
    assert sample["image"].shape == (3, 5, 7) and sample["channel_first"]
    np.testing.assert_allclose(sample["image"][0], expected[..., 0], rtol=1e-5, atol=1e-5)


def test_permute_to_bgr_reverses_the_channels():
    image = np.arange(2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 3)
    out = Permute(to_bgr=True, channel_first=True)({"image": image}, None)["image"]
    np.testing.assert_array_equal(out, image.transpose(2, 0, 1)[::-1])


def test_normalize_refuses_a_layout_that_does_not_match_the_image():
    with pytest.raises(ConfigError, match="is_channel_first: false"):
        NormalizeImage(is_channel_first=True)({"image": np.zeros((4, 4, 3), np.uint8)}, None)
    with pytest.raises(ConfigError, match="std must not contain 0"):
        NormalizeImage(std=[1, 0, 1])
