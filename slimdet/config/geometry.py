"""The one YOLOv3 geometry: classes, anchors, masks and strides, derived once from a config.

The legacy configs spell the strides three times (``YOLOv3Head.downsample``, ``YOLOv3Loss.downsample``,
``Gt2YoloTarget.downsample_ratios``) and the anchors twice; nothing checked that they agree. Here they are
read once: the head, the loss, the post-processing and the target assignment (``Gt2YoloTarget``) are all
given the same ``YOLOv3Geometry``, and a config whose copies disagree is an error. Defaults are the legacy
VOC/COCO ones (``config/defaults.py``; docs/legacy.md, "YOLOv3 geometry"). Level 0 is the coarsest map (stride 32) and gets the
three largest anchors.

It lives with the config (paddle-free) because both the model and the data pipeline need it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from slimdet.config.defaults import DOWNSAMPLE_RATIOS, YOLOV3_ANCHOR_MASKS, YOLOV3_ANCHORS, section_with_defaults
from slimdet.errors import ConfigError

HEAD_SECTION = "YOLOv3Head"


def level_anchors(anchors: Sequence[Sequence[int]], mask: Sequence[int]) -> list[int]:
    """The anchors of one level flattened to ``[w0, h0, w1, h1, …]``: the integer layout ``yolo_box`` takes."""
    return [int(value) for index in mask for value in anchors[index]]


@dataclass(frozen=True)
class YOLOv3Geometry:
    """What a YOLOv3's outputs mean: ``num_classes``, ``anchors`` ([w, h] in input pixels), ``anchor_masks``
    (each level's anchor indices, coarsest first) and ``strides`` (input pixels per cell of each level)."""

    num_classes: int
    anchors: tuple[tuple[float, ...], ...] = YOLOV3_ANCHORS
    anchor_masks: tuple[tuple[int, ...], ...] = YOLOV3_ANCHOR_MASKS
    strides: tuple[int, ...] = DOWNSAMPLE_RATIOS

    def __post_init__(self) -> None:
        object.__setattr__(self, "anchors", tuple(tuple(anchor) for anchor in self.anchors))
        object.__setattr__(self, "anchor_masks", tuple(tuple(int(i) for i in mask) for mask in self.anchor_masks))
        object.__setattr__(self, "strides", tuple(int(s) for s in self.strides))
        problems = []
        if not (isinstance(self.num_classes, int) and self.num_classes >= 1):
            problems.append(f"num_classes must be a positive integer, got {self.num_classes!r}")
        if any(len(a) != 2 for a in self.anchors):
            problems.append(f"{HEAD_SECTION}.anchors: every anchor must be [w, h]")
        bad = sorted({i for m in self.anchor_masks for i in m if not 0 <= i < len(self.anchors)})
        if bad:
            problems.append(f"{HEAD_SECTION}.anchor_masks: indices {bad} are outside the {len(self.anchors)} anchors")
        if len(self.strides) != len(self.anchor_masks):
            problems.append(
                f"{HEAD_SECTION}.downsample: {len(self.strides)} ratios for {len(self.anchor_masks)} anchor masks "
                "(need one per level)"
            )
        if problems:
            raise ConfigError("; ".join(problems))

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> YOLOv3Geometry:
        """Read the geometry of a merged config (``Config.to_dict()`` shape); ``ConfigError`` when its copies
        disagree (see ``geometry_problems``) or do not fit together."""
        if "num_classes" not in cfg:
            raise ConfigError("the YOLOv3 loss needs num_classes in the config: add num_classes: <N>")
        head = section_with_defaults(cfg, HEAD_SECTION)
        geometry = cls(
            num_classes=int(cfg["num_classes"]),
            anchors=tuple(tuple(a) for a in head["anchors"]),
            anchor_masks=tuple(tuple(m) for m in head["anchor_masks"]),
            strides=tuple(head["downsample"]),
        )  # raises first when the head's own settings do not fit together
        problems = geometry_problems(cfg)
        if problems:
            raise ConfigError("; ".join(problems))
        return geometry

    @property
    def anchors_per_level(self) -> list[int]:
        return [len(mask) for mask in self.anchor_masks]

    def level_anchors(self, level: int) -> list[int]:
        """Level ``level``'s anchors as ``[w0, h0, w1, h1, …]`` integers (``yolo_box``'s layout)."""
        return level_anchors(self.anchors, self.anchor_masks[level])

    def target_settings(self) -> dict[str, Any]:
        """The keyword arguments ``Gt2YoloTarget`` takes from the geometry."""
        return {
            "anchors": [list(a) for a in self.anchors],
            "anchor_masks": [list(m) for m in self.anchor_masks],
            "downsample_ratios": list(self.strides),
            "num_classes": self.num_classes,
        }


def geometry_problems(cfg: Mapping[str, Any]) -> list[str]:
    """Where the loss section's ``downsample`` disagrees with ``YOLOv3Head``'s (``load_config`` reports it)."""
    head = section_with_defaults(cfg, HEAD_SECTION)
    expected = _as_lists(head["downsample"])
    loss_name, loss = _loss_section(cfg, head)
    if isinstance(loss, Mapping) and "downsample" in loss and _as_lists(loss["downsample"]) != expected:
        return [
            f"{loss_name}.downsample {_as_lists(loss['downsample'])} disagrees with {HEAD_SECTION}.downsample "
            f"{expected}: give both the same strides (one per output level)"
        ]
    return []


def target_problems(entry: Mapping[str, Any], geometry: YOLOv3Geometry, where: str) -> list[str]:
    """Where a ``Gt2YoloTarget`` entry spells out anchors, masks or strides other than ``geometry``'s.

    Checked when the training pipeline is built: only training lays out targets, so a teacher or an
    exported model is not held to its reader.
    """
    expected = {
        "anchors": _as_lists(geometry.anchors),
        "anchor_masks": _as_lists(geometry.anchor_masks),
        "downsample_ratios": list(geometry.strides),
    }
    return [
        f"{where}.{key} {_as_lists(entry[key])} disagrees with the model's {expected[key]} "
        f"({HEAD_SECTION}): the targets must be laid out like the head's outputs"
        for key in expected
        if entry.get(key) is not None and _as_lists(entry[key]) != expected[key]
    ]


def _loss_section(cfg: Mapping[str, Any], head: Mapping[str, Any]) -> tuple[str, Any]:
    """The loss section the head names in ``yolo_loss`` (or an inline ``!YOLOv3Loss {...}``)."""
    named = head["yolo_loss"]
    if isinstance(named, Mapping):
        return f"{HEAD_SECTION}.yolo_loss", named
    return str(named), cfg.get(str(named)) or {}


def _as_lists(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_as_lists(v) for v in value]
    return value
