"""Images without annotations, for inference (TestReader): a list of files and folders.

The class names still matter (they label the detections). They come from the 20 VOC names when
``use_default_label`` is true; otherwise from ``anno_path`` (a COCO .json, as the COCO configs give, or a
label list .txt), else from ``dataset_dir/label_list``; with neither, and ``use_default_label`` unset,
the VOC names.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from slimdet.data.datasets.base import VOC_CLASSES, DetectionDataset, ImageRecord, read_label_list
from slimdet.data.datasets.coco import load_coco_json
from slimdet.errors import DataError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp"})


class ImageFolder(DetectionDataset):
    """The images given (files, or folders whose images are taken in name order)."""

    def __init__(
        self,
        dataset_dir: str | None = None,
        image_dir: str | None = None,
        anno_path: str | None = None,
        *,
        images: Sequence[str | Path] | None = None,
        use_default_label: bool | None = None,
        label_list: str = "label_list.txt",
        with_background: bool = True,
        sample_num: int = -1,
    ):
        root = Path(dataset_dir).expanduser() if dataset_dir else None
        names = folder_class_names(root, anno_path, use_default_label, label_list)
        super().__init__([], names, with_background=with_background)
        if images is None:
            if root is None:
                raise DataError("no images to read: pass image files or folders, or set dataset_dir/image_dir")
            images = [root / image_dir if image_dir else root]
        files = _image_files(images)
        if 0 <= sample_num < len(files):
            files = files[:sample_num]
        self.records = [ImageRecord(im_file=str(f), im_id=i) for i, f in enumerate(files)]


def folder_class_names(
    root: Path | None, anno_path: str | None, use_default_label: bool | None, label_list: str
) -> list[str]:
    """An ImageFolder entry's class names, by the rules of the module docstring (no image is read)."""
    if use_default_label:
        return list(VOC_CLASSES)
    if anno_path:
        path = root / anno_path if root and not Path(anno_path).is_absolute() else Path(anno_path)
        if not path.is_file():
            raise DataError(
                f"anno_path {path} not found: the class names come from it (a COCO json or a label list); "
                "fix the path or set use_default_label: true for the 20 VOC classes"
            )
        if path.suffix == ".json":
            return [str(c["name"]) for c in sorted(load_coco_json(path)["categories"], key=lambda c: int(c["id"]))]
        return read_label_list(path)
    if root is not None:
        return read_label_list(root / label_list)
    if use_default_label is None:
        return list(VOC_CLASSES)
    raise DataError("use_default_label is false: set anno_path (a label list or COCO json) or dataset_dir")


def _image_files(entries: Sequence[str | Path]) -> list[Path]:
    files: list[Path] = []
    for entry in map(Path, entries):
        if entry.is_dir():
            files += sorted(p for p in entry.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        elif entry.is_file():
            files.append(entry)
        else:
            raise DataError(f"image {entry} not found")
    if not files:
        raise DataError(f"no images (.jpg, .jpeg, .png, .bmp) in {', '.join(map(str, entries))}")
    return files
