"""Datasets by config name: VOC, COCO and plain image folders."""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from slimdet.data._entries import build_entry
from slimdet.data.datasets.base import VOC_CLASSES, DetectionDataset, ImageRecord, Sample
from slimdet.data.datasets.coco import COCODataSet
from slimdet.data.datasets.folder import ImageFolder
from slimdet.data.datasets.voc import VOCDataSet

DATASETS: dict[str, type[DetectionDataset]] = {
    "VOCDataSet": VOCDataSet,
    "COCODataSet": COCODataSet,
    "ImageFolder": ImageFolder,
}

__all__ = [
    "DATASETS",
    "VOC_CLASSES",
    "COCODataSet",
    "DetectionDataset",
    "ImageFolder",
    "ImageRecord",
    "Sample",
    "VOCDataSet",
    "dataset_from_entry",
]


def dataset_from_entry(
    entry: Mapping[str, Any],
    where: str,
    *,
    skip_empty: bool,
    images: Sequence[str | Path] | None = None,
    collect_problems: bool = False,
) -> DetectionDataset:
    """Build the dataset a reader's ``dataset:`` entry describes.

    ``skip_empty`` applies unless the entry sets it; ``images`` (inference) replaces an ImageFolder's
    folder; ``collect_problems`` lists unreadable files in ``.problems`` instead of raising.
    """
    cls = DATASETS.get(entry.get("type")) if isinstance(entry, Mapping) else None
    accepted = inspect.signature(cls).parameters if cls else {}
    extra: dict[str, Any] = {}
    if "skip_empty" in accepted and "skip_empty" not in entry:
        extra["skip_empty"] = skip_empty
    if "collect_problems" in accepted:
        extra["collect_problems"] = collect_problems
    if images is not None and "images" in accepted:
        extra["images"] = list(images)
    return build_entry(DATASETS, entry, where, **extra)
