"""Config → YOLOv3: the one place that reads the legacy model sections.

Sections read (PaddleDetection 0.x layout): ``architecture``, ``YOLOv3: {backbone, yolo_head}``, the
backbone's own section (``MobileNet`` / ``ResNet`` / ``DarkNet``), ``YOLOv3Head`` (anchors, masks,
norm_decay, nms, …), and through the loss ``YOLOv3Loss``, ``num_classes``, ``use_fine_grained_loss``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import paddle

from slimdet.config.defaults import section_with_defaults
from slimdet.config.geometry import YOLOv3Geometry
from slimdet.errors import ConfigError, did_you_mean
from slimdet.modeling._options import reject_unsupported
from slimdet.modeling.backbones import BACKBONES
from slimdet.modeling.head import YOLOv3Head
from slimdet.modeling.layers import zeros_for_random_init
from slimdet.modeling.losses import YOLOv3Loss
from slimdet.modeling.post_process import NMSSettings, YOLOv3PostProcess
from slimdet.modeling.yolov3 import YOLOv3


def build_model(
    cfg: Mapping[str, Any],
    *,
    name_prefix: str = "",
    geometry: YOLOv3Geometry | None = None,
    random_init: bool = True,
) -> YOLOv3:
    """Build the YOLOv3 described by ``cfg`` (shaped like ``Config.to_dict()``), without weights.

    ``random_init=False`` starts the weights at zero: for a caller that loads every weight next, strictly,
    or needs only names, shapes and FLOPs (see ``layers.zeros_for_random_init``).

    ``geometry`` (classes, anchors, masks, strides) is derived from ``cfg`` unless the caller already
    did, to hand the same one to the data pipeline's target assignment; head, loss and
    post-processing all get it.

    ``name_prefix`` is put in front of every legacy parameter and BN-statistic name, so that a teacher
    (``"teacher_"``) can live next to a student. Paddle refuses two parameters with one name in a
    process; each model is therefore built in its own name scope, and rebuilding the same config (a
    fresh student for eval, a sensitivity run) works.
    """
    architecture = cfg.get("architecture")  # a required global
    if architecture != "YOLOv3":
        raise ConfigError(f"architecture: {architecture!r} is not supported (use 'YOLOv3')")
    yolo = section_with_defaults(cfg, "YOLOv3")
    backbone_name = yolo.get("backbone")
    if backbone_name not in BACKBONES:
        raise ConfigError(
            f"YOLOv3.backbone: {backbone_name!r} is not one of {sorted(BACKBONES)}"
            f"{did_you_mean(str(backbone_name), BACKBONES)}"
        )
    if yolo["yolo_head"] != "YOLOv3Head":
        raise ConfigError(f"YOLOv3.yolo_head: {yolo['yolo_head']!r} is not supported (use 'YOLOv3Head')")
    head_section = section_with_defaults(cfg, "YOLOv3Head")
    reject_unsupported(
        "YOLOv3Head",
        head_section,
        {
            "drop_block": (False,),
            "spp": (False,),
            "coord_conv": (False,),
            "iou_aware": (False,),
        },
    )
    geometry = geometry or YOLOv3Geometry.from_config(cfg)
    head_prefix = name_prefix + head_section["weight_prefix_name"]

    with paddle.utils.unique_name.guard(), contextlib.nullcontext() if random_init else zeros_for_random_init():
        backbone = BACKBONES[backbone_name].from_section(
            section_with_defaults(cfg, backbone_name), name_prefix=name_prefix
        )
        if len(backbone.out_channels) != len(geometry.anchor_masks):
            raise ConfigError(
                f"{backbone_name} gives {len(backbone.out_channels)} feature maps but YOLOv3Head.anchor_masks "
                f"describes {len(geometry.anchor_masks)} levels"
            )
        head = YOLOv3Head(
            backbone.out_channels,
            geometry,
            norm_decay=float(head_section["norm_decay"]),
            name_prefix=head_prefix,
            conv_block_num=int(head_section["conv_block_num"]),
        )
    post_process = YOLOv3PostProcess(
        geometry,
        nms=NMSSettings.from_section(head_section["nms"] or {}),
        clip_bbox=bool(head_section["clip_bbox"]),
        scale_x_y=float(head_section["scale_x_y"]),
    )
    return YOLOv3(backbone, head, post_process, YOLOv3Loss.from_config(cfg, geometry), name_prefix=name_prefix)
