"""ImageFolder: images for inference, with class names from the usual places."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from slimdet.data.datasets import VOC_CLASSES, ImageFolder
from slimdet.errors import DataError


def test_lists_a_folder_in_name_order_and_reads_the_label_list(synthetic_voc):
    folder = ImageFolder(str(synthetic_voc), "JPEGImages", use_default_label=False)
    assert folder.class_names == ["circle", "square", "triangle"]
    names = [r.im_file.rsplit("/", 1)[1] for r in folder.records]
    assert names == sorted(names) and len(names) == 24
    assert [r.im_id for r in folder.records] == list(range(24))


def test_explicit_images_replace_the_folder(tmp_path):
    image = tmp_path / "one.png"
    cv2.imwrite(str(image), np.zeros((8, 8, 3), np.uint8))
    folder = ImageFolder(images=[image])
    assert folder.class_names == list(VOC_CLASSES)
    assert [r.im_file for r in folder.records] == [str(image)]


def test_missing_image_or_no_images_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match=r"image .*ghost\.jpg not found"):
        ImageFolder(images=[tmp_path / "ghost.jpg"])
    with pytest.raises(DataError, match="no images"):
        ImageFolder(images=[tmp_path])


def test_class_names_come_from_a_coco_json_when_anno_path_names_one(tmp_path):
    (tmp_path / "ann.json").write_text(
        '{"images": [], "annotations": [], "categories": [{"id": 9, "name": "b"}, {"id": 2, "name": "a"}]}'
    )
    cv2.imwrite(str(tmp_path / "x.jpg"), np.zeros((8, 8, 3), np.uint8))
    folder = ImageFolder(anno_path=str(tmp_path / "ann.json"), images=[tmp_path / "x.jpg"])
    assert folder.class_names == ["a", "b"]
    with pytest.raises(DataError, match=r"anno_path .*missing\.json not found.*use_default_label: true"):
        ImageFolder(anno_path=str(tmp_path / "missing.json"), images=[tmp_path / "x.jpg"])
