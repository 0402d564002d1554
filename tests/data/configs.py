"""The legacy yolov3_reader.yml pipeline as a config dict, pointed at a synthetic dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
ANCHORS = [[10, 13], [16, 30], [33, 23], [30, 61], [62, 45], [59, 119], [116, 90], [156, 198], [373, 326]]
ANCHOR_MASKS = [[6, 7, 8], [3, 4, 5], [0, 1, 2]]


def reader_config(root: Path, *, fine_grained: bool = True, size: int = 64, batch_size: int = 4) -> dict[str, Any]:
    """A config dict shaped like Config.to_dict(): the legacy YOLOv3 reader on a 3-class VOC folder."""

    def voc(anno: str) -> dict[str, Any]:
        return {
            "type": "VOCDataSet",
            "dataset_dir": str(root),
            "anno_path": anno,
            "use_default_label": False,
            "with_background": False,
        }

    return {
        "num_classes": 3,
        "use_fine_grained_loss": fine_grained,
        "save_dir": str(root.parent / "output"),
        "TrainReader": {
            "inputs_def": {"fields": ["image", "gt_bbox", "gt_class", "gt_score"], "num_max_boxes": 50},
            "dataset": voc("trainval.txt"),
            "sample_transforms": [
                {"type": "DecodeImage", "to_rgb": True, "with_mixup": True},
                {"type": "MixupImage", "alpha": 1.5, "beta": 1.5},
                {"type": "ColorDistort"},
                {"type": "RandomExpand", "fill_value": [123.675, 116.28, 103.53]},
                {"type": "RandomCrop"},
                {"type": "RandomFlipImage", "is_normalized": False},
                {"type": "NormalizeBox"},
                {"type": "PadBox", "num_max_boxes": 50},
                {"type": "BboxXYXY2XYWH"},
            ],
            "batch_transforms": [
                {"type": "RandomShape", "sizes": [size, size + 32], "random_inter": True},
                {"type": "NormalizeImage", "mean": MEAN, "std": STD, "is_scale": True, "is_channel_first": False},
                {"type": "Permute", "to_bgr": False, "channel_first": True},
                {
                    "type": "Gt2YoloTarget",
                    "anchor_masks": ANCHOR_MASKS,
                    "anchors": ANCHORS,
                    "downsample_ratios": [32, 16, 8],
                },
            ],
            "batch_size": batch_size,
            "shuffle": True,
            "mixup_epoch": 250,
            "drop_last": True,
            "worker_num": 8,
        },
        "EvalReader": {
            "inputs_def": {
                "fields": ["image", "im_size", "im_id", "gt_bbox", "gt_class", "is_difficult"],
                "num_max_boxes": 50,
            },
            "dataset": voc("test.txt"),
            "sample_transforms": [
                {"type": "DecodeImage", "to_rgb": True},
                {"type": "ResizeImage", "target_size": size, "interp": 2},
                {"type": "NormalizeImage", "mean": MEAN, "std": STD, "is_scale": True, "is_channel_first": False},
                {"type": "PadBox", "num_max_boxes": 50},
                {"type": "Permute", "to_bgr": False, "channel_first": True},
            ],
            "batch_size": batch_size,
            "worker_num": 8,
        },
        "TestReader": {
            "inputs_def": {"image_shape": [3, size, size], "fields": ["image", "im_size", "im_id"]},
            "dataset": {"type": "ImageFolder", "use_default_label": False, "dataset_dir": str(root)},
            "sample_transforms": [
                {"type": "DecodeImage", "to_rgb": True},
                {"type": "ResizeImage", "target_size": size, "interp": 2},
                {"type": "NormalizeImage", "mean": MEAN, "std": STD, "is_scale": True, "is_channel_first": False},
                {"type": "Permute", "to_bgr": False, "channel_first": True},
            ],
            "batch_size": 1,
        },
    }
