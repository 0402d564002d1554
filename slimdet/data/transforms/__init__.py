"""The legacy YOLOv3 reader's transforms, by the names PaddleDetection 0.x configs use.

``SAMPLE_TRANSFORMS`` may appear under ``sample_transforms`` and under ``batch_transforms`` (applied to
each sample of the batch); ``BATCH_TRANSFORMS`` only under ``batch_transforms``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from slimdet.data._entries import build_entry
from slimdet.data.transforms.base import BatchTransform, Sample, SampleTransform
from slimdet.data.transforms.batch import PerSample, RandomShape
from slimdet.data.transforms.boxes import BboxXYXY2XYWH, NormalizeBox, PadBox
from slimdet.data.transforms.geometry import RandomCrop, RandomExpand, RandomFlipImage
from slimdet.data.transforms.image import (
    ColorDistort,
    DecodeImage,
    MixupImage,
    NormalizeImage,
    Permute,
    ResizeImage,
    read_image,
)
from slimdet.data.transforms.yolo_target import Gt2YoloTarget
from slimdet.errors import ConfigError

SAMPLE_TRANSFORMS: dict[str, type] = {
    "DecodeImage": DecodeImage,
    "MixupImage": MixupImage,
    "ColorDistort": ColorDistort,
    "RandomExpand": RandomExpand,
    "RandomCrop": RandomCrop,
    "RandomFlipImage": RandomFlipImage,
    "NormalizeBox": NormalizeBox,
    "PadBox": PadBox,
    "BboxXYXY2XYWH": BboxXYXY2XYWH,
    "ResizeImage": ResizeImage,
    "NormalizeImage": NormalizeImage,
    "Permute": Permute,
}
BATCH_TRANSFORMS: dict[str, type] = {"RandomShape": RandomShape, "Gt2YoloTarget": Gt2YoloTarget}

__all__ = [
    "BATCH_TRANSFORMS",
    "SAMPLE_TRANSFORMS",
    "BatchTransform",
    "BboxXYXY2XYWH",
    "ColorDistort",
    "DecodeImage",
    "Gt2YoloTarget",
    "MixupImage",
    "NormalizeBox",
    "NormalizeImage",
    "PadBox",
    "PerSample",
    "Permute",
    "RandomCrop",
    "RandomExpand",
    "RandomFlipImage",
    "RandomShape",
    "ResizeImage",
    "Sample",
    "SampleTransform",
    "build_batch_transform",
    "build_sample_transform",
    "read_image",
]


def build_sample_transform(entry: Mapping[str, Any], where: str) -> SampleTransform:
    """A sample transform from its config entry; batch-only types get a message saying where they belong."""
    if isinstance(entry, Mapping) and entry.get("type") in BATCH_TRANSFORMS:
        raise ConfigError(f"{where}: {entry['type']} works on whole batches: move it to batch_transforms")
    return build_entry(SAMPLE_TRANSFORMS, entry, where)


def build_batch_transform(entry: Mapping[str, Any], where: str) -> BatchTransform:
    """A batch transform from its config entry; sample transforms are wrapped to run on each sample."""
    if isinstance(entry, Mapping) and entry.get("type") in SAMPLE_TRANSFORMS:
        return PerSample(build_entry(SAMPLE_TRANSFORMS, entry, where))
    return build_entry({**BATCH_TRANSFORMS, **SAMPLE_TRANSFORMS}, entry, where)
