"""The synthetic shapes writer: deterministic, valid VOC, learnable content, atomic output."""

from __future__ import annotations

import itertools
import os
import stat
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np
import pytest

from slimdet.data import synth
from slimdet.data.synth import CLASS_NAMES, HARD_CLASS_NAMES, write_synthetic_voc
from slimdet.errors import DataError


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_byte_identical_files(tmp_path):
    write_synthetic_voc(tmp_path / "a", num_train=5, num_test=3, size=64, seed=7)
    write_synthetic_voc(tmp_path / "b", num_train=5, num_test=3, size=64, seed=7)
    write_synthetic_voc(tmp_path / "c", num_train=5, num_test=3, size=64, seed=8)
    a, b, c = _files(tmp_path / "a"), _files(tmp_path / "b"), _files(tmp_path / "c")
    assert len(a) == 2 * 8 + 3  # jpg + xml per image, label list, two split lists
    assert a == b
    assert {k: v for k, v in a.items() if k.startswith("JPEGImages")} != {
        k: v for k, v in c.items() if k.startswith("JPEGImages")
    }


def test_lists_pair_each_image_with_a_valid_voc_annotation(synthetic_voc):
    labels = (synthetic_voc / "label_list.txt").read_text().split()
    assert labels == ["circle", "square", "triangle"]
    for list_name, count in (("trainval.txt", 16), ("test.txt", 8)):
        lines = (synthetic_voc / list_name).read_text().splitlines()
        assert len(lines) == count
        for line in lines:
            image_rel, xml_rel = line.split()
            assert image_rel.startswith("JPEGImages/") and xml_rel.startswith("Annotations/")
            image = cv2.imread(str(synthetic_voc / image_rel))
            root = ET.parse(synthetic_voc / xml_rel).getroot()
            assert root.findtext("filename") == Path(image_rel).name
            width, height = int(root.findtext("size/width")), int(root.findtext("size/height"))
            assert image.shape == (height, width, 3) == (96, 96, 3)
            assert root.findtext("size/depth") == "3"
            objects = root.findall("object")
            assert 1 <= len(objects) <= 6
            for obj in objects:
                assert obj.findtext("name") in labels
                assert obj.findtext("difficult") in ("0", "1")
                x1, y1, x2, y2 = (int(obj.findtext(f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax"))
                assert 0 <= x1 < x2 <= width - 1 and 0 <= y1 < y2 <= height - 1


@pytest.mark.parametrize("name", HARD_CLASS_NAMES)
def test_boxes_frame_the_drawn_shapes(name):
    # One shape alone on a flat background: the pixels that changed must fill the box, edge to edge.
    rng = np.random.default_rng(3)
    for _ in range(20):
        draw = synth._shape_drawer(rng, name, float(rng.uniform(10, 40)), 96)
        canvas = np.zeros((96, 96), np.uint8)
        x1, y1, x2, y2 = draw(canvas, 255, cv2.LINE_8)
        ys, xs = np.nonzero(canvas)
        assert (xs.min(), ys.min(), xs.max(), ys.max()) == (x1, y1, x2, y2)
        # rings and frames are outlines: their centre shows what lies underneath; every other shape covers it
        assert (canvas[(y1 + y2) // 2, (x1 + x2) // 2] == 0) == (name in ("ring", "frame"))


def test_images_mix_classes_sizes_overlaps_and_difficult_objects(tmp_path):
    sizes, names, difficult, overlapping = [], [], 0, 0
    for index in range(40):
        _, objects = synth.render_image(np.random.default_rng([0, 0, index]), 128)
        names += [o.name for o in objects]
        sizes += [max(o.box[2] - o.box[0], o.box[3] - o.box[1]) + 1 for o in objects]
        difficult += sum(o.difficult for o in objects)
        overlapping += any(synth._iou(a.box, b.box) > 0 for a, b in itertools.combinations(objects, 2))
    counts = [names.count(n) for n in CLASS_NAMES]
    assert min(counts) > len(names) / 6  # no class is rare
    assert min(sizes) < 0.1 * 128 and max(sizes) > 0.4 * 128
    assert 0 < difficult < 0.35 * len(names)
    assert overlapping > 0


def test_the_hard_variant_draws_all_nine_classes_more_objects_and_unlabelled_clutter(tmp_path):
    names, most = [], 0
    for index in range(40):
        rng = np.random.default_rng([0, 0, index])
        _, objects = synth.render_image(rng, 128, hard=True)
        names += [o.name for o in objects]
        most = max(most, len(objects))
    counts = [names.count(n) for n in HARD_CLASS_NAMES]
    assert min(counts) > len(names) / 18  # no class is rare
    assert most > synth.MAX_OBJECTS
    # the clutter: the same generator state draws the same background, which the hard image then marks
    plain = synth._background(np.random.default_rng(1), 64)
    rng = np.random.default_rng(1)
    cluttered = synth._background(rng, 64)
    while np.array_equal(cluttered, plain):  # zero strokes is possible: draw until some are
        synth._clutter(rng, cluttered)
    assert (cluttered != plain).any(axis=2).mean() < 0.5  # thin strokes, not a repaint
    report = write_synthetic_voc(tmp_path / "hard", num_train=2, num_test=1, size=48, seed=0, hard=True)
    assert (tmp_path / "hard" / "label_list.txt").read_text().split() == list(HARD_CLASS_NAMES)
    assert report.hard and list(report.objects) == list(HARD_CLASS_NAMES)


def test_refuses_a_non_empty_folder_unless_told_to_replace_it(tmp_path):
    out = tmp_path / "shapes"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(DataError, match="not empty.*--force"):
        write_synthetic_voc(out, num_train=2, num_test=1, size=48, seed=0)
    assert (out / "keep.txt").read_text() == "mine"
    report = write_synthetic_voc(out, num_train=2, num_test=1, size=48, seed=0, overwrite=True)
    assert not (out / "keep.txt").exists()
    assert report.num_train == 2 and (out / "trainval.txt").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shapes"]  # no temp folders left behind


def test_a_crash_midway_leaves_nothing_behind(tmp_path, monkeypatch):
    real_encode = cv2.imencode
    calls = itertools.count()

    def failing_encode(*args, **kwargs):
        if next(calls) == 3:
            raise RuntimeError("disk on fire")
        return real_encode(*args, **kwargs)

    monkeypatch.setattr(synth.cv2, "imencode", failing_encode)
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_synthetic_voc(tmp_path / "shapes", num_train=4, num_test=2, size=48, seed=0)
    assert list(tmp_path.iterdir()) == []


def test_report_counts_what_was_written(tmp_path):
    report = write_synthetic_voc(tmp_path / "s", num_train=3, num_test=2, size=64, seed=1)
    names, difficult = [], 0
    for xml in (tmp_path / "s" / "Annotations").glob("*.xml"):
        for obj in ET.parse(xml).getroot().findall("object"):
            names.append(obj.findtext("name"))
            difficult += obj.findtext("difficult") == "1"
    assert report.objects == {n: names.count(n) for n in CLASS_NAMES}
    assert report.difficult == difficult
    assert report.to_dict()["size"] == 64


def test_the_dataset_folder_gets_the_permissions_mkdir_would_give(tmp_path):
    """It is built in a private temp folder; once renamed into place, others may read it as usual."""
    umask = os.umask(0o022)
    try:
        write_synthetic_voc(tmp_path / "shapes", num_train=1, num_test=1, size=48, seed=0)
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "shapes").stat().st_mode) == 0o755
