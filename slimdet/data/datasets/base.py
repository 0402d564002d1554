"""What every dataset hands to the transforms: one record per image, and the class names.

Boxes are float32 ``x1, y1, x2, y2`` in pixels of the original image, inclusive pixel indices as in
PASCAL VOC (a box never reaches past ``w - 1`` / ``h - 1``). Class ids start at 0, or at 1 when
``with_background`` is true (PaddleDetection's convention for detectors with a background class;
YOLOv3 configs set it false).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from slimdet.errors import DataError

# PaddleDetection's built-in PASCAL VOC label map (use_default_label: true), in id order.
VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
    "tvmonitor",
)  # fmt: skip

Sample = dict[str, Any]


@dataclass(frozen=True)
class ImageRecord:
    """One image and its annotation, as read from disk (never modified afterwards)."""

    im_file: str
    im_id: int
    height: int = 0  # 0 = not known until the image is decoded (ImageFolder)
    width: int = 0
    gt_bbox: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    gt_class: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    difficult: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))

    def to_sample(self) -> Sample:
        """A fresh, mutable sample dict for the transforms (arrays are copies)."""
        return {
            "im_file": self.im_file,
            "im_id": self.im_id,
            "h": self.height,
            "w": self.width,
            "gt_bbox": self.gt_bbox.copy(),
            "gt_class": self.gt_class.copy(),
            "gt_score": np.ones(len(self.gt_class), np.float32),
            "difficult": self.difficult.copy(),
        }


class DetectionDataset:
    """A list of ``ImageRecord`` plus class names; indexing gives a fresh sample dict.

    ``problems`` holds one line per file that could not be read (only filled when the dataset was built
    with ``collect_problems=True``; otherwise the first problem raises ``DataError``). ``warnings``
    holds one line per repaired annotation (box clipped to the image, box without area dropped,
    image without objects skipped).
    """

    def __init__(self, records: Sequence[ImageRecord], class_names: Sequence[str], *, with_background: bool):
        self.records = list(records)
        self.class_names = list(class_names)
        self.with_background = with_background
        self.problems: list[str] = []
        self.warnings: list[str] = []

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> Sample:
        return self.records[index].to_sample()

    @property
    def class_offset(self) -> int:
        """Added to a class's index in ``class_names`` to get its id in ``gt_class``."""
        return 1 if self.with_background else 0

    def _admit(self, read: Callable[[], ImageRecord], *, collect_problems: bool, skip_empty: bool) -> None:
        """Read one image's record and keep it, the one way every annotation format does: a ``DataError``
        is raised, or noted in ``problems`` with ``collect_problems``; an image without objects is skipped
        (with a warning) when ``skip_empty``."""
        try:
            record = read()
        except DataError as err:
            if not collect_problems:
                raise
            self.problems.append(str(err))
            return
        if len(record.gt_class) == 0 and skip_empty:
            self.warnings.append(f"{record.im_file}: no objects; skipped")
            return
        self.records.append(record)


def read_label_list(path: Path) -> list[str]:
    """Class names, one per line (blank lines ignored), as in PaddleDetection's label_list.txt."""
    try:
        names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    except FileNotFoundError:
        raise DataError(
            f"label list {path} not found: write one class name per line there, "
            "or set use_default_label: true for the 20 VOC classes"
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read label list {path}: {err}") from None
    if not names:
        raise DataError(f"label list {path} is empty: write one class name per line")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise DataError(f"label list {path} names {', '.join(duplicates)} more than once")
    return names


def class_names_for(dataset_dir: Path, use_default_label: bool, label_list: str) -> list[str]:
    """The 20 VOC names, or the label list file inside ``dataset_dir``."""
    if use_default_label:
        return list(VOC_CLASSES)
    return read_label_list(dataset_dir / label_list)


def existing_dir(path: str | Path, what: str) -> Path:
    """``path`` as a Path, or a DataError saying how to get the folder."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise DataError(
            f"{what} {folder} does not exist: point the config's dataset_dir at your data, "
            f"or create synthetic data with 'slimdet data synth --out {folder}'"
        )
    return folder


def clip_boxes(boxes: np.ndarray, width: float, height: float) -> np.ndarray:
    """Boxes clipped to the inclusive pixel range [0, w-1] × [0, h-1]."""
    clipped = boxes.copy()
    clipped[:, 0::2] = np.clip(clipped[:, 0::2], 0, max(width - 1, 0))
    clipped[:, 1::2] = np.clip(clipped[:, 1::2], 0, max(height - 1, 0))
    return clipped
