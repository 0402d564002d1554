"""Every section default of a PaddleDetection 0.x YOLOv3 config, in one table, and the one way to read them.

The legacy code kept its defaults in its classes' constructor signatures (``YOLOv3Head(norm_decay=0.,
conv_block_num=2, ...)``), so a config that leaves a key out means the constructor's value. slimdet builds its
own classes, and before this table each builder repeated the legacy value in its own ``.get(key, default)``
(``batch_size`` → 1 four times). Builders now read a section through ``section_with_defaults`` and index it:
a default is written once, here, and a test holds every key here to the schema (``schema.py``).

Global keys (``metric``, ``log_iter`` …) are not here: their defaults are the ``Config`` fields' own, filled
into ``Config.to_dict()``. Paddle-free, like the rest of ``slimdet.config``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

# (w, h) in pixels of the 608-px network input, indices 0..8.
YOLOV3_ANCHORS: tuple[tuple[int, int], ...] = (
    (10, 13), (16, 30), (33, 23),
    (30, 61), (62, 45), (59, 119),
    (116, 90), (156, 198), (373, 326),
)  # fmt: skip
# Anchor indices used by each output level, coarsest first.
YOLOV3_ANCHOR_MASKS: tuple[tuple[int, ...], ...] = ((6, 7, 8), (3, 4, 5), (0, 1, 2))
# Input pixels per grid cell of each output level, coarsest first.
DOWNSAMPLE_RATIOS: tuple[int, ...] = (32, 16, 8)

_BACKBONE = {"weight_prefix_name": "", "norm_decay": 0.0}
_READER = {"batch_size": 1, "shuffle": False, "drop_last": False, "worker_num": 0, "mixup_epoch": -1}

SECTION_DEFAULTS: dict[str, dict[str, Any]] = {
    "YOLOv3": {"yolo_head": "YOLOv3Head"},
    "YOLOv3Head": {
        "anchors": [list(a) for a in YOLOV3_ANCHORS],
        "anchor_masks": [list(m) for m in YOLOV3_ANCHOR_MASKS],
        "downsample": list(DOWNSAMPLE_RATIOS),
        "yolo_loss": "YOLOv3Loss",
        "norm_decay": 0.0,
        "conv_block_num": 2,  # repeats of 1x1 → 3x3 before each level's route conv
        "clip_bbox": True,
        "scale_x_y": 1.0,
        "weight_prefix_name": "",
        "nms": {},
    },
    "YOLOv3Loss": {"ignore_thresh": 0.7, "label_smooth": True},
    "MobileNet": dict(_BACKBONE),  # conv_decay: none unless written
    "DarkNet": dict(_BACKBONE),
    "ResNet": {**_BACKBONE, "depth": 34, "feature_maps": [3, 4, 5], "freeze_at": 0},
    "LearningRate": {"base_lr": 0.01, "schedulers": [{"type": "PiecewiseDecay"}, {"type": "LinearWarmup"}]},
    "OptimizerBuilder": {"optimizer": {"type": "Momentum"}, "regularizer": {"type": "L2"}, "clip_grad_by_norm": None},
    "TrainReader": dict(_READER),
    "EvalReader": dict(_READER),
    "TestReader": dict(_READER),
}

# Entries of a list or a nested mapping that a ``type`` names (``!PiecewiseDecay {...}``): their defaults.
TAG_DEFAULTS: dict[str, dict[str, Any]] = {
    "PiecewiseDecay": {"gamma": [0.1, 0.1], "milestones": [60000, 80000], "values": None},
    "LinearWarmup": {"steps": 500, "start_factor": 1.0 / 3},
    "Momentum": {"momentum": 0.9, "use_nesterov": False},
    "L2": {"factor": 1e-4},
    "L1": {"factor": 1e-4},
}


def section_with_defaults(cfg: Mapping[str, Any], name: str) -> dict[str, Any]:
    """Section ``name`` of ``cfg`` (``Config.to_dict()`` shape) with every key it leaves out at its default.

    A section that is missing, or not a mapping (``load_config`` reports that), reads as all defaults. The
    result is a copy: builders may keep or change it without touching the config.
    """
    return fill_section(name, cfg.get(name))


def fill_section(name: str, written: Any) -> dict[str, Any]:
    """Section ``name`` as written (a mapping, or anything else for an absent one) with its defaults filled in:
    for a builder handed the section alone (a backbone's ``from_section``)."""
    return copy.deepcopy({**SECTION_DEFAULTS.get(name, {}), **(written if isinstance(written, Mapping) else {})})


def with_tag_defaults(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A tagged entry (``{'type': 'LinearWarmup', ...}``) with the keys it leaves out at its type's defaults."""
    return copy.deepcopy({**TAG_DEFAULTS.get(str(entry.get("type")), {}), **entry})
