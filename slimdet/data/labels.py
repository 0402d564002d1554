"""Class names without the dataset: what export and infer need on a machine that has weights, not data.

A detector's outputs are class ids; turning them into names needs only the label map, never the images
or annotations. In order, the names come from:

1. what the reader's dataset entry states by itself: the 20 VOC names (``use_default_label``) or its
   label list file, when that file is there;
2. what training recorded beside the weights: ``<checkpoint>.labels.txt`` (one name per line, the
   format of a label list), written with every checkpoint and ``best_model``;
3. the dataset itself (a COCO json's categories), read only when neither of the above answers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from slimdet._files import write_text_atomic
from slimdet.data.datasets.base import VOC_CLASSES, read_label_list
from slimdet.data.datasets.folder import folder_class_names
from slimdet.errors import DataError

LABELS_SUFFIX = ".labels.txt"
_WEIGHTS_SUFFIX = ".pdparams"


def labels_path(checkpoint: str | os.PathLike[str]) -> Path:
    """``out/best_model`` or ``out/best_model.pdparams`` → ``out/best_model.labels.txt``."""
    path = Path(checkpoint)
    name = path.name.removesuffix(_WEIGHTS_SUFFIX)
    return path.with_name(name + LABELS_SUFFIX)


def save_class_names(names: Sequence[str], checkpoint: str | os.PathLike[str]) -> Path:
    """Record ``names`` (in class-id order) beside a checkpoint, atomically."""
    return write_text_atomic(labels_path(checkpoint), "".join(f"{name}\n" for name in names))


def recorded_class_names(weights: str | None) -> list[str] | None:
    """The names recorded beside local ``weights`` at training time, or None (URL, legacy release, none)."""
    if not weights or "://" in weights:
        return None
    path = labels_path(weights)
    return read_label_list(path) if path.is_file() else None


def declared_class_names(entry: Any) -> list[str] | None:
    """The names a dataset entry states without its images or annotations being read, or None when they
    live in the annotations (COCO) or in a label list file that is not on this machine."""
    if not isinstance(entry, Mapping):
        return None
    kind = entry.get("type")
    root = Path(str(entry["dataset_dir"])).expanduser() if entry.get("dataset_dir") else None
    label_list = str(entry.get("label_list", "label_list.txt"))
    if kind == "ImageFolder":
        try:
            return folder_class_names(root, entry.get("anno_path"), entry.get("use_default_label"), label_list)
        except DataError:  # its label list or json is not here
            return None
    if kind != "VOCDataSet":
        return None
    if entry.get("use_default_label", True):  # the VOC reader's default, as in the legacy code
        return list(VOC_CLASSES)
    path = (root or Path()) / label_list
    return read_label_list(path) if path.is_file() else None


def class_names_for_model(cfg: Mapping[str, Any], split: str, weights: str | None) -> list[str]:
    """The class names of a trained model: stated by the config, recorded beside ``weights``, or read from
    the ``split``'s dataset, in that order (see the module docstring)."""
    from slimdet.data.build import READERS, build_dataset, reader_config

    entry = reader_config(cfg, split).get("dataset")
    names = declared_class_names(entry) or recorded_class_names(weights)
    if names:
        return names
    try:
        return build_dataset(cfg, split).class_names  # type: ignore[arg-type]
    except DataError as err:
        beside = f"; {labels_path(weights).name} is not beside the weights either" if weights else ""
        raise DataError(
            f"the class names of {READERS[split]}.dataset cannot be read ({err}){beside}: "
            "put the label list where the config's label_list says, or set use_default_label: true for the "
            "20 VOC classes"
        ) from None
