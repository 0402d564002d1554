"""data check: counts that match the files, and every problem of a broken dataset listed at once."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from slimdet.data.check import check_dataset

from .configs import reader_config


def _count_xml(root, list_name):
    names, difficult = [], 0
    for line in (root / list_name).read_text().splitlines():
        for obj in ET.parse(root / line.split()[1]).getroot().findall("object"):
            names.append(obj.findtext("name"))
            difficult += obj.findtext("difficult") == "1"
    return names, difficult


def test_report_counts_images_objects_per_class_and_sizes(synthetic_voc):
    report = check_dataset(reader_config(synthetic_voc), "eval")
    names, difficult = _count_xml(synthetic_voc, "test.txt")
    assert report.ok and report.problems == []
    assert (report.images, report.objects, report.difficult) == (8, len(names), difficult)
    assert {c.name: c.objects for c in report.classes} == {n: names.count(n) for n in ("circle", "square", "triangle")}
    assert report.width_range == (96, 96) and report.height_range == (96, 96)
    assert report.to_dict()["ok"] is True


def test_every_problem_is_listed_together(voc_copy):
    (voc_copy / "JPEGImages" / "train_00001.jpg").write_bytes(b"garbage")
    (voc_copy / "Annotations" / "train_00003.xml").write_text("<annotation>")
    xml = voc_copy / "Annotations" / "train_00005.xml"
    xml.write_text(xml.read_text().replace("<width>96</width>", "<width>120</width>"))
    first = ET.parse(voc_copy / "Annotations" / "train_00007.xml").getroot().findtext("object/name")
    xml = voc_copy / "Annotations" / "train_00007.xml"
    xml.write_text(xml.read_text().replace(f"<name>{first}</name>", "<name>hexagon</name>", 1))
    report = check_dataset(reader_config(voc_copy), "train", progress=lambda done, total: None)
    assert not report.ok
    assert len(report.problems) == 4
    text = "\n".join(report.problems)
    assert "train_00001.jpg" in text and "train_00003.xml: malformed" in text and "hexagon" in text
    assert "train_00005.jpg: the annotation says 120x96" in text
    assert report.images == 14  # 16 listed, minus the malformed and the unknown-class annotation
