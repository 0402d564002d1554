"""Validate a reader's dataset: read every annotation and decode every image, collecting all problems.

Problems are files the loader could not use (missing or corrupt image, malformed XML, unknown class,
image size that disagrees with its annotation); warnings are repairs the reader makes on its own
(boxes clipped to the image or dropped for having no area).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from slimdet.data.build import READERS, Split, reader_config
from slimdet.data.datasets import dataset_from_entry
from slimdet.data.transforms import read_image
from slimdet.errors import ConfigError, DataError


@dataclass(frozen=True)
class ClassStats:
    name: str
    objects: int
    difficult: int
    images: int


@dataclass(frozen=True)
class DataCheckReport:
    split: str
    dataset: str
    dataset_dir: str
    anno_path: str
    images: int
    images_without_objects: int
    objects: int
    difficult: int
    classes: list[ClassStats]
    width_range: tuple[int, int] | None  # (min, max) over the decoded images; None when none decoded
    height_range: tuple[int, int] | None
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


def check_dataset(
    cfg: Mapping[str, Any], split: Split, *, progress: Callable[[int, int], None] | None = None
) -> DataCheckReport:
    """Check the dataset of ``<Split>Reader``; ``progress(done, total)`` is called per image."""
    reader = reader_config(cfg, split)
    entry = reader.get("dataset")
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{READERS[split]} has no dataset entry")
    dataset = dataset_from_entry(entry, f"{READERS[split]}.dataset", skip_empty=False, collect_problems=True)
    problems = list(dataset.problems)
    sizes: list[tuple[int, int]] = []
    for done, record in enumerate(dataset.records, start=1):
        try:
            h, w = read_image(record.im_file, to_rgb=False).shape[:2]
        except DataError as err:
            problems.append(str(err))
        else:
            sizes.append((w, h))
            if record.width and (record.width, record.height) != (w, h):
                problems.append(
                    f"{record.im_file}: the annotation says {record.width}x{record.height}, "
                    f"the image is {w}x{h} (boxes were clipped to the annotation's size)"
                )
        if progress:
            progress(done, len(dataset.records))

    offset = dataset.class_offset
    classes = []
    for index, name in enumerate(dataset.class_names):
        per_image = [r.gt_class == index + offset for r in dataset.records]
        classes.append(
            ClassStats(
                name=name,
                objects=int(sum(m.sum() for m in per_image)),
                difficult=int(sum((r.difficult[m] > 0).sum() for r, m in zip(dataset.records, per_image))),
                images=int(sum(bool(m.any()) for m in per_image)),
            )
        )
    widths, heights = [w for w, _ in sizes], [h for _, h in sizes]
    return DataCheckReport(
        split=split,
        dataset=str(entry.get("type")),
        dataset_dir=str(entry.get("dataset_dir", "")),
        anno_path=str(entry.get("anno_path", "")),
        images=len(dataset.records),
        images_without_objects=sum(len(r.gt_class) == 0 for r in dataset.records),
        objects=sum(len(r.gt_class) for r in dataset.records),
        difficult=int(sum(int(np.sum(r.difficult > 0)) for r in dataset.records)),
        classes=classes,
        width_range=(min(widths), max(widths)) if sizes else None,
        height_range=(min(heights), max(heights)) if sizes else None,
        problems=problems,
        warnings=list(dataset.warnings),
    )
