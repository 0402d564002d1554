"""Inference on image files: drawn copies, detections as data, thresholds, both model sources, bad inputs."""

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from slimdet.api import infer  # the command's keywords; commands.infer takes its InferRequest
from slimdet.deploy.draw import drawn_scale
from slimdet.errors import DataError, SlimdetError, WeightsError


@pytest.fixture
def images(test_images, tmp_path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    for path in test_images[:2]:
        shutil.copy(path, folder / path.name)
    return folder


def test_draws_every_image_and_returns_its_detections(exported, images, tmp_path):
    result = infer(model_dir=Path(exported.out_dir), image_dir=images, threshold=0.2, output_dir=tmp_path / "out")
    assert result.backend == "paddle_inference" and result.threshold == 0.2
    assert [Path(r.image).name for r in result.images] == sorted(p.name for p in images.iterdir())
    for item in result.images:
        drawn, original = cv2.imread(item.drawn), cv2.imread(item.image)
        factor = drawn_scale(original.shape[:2])  # small pictures are drawn enlarged, so captions can be read
        assert factor > 1 and drawn.shape == (original.shape[0] * factor, original.shape[1] * factor, 3)
        enlarged = cv2.resize(original, None, fx=factor, fy=factor, interpolation=cv2.INTER_LINEAR)
        assert item.detections, "random weights score about 0.25: there must be boxes above 0.2"
        assert np.abs(drawn.astype(int) - enlarged.astype(int)).max() > 100  # boxes were drawn on it
        for det in item.detections:
            assert det.score > 0.2 and det.class_name in ("circle", "square", "triangle")
            x1, y1, x2, y2 = det.box
            assert 0 <= x1 <= x2 <= original.shape[1] - 1 and 0 <= y1 <= y2 <= original.shape[0] - 1
    data = json.loads(json.dumps(result.to_dict()))
    assert data["images"][0]["detections"][0].keys() == {"class_id", "class_name", "score", "box"}


def test_threshold_defaults_to_infer_cfg_and_filters_scores(exported, images, tmp_path):
    default = infer(model_dir=Path(exported.out_dir), image_dir=images, output_dir=tmp_path / "a")
    low = infer(model_dir=Path(exported.out_dir), image_dir=images, threshold=0.0, output_dir=tmp_path / "b")
    assert default.threshold == 0.5
    assert all(d.score > 0.5 for r in default.images for d in r.detections)
    assert sum(len(r.detections) for r in low.images) > sum(len(r.detections) for r in default.images)


def test_checkpoint_and_exported_model_find_the_same_boxes(exported, small_shapes_checkpoint, images, tmp_path):
    config, weights = small_shapes_checkpoint
    from_export = infer(model_dir=Path(exported.out_dir), image_dir=images, threshold=0.1, output_dir=tmp_path / "a")
    from_checkpoint = infer(
        config=config, overrides=[f"weights={weights}"], image_dir=images, threshold=0.1, output_dir=tmp_path / "b"
    )
    assert from_checkpoint.backend == "dygraph"
    for a, b in zip(from_export.images, from_checkpoint.images, strict=True):
        assert len(a.detections) == len(b.detections) > 0
        boxes_a = np.array(sorted(d.box for d in a.detections))
        boxes_b = np.array(sorted(d.box for d in b.detections))
        np.testing.assert_allclose(boxes_a, boxes_b, atol=1e-3)


def test_refuses_to_draw_over_the_input_images(exported, images):
    with pytest.raises(DataError, match="overwrite the input image"):
        infer(model_dir=Path(exported.out_dir), image_dir=images, output_dir=images)


def test_missing_model_files_are_listed(exported, images, tmp_path):
    partial = tmp_path / "partial"
    partial.mkdir()
    shutil.copy(Path(exported.out_dir) / "infer_cfg.yml", partial)
    with pytest.raises(WeightsError, match="lacks model.pdmodel, model.pdiparams"):
        infer(model_dir=partial, image_dir=images, output_dir=tmp_path / "out")
    with pytest.raises(WeightsError, match="does not exist"):
        infer(model_dir=tmp_path / "nowhere", image_dir=images, output_dir=tmp_path / "out")


def test_a_file_that_is_not_an_image_is_a_data_error(exported, tmp_path):
    fake = tmp_path / "photo.jpg"
    fake.write_text("just text")
    with pytest.raises(DataError, match="photo.jpg"):
        infer(model_dir=Path(exported.out_dir), image=fake, output_dir=tmp_path / "out")
    assert not (tmp_path / "out" / "photo.jpg").exists()


@pytest.fixture
def mixed_folder(test_images, tmp_path) -> Path:
    """Two good pictures, an empty .jpg and a PNG cut in half, as folders from cameras and scrapers hold."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    for path in test_images[:2]:
        shutil.copy(path, folder / path.name)
    (folder / "empty.jpg").write_bytes(b"")
    whole = cv2.imencode(".png", cv2.imread(str(test_images[0])))[1].tobytes()
    (folder / "zz_truncated.png").write_bytes(whole[: len(whole) // 2])
    return folder


def test_unreadable_files_in_a_folder_are_skipped_and_the_rest_detected_as_one_by_one(
    exported, mixed_folder, test_images, tmp_path
):
    seen = []
    result = infer(model_dir=Path(exported.out_dir), image_dir=mixed_folder, threshold=0.2,
                   output_dir=tmp_path / "out", on_skip=seen.append)  # fmt: skip
    assert result.counts == {"read": 2, "skipped": 2, "drawn": 2}
    assert [(Path(s.image).name, s.reason) for s in seen] == [
        ("empty.jpg", f"image {mixed_folder / 'empty.jpg'} is empty (0 bytes)"),
        ("zz_truncated.png", f"cannot decode image {mixed_folder / 'zz_truncated.png'}: the file is corrupt or not "
                             "an image (JPEG/PNG/BMP)"),
    ]  # fmt: skip
    assert list(result.skipped) == seen
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in test_images[:2])
    for item in result.images:
        alone = infer(model_dir=Path(exported.out_dir), image=Path(item.image), threshold=0.2,
                      output_dir=tmp_path / "alone")  # fmt: skip
        assert alone.images[0].detections == item.detections and item.detections
    data = json.loads(json.dumps(result.to_dict()))
    assert (data["read"], data["skipped"], data["drawn"]) == (2, 2, 2)
    assert data["skipped_images"] == [s.to_dict() for s in seen]


def test_strict_stops_at_the_first_unreadable_file(exported, mixed_folder, tmp_path):
    with pytest.raises(DataError, match=r"empty\.jpg is empty"):
        infer(model_dir=Path(exported.out_dir), image_dir=mixed_folder, output_dir=tmp_path / "out", strict=True)


def test_exactly_one_model_source(images, small_shapes_checkpoint, tmp_path):
    with pytest.raises(SlimdetError, match="exactly one model"):
        infer(image_dir=images, output_dir=tmp_path)
    with pytest.raises(SlimdetError, match="exactly one model"):
        infer(model_dir=tmp_path, config=small_shapes_checkpoint[0], image_dir=images, output_dir=tmp_path)


def test_missing_checkpoint_weights_is_a_weights_error(small_shapes_checkpoint, images, tmp_path):
    with pytest.raises(WeightsError):
        infer(
            config=small_shapes_checkpoint[0],
            overrides=[f"weights={tmp_path / 'none.pdparams'}"],
            image_dir=images,
            output_dir=tmp_path / "out",
        )
