"""Deploy-side preprocessing: decode → RGB → stretch → normalise → CHW, plus image listing."""

import inspect

import cv2
import numpy as np
import pytest

from slimdet.data.transforms import NormalizeImage, Permute, ResizeImage
from slimdet.deploy.infer_cfg import IMAGE_TRANSFORMS
from slimdet.deploy.preprocess import Preprocessor, list_images
from slimdet.errors import ConfigError, DataError

STEPS = [
    {"type": "Resize", "target_size": 32, "interp": 2, "max_size": 0, "use_cv2": True, "image_shape": [32, 32]},
    {
        "type": "Normalize",
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
        "is_scale": True,
        "is_channel_first": False,
    },
    {"type": "Permute", "to_bgr": False, "channel_first": True},
]


def test_stretches_to_a_square_and_normalises_per_channel():
    rgb = np.full((20, 50, 3), (255, 0, 128), np.uint8)  # a flat colour survives any interpolation
    out = Preprocessor(STEPS)(rgb)
    assert out.shape == (3, 32, 32) and out.dtype == np.float32
    expected = (np.array([255, 0, 128]) / 255.0 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(out[:, 10, 10], expected, rtol=1e-5)


def test_resize_uses_the_configured_interpolation():
    rgb = np.random.default_rng(0).integers(0, 255, (40, 30, 3), dtype=np.uint8)
    permute = {"type": "Permute", "to_bgr": False, "channel_first": True}
    for interp in (cv2.INTER_NEAREST, cv2.INTER_CUBIC):
        out = Preprocessor([{"type": "Resize", "target_size": 32, "interp": interp}, permute])(rgb)
        expected = cv2.resize(rgb, (32, 32), interpolation=interp).transpose(2, 0, 1)
        np.testing.assert_array_equal(out, expected)


def test_to_bgr_reverses_the_channels():
    rgb = np.random.default_rng(1).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    plain = Preprocessor(STEPS)(rgb)
    swapped = Preprocessor([*STEPS[:2], {"type": "Permute", "to_bgr": True, "channel_first": True}])(rgb)
    np.testing.assert_array_equal(swapped, plain[::-1])


def test_steps_that_do_not_end_channel_first_are_a_config_error():
    with pytest.raises(ConfigError, match="must end with Permute"):
        Preprocessor(STEPS[:2])(np.zeros((8, 8, 3), np.uint8))


def test_prepare_reads_rgb_and_reports_the_original_size(tmp_path):
    bgr = np.zeros((21, 13, 3), np.uint8)
    bgr[..., 0] = 200  # blue in OpenCV's order
    path = tmp_path / "a.png"
    cv2.imwrite(str(path), bgr)
    rgb, batch, im_size = Preprocessor(STEPS).prepare(path)
    assert rgb.shape == (21, 13, 3) and rgb[0, 0].tolist() == [0, 0, 200]
    assert batch.shape == (1, 3, 32, 32)
    assert im_size.dtype == np.int32 and im_size.tolist() == [[21, 13]]


def test_non_image_file_is_a_data_error(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("not a picture")
    with pytest.raises(DataError, match="not an image"):
        Preprocessor(STEPS).prepare(path)


def test_infer_cfg_defaults_are_the_reader_transform_defaults():
    """infer_cfg.yml spells out keys a config left implicit; they must mean what the reader assumed."""
    for reader_cls in (ResizeImage, NormalizeImage, Permute):
        _, written_defaults = IMAGE_TRANSFORMS[reader_cls.__name__]
        params = inspect.signature(reader_cls).parameters
        for key, value in written_defaults.items():
            if key in params:
                assert list(np.atleast_1d(params[key].default)) == list(np.atleast_1d(value)), (reader_cls, key)


def test_list_images_filters_by_suffix_and_sorts(tmp_path):
    for name in ("b.png", "a.jpg", "readme.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in list_images(image_dir=tmp_path)] == ["a.jpg", "b.png"]


def test_list_images_rejects_empty_folder_missing_file_and_both_options(tmp_path):
    with pytest.raises(DataError, match="no images"):
        list_images(image_dir=tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        list_images(image=tmp_path / "missing.jpg")
    with pytest.raises(DataError, match="exactly one"):
        list_images(image=tmp_path / "x.jpg", image_dir=tmp_path)
    with pytest.raises(DataError, match="exactly one"):
        list_images()
