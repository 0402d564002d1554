"""Raw YOLOv3 maps → boxes in original-image pixels: ``yolo_box`` per level, then multiclass NMS.

The legacy rules are in docs/legacy.md, "Post-processing".

Nothing here branches in Python on tensor values, so the same code runs eagerly and under
``paddle.jit.to_static`` (export). The only Python branch is on the execution mode, because the
multiclass NMS kernel is reached differently in dygraph (``_C_ops``) and in a static program (an op).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import paddle
from paddle import nn

from slimdet.config.geometry import YOLOv3Geometry
from slimdet.errors import ConfigError


@dataclass(frozen=True)
class NMSSettings:
    """The legacy ``MultiClassNMS`` settings (defaults of the VOC configs)."""

    score_threshold: float = 0.01  # also yolo_box's conf_thresh
    nms_top_k: int = 1000  # per class, before NMS
    keep_top_k: int = 100  # per image, after NMS
    nms_threshold: float = 0.45
    normalized: bool = False  # False: areas use the +1 pixel convention
    background_label: int = -1  # -1: no class is skipped
    nms_eta: float = 1.0  # 1: no adaptive threshold

    @classmethod
    def from_section(cls, section: Mapping[str, Any]) -> NMSSettings:
        """Read ``YOLOv3Head.nms``; its ``type`` must be ``MultiClassNMS`` when given."""
        section = dict(section)
        kind = section.pop("type", "MultiClassNMS")
        if kind != "MultiClassNMS":
            raise ConfigError(f"YOLOv3Head.nms: type {kind!r} is not supported (use 'MultiClassNMS')")
        unknown = sorted(set(section) - set(cls.__dataclass_fields__))
        if unknown:
            raise ConfigError(f"YOLOv3Head.nms: unknown keys {unknown} (known: {sorted(cls.__dataclass_fields__)})")
        types = {name: type(value) for name, value in asdict(cls()).items()}
        return cls(**{key: types[key](value) for key, value in section.items()})


def multiclass_nms(
    boxes: paddle.Tensor, scores: paddle.Tensor, nms: NMSSettings
) -> tuple[paddle.Tensor, paddle.Tensor]:
    """Per-class NMS of ``boxes`` [N, M, 4] with ``scores`` [N, C, M].

    Returns rows [K, 6] (class, score, x1, y1, x2, y2), grouped by image, and the per-image counts
    [N] int32. K may be 0 (an empty [0, 6] tensor).
    """
    args = (
        nms.score_threshold, nms.nms_top_k, nms.keep_top_k, nms.nms_threshold,
        nms.normalized, nms.nms_eta, nms.background_label,
    )  # fmt: skip
    if paddle.in_dynamic_mode():
        rows, _index, counts = paddle._C_ops.multiclass_nms3(boxes, scores, None, *args)
        return rows, counts
    helper = paddle.base.layer_helper.LayerHelper("multiclass_nms3")
    rows = helper.create_variable_for_type_inference(dtype=boxes.dtype)
    index = helper.create_variable_for_type_inference(dtype="int32")
    counts = helper.create_variable_for_type_inference(dtype="int32")
    names = ("score_threshold", "nms_top_k", "keep_top_k", "nms_threshold", "normalized", "nms_eta", "background_label")
    helper.append_op(
        type="multiclass_nms3",
        inputs={"BBoxes": boxes, "Scores": scores},
        outputs={"Out": rows, "Index": index, "NmsRoisNum": counts},
        attrs=dict(zip(names, args)),
    )
    for out in (rows, index, counts):
        out.stop_gradient = True
    return rows, counts


class YOLOv3PostProcess(nn.Layer):
    """Decode each level with ``paddle.vision.ops.yolo_box`` and keep the best boxes with multiclass NMS.

    ``im_size`` [N, 2] holds each image's original (h, w): ``yolo_box`` scales x by w and y by h, so
    boxes come out in original pixels although the network saw a stretched square image.
    """

    def __init__(
        self,
        geometry: YOLOv3Geometry,
        *,
        nms: NMSSettings | None = None,
        clip_bbox: bool = True,
        scale_x_y: float = 1.0,
    ) -> None:
        super().__init__()
        self.geometry = geometry
        self.nms = nms or NMSSettings()
        self.clip_bbox = clip_bbox
        self.scale_x_y = scale_x_y

    def forward(self, outputs: Sequence[paddle.Tensor], im_size: paddle.Tensor) -> dict[str, paddle.Tensor]:
        im_size = paddle.cast(im_size, "int32")
        boxes, scores = [], []
        for level, (output, stride) in enumerate(zip(outputs, self.geometry.strides)):
            level_boxes, level_scores = paddle.vision.ops.yolo_box(
                output,
                im_size,
                anchors=self.geometry.level_anchors(level),
                class_num=self.geometry.num_classes,
                conf_thresh=self.nms.score_threshold,
                downsample_ratio=stride,
                clip_bbox=self.clip_bbox,
                scale_x_y=self.scale_x_y,
            )
            boxes.append(level_boxes)
            scores.append(paddle.transpose(level_scores, [0, 2, 1]))
        bbox, bbox_num = multiclass_nms(paddle.concat(boxes, axis=1), paddle.concat(scores, axis=2), self.nms)
        return {"bbox": bbox, "bbox_num": bbox_num}
