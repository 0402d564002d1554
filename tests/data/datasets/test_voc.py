"""VOCDataSet: the legacy reading rules and an error naming the file for each kind of bad data."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from slimdet.data.datasets import VOC_CLASSES, VOCDataSet
from slimdet.errors import DataError


def write_voc(root: Path, images: dict[str, tuple[tuple[int, int], list[tuple]]], labels=("circle", "square")) -> Path:
    """A hand-made VOC folder: images = {stem: ((w, h), [(name, [x1, y1, x2, y2], difficult), ...])}."""
    (root / "JPEGImages").mkdir(parents=True)
    (root / "Annotations").mkdir()
    (root / "label_list.txt").write_text("\n".join(labels) + "\n")
    lines = []
    for stem, ((w, h), objects) in images.items():
        cv2.imwrite(str(root / "JPEGImages" / f"{stem}.jpg"), np.full((h, w, 3), 90, np.uint8))
        body = "".join(
            f"<object><name>{name}</name><difficult>{d}</difficult><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin>"
            f"<xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>"
            for name, b, d in objects
        )
        xml = f"<annotation><size><width>{w}</width><height>{h}</height><depth>3</depth></size>{body}</annotation>"
        (root / "Annotations" / f"{stem}.xml").write_text(xml)
        lines.append(f"JPEGImages/{stem}.jpg Annotations/{stem}.xml")
    (root / "trainval.txt").write_text("\n".join(lines) + "\n")
    return root


def _voc(root: Path, **kwargs) -> VOCDataSet:
    return VOCDataSet(str(root), "trainval.txt", use_default_label=False, with_background=False, **kwargs)


def test_reads_float_boxes_classes_and_difficult_flags(tmp_path):
    objects = [("square", [2.5, 3, 20, 25.5], 0), ("circle", [5, 6, 7, 8], 1)]
    root = write_voc(tmp_path / "v", {"a": ((40, 30), objects)})
    dataset = _voc(root)
    assert dataset.class_names == ["circle", "square"]
    (record,) = dataset.records
    assert record.im_file == str(root / "JPEGImages" / "a.jpg")
    assert (record.width, record.height, record.im_id) == (40, 30, 0)
    np.testing.assert_array_equal(record.gt_bbox, np.array([[2.5, 3, 20, 25.5], [5, 6, 7, 8]], np.float32))
    np.testing.assert_array_equal(record.gt_class, [1, 0])
    np.testing.assert_array_equal(record.difficult, [0, 1])
    sample = dataset[0]
    np.testing.assert_array_equal(sample["gt_score"], [1.0, 1.0])
    sample["gt_bbox"][:] = 0  # samples are copies: the record stays intact
    assert record.gt_bbox[0, 2] == 20


def test_boxes_are_clipped_to_the_image_and_boxes_without_area_dropped(tmp_path):
    objects = [("circle", [-5, 2, 50, 40], 0), ("square", [10, 10, 10, 20], 0), ("square", [45, 1, 60, 9], 0)]
    dataset = _voc(write_voc(tmp_path / "v", {"a": ((40, 30), objects)}))
    np.testing.assert_array_equal(dataset.records[0].gt_bbox, [[0, 2, 39, 29]])
    assert len(dataset.warnings) == 4  # one clipped box, two dropped (one zero-width, one wholly outside)
    assert sum("dropped" in w for w in dataset.warnings) == 2


def test_with_background_shifts_class_ids_by_one(tmp_path):
    root = write_voc(tmp_path / "v", {"a": ((20, 20), [("circle", [1, 1, 9, 9], 0)])})
    dataset = VOCDataSet(str(root), "trainval.txt", use_default_label=False, with_background=True)
    assert dataset.records[0].gt_class.tolist() == [1]
    assert dataset.class_offset == 1


def test_default_labels_are_the_twenty_voc_classes(tmp_path):
    root = write_voc(tmp_path / "v", {"a": ((20, 20), [("dog", [1, 1, 9, 9], 0)])}, labels=("unused",))
    dataset = VOCDataSet(str(root), "trainval.txt", use_default_label=True, with_background=False)
    assert dataset.class_names == list(VOC_CLASSES) and len(VOC_CLASSES) == 20
    assert dataset.records[0].gt_class.tolist() == [VOC_CLASSES.index("dog")]


def test_images_without_objects_are_skipped_only_when_asked(tmp_path):
    root = write_voc(tmp_path / "v", {"a": ((20, 20), []), "b": ((20, 20), [("circle", [1, 1, 9, 9], 0)])})
    assert [Path(r.im_file).stem for r in _voc(root).records] == ["b"]
    kept = _voc(root, skip_empty=False)
    assert [Path(r.im_file).stem for r in kept.records] == ["a", "b"]
    assert [r.im_id for r in kept.records] == [0, 1]


def test_sample_num_limits_the_images_read(synthetic_voc):
    assert len(VOCDataSet(str(synthetic_voc), "trainval.txt", use_default_label=False, sample_num=5)) == 5


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (lambda r: (r / "JPEGImages" / "b.jpg").unlink(), r"image .*b\.jpg not found"),
        (lambda r: (r / "Annotations" / "b.xml").write_text("<annotation><size>"), r"b\.xml: malformed XML"),
        (lambda r: (r / "Annotations" / "b.xml").unlink(), r"annotation .*b\.xml not found"),
        (
            lambda r: (r / "Annotations" / "b.xml").write_text(
                (r / "Annotations" / "b.xml").read_text().replace("circle", "circel")
            ),
            r"b\.xml: object 0 has class 'circel'.*did you mean 'circle'",
        ),
        (
            lambda r: (r / "Annotations" / "b.xml").write_text(
                (r / "Annotations" / "b.xml").read_text().replace("<xmin>1</xmin>", "<xmin>one</xmin>")
            ),
            r"b\.xml: object 0 <bndbox/xmin> is 'one'",
        ),
        (
            lambda r: (r / "trainval.txt").write_text("JPEGImages/b.jpg\n"),
            r"trainval\.txt:1: expected 'image_path xml_path'",
        ),
        (lambda r: (r / "trainval.txt").unlink(), r"anno_path .*trainval\.txt not found"),
        (lambda r: (r / "label_list.txt").unlink(), r"label list .*label_list\.txt not found"),
    ],
    ids=["missing image", "malformed xml", "missing xml", "unknown class", "bad number", "bad list line",
         "missing anno_path", "missing label list"],
)  # fmt: skip
def test_bad_data_raises_a_data_error_naming_the_file(tmp_path, breakage, message):
    images = {"a": ((20, 20), [("square", [2, 2, 9, 9], 0)]), "b": ((20, 20), [("circle", [1, 1, 9, 9], 0)])}
    root = write_voc(tmp_path / "v", images)
    breakage(root)
    with pytest.raises(DataError, match=message):
        _voc(root)


def test_missing_dataset_dir_says_how_to_get_data(tmp_path):
    with pytest.raises(DataError, match=r"dataset_dir .*nowhere does not exist.*slimdet data synth"):
        VOCDataSet(str(tmp_path / "nowhere"), "trainval.txt")


def test_collecting_problems_keeps_the_good_images_and_lists_every_bad_one(tmp_path):
    root = write_voc(
        tmp_path / "v",
        {k: ((20, 20), [("circle", [1, 1, 9, 9], 0)]) for k in ("a", "b", "c")},
    )
    (root / "JPEGImages" / "a.jpg").unlink()
    (root / "Annotations" / "c.xml").write_text("not xml")
    dataset = _voc(root, collect_problems=True)
    assert [Path(r.im_file).stem for r in dataset.records] == ["b"]
    assert len(dataset.problems) == 2
    assert "a.jpg" in dataset.problems[0] and "c.xml" in dataset.problems[1]
