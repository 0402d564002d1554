"""YOLOv3: backbone → head → (train) loss or (eval) post-processing.

Reads top to bottom like torchvision's detectors: the parts are given to the constructor, ``forward``
computes the raw maps once and then either returns the loss dict (train) or the detections (eval).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import paddle
from paddle import nn

from slimdet.config.geometry import YOLOv3Geometry
from slimdet.modeling.head import YOLOv3Head
from slimdet.modeling.post_process import YOLOv3PostProcess

LossFn = Callable[[list[paddle.Tensor], Mapping[str, paddle.Tensor]], dict[str, paddle.Tensor]]


class YOLOv3(nn.Layer):
    """A YOLOv3 detector whose persistables carry PaddleDetection 0.x names.

    * ``raw_outputs(image)``: per level, coarsest first, [N, A·(5+C), H/r, W/r] for r = 32, 16, 8.
    * ``raw_outputs_and_tips(image)``: those and, per level, the tip feature map the output conv reads.
    * ``forward(image, im_size=None, gt=None)``: in train mode ``loss(outputs, gt)`` plus
      ``{"head_outputs": outputs, "head_tips": tips}`` (the tips cost nothing: they are computed anyway, and
      kept for the backward pass); in eval mode ``{"bbox": [K, 6] (class, score, x1, y1, x2, y2 in
      original pixels), "bbox_num": [N] int32}``. Without ``im_size`` the input size is used, i.e.
      boxes come out in network-input pixels.
    * ``name_prefix``: what was put in front of every legacy name (``""`` or e.g. ``"teacher_"``).
    """

    def __init__(
        self,
        backbone: nn.Layer,
        head: YOLOv3Head,
        post_process: YOLOv3PostProcess,
        loss: LossFn | None = None,
        *,
        name_prefix: str = "",
    ) -> None:
        super().__init__()
        if head.geometry != post_process.geometry:
            raise ValueError(
                f"head and post-process were given different geometries: {head.geometry} vs {post_process.geometry}"
            )
        self.backbone = backbone
        self.head = head
        self.post_process = post_process
        self.loss = loss
        self.name_prefix = name_prefix

    @property
    def geometry(self) -> YOLOv3Geometry:
        """Classes, anchors, masks and strides: the one geometry head, post-processing and loss share."""
        return self.head.geometry

    @property
    def num_classes(self) -> int:
        return self.geometry.num_classes

    @property
    def anchors(self) -> list[list[float]]:
        return [list(a) for a in self.geometry.anchors]

    @property
    def anchor_masks(self) -> list[list[int]]:
        return [list(m) for m in self.geometry.anchor_masks]

    @property
    def downsample_ratios(self) -> list[int]:
        return list(self.geometry.strides)

    def raw_outputs(self, image: paddle.Tensor) -> list[paddle.Tensor]:
        return self.head(self.backbone(image))

    def raw_outputs_and_tips(self, image: paddle.Tensor) -> tuple[list[paddle.Tensor], list[paddle.Tensor]]:
        return self.head.outputs_and_tips(self.backbone(image))

    def forward(
        self,
        image: paddle.Tensor,
        im_size: paddle.Tensor | None = None,
        gt: Mapping[str, paddle.Tensor] | None = None,
    ) -> dict[str, Any]:
        if self.training:
            if self.loss is None or gt is None:
                raise ValueError("train mode needs a loss and gt; call model.eval() to get detections instead")
            outputs, tips = self.raw_outputs_and_tips(image)
            return {**self.loss(outputs, gt), "head_outputs": outputs, "head_tips": tips}
        outputs = self.raw_outputs(image)
        if im_size is None:
            hw = paddle.cast(paddle.shape(image)[2:4], "int32")
            im_size = paddle.expand(paddle.unsqueeze(hw, 0), [paddle.shape(image)[0], 2])
        return self.post_process(outputs, im_size)
