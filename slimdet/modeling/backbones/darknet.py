"""DarkNet53 as PaddleDetection 0.x's yolov3_darknet uses it (docs/legacy.md, "Parameter names").

conv + BN + LeakyReLU(0.1) units with dotted names, like the head: ``yolo_input``,
``yolo_input.downsample``, ``stage.{i}.{j}.{0,1}`` (1x1 then 3x3 with an identity residual) and
``stage.{i}.downsample`` between stages; each ``<unit>.conv.weights`` + ``<unit>.bn.scale|offset|mean|var``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import paddle
from paddle import nn

from slimdet.config.defaults import fill_section
from slimdet.modeling._options import reject_unsupported
from slimdet.modeling.layers import ConvBN, UnitNames

STAGE_BLOCKS = (1, 2, 8, 8, 4)  # DarkNet53
FEATURE_STAGES = (2, 3, 4)  # 256@8, 512@16, 1024@32


class Residual(nn.Layer):
    """1x1 (C) → 3x3 (2C), added to the input."""

    def __init__(self, channels: int, unit: str, *, norm_decay: float) -> None:
        super().__init__()
        self.reduce = ConvBN(
            2 * channels, channels, 1, UnitNames.dotted(f"{unit}.0"), act="leaky", norm_decay=norm_decay
        )
        self.expand = ConvBN(
            channels, 2 * channels, 3, UnitNames.dotted(f"{unit}.1"), act="leaky", norm_decay=norm_decay
        )

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return x + self.expand(self.reduce(x))


class DarkNet(nn.Layer):
    """Returns the outputs of stages 2, 3 and 4 (256, 512, 1024 channels), finest first."""

    def __init__(self, *, name_prefix: str = "", norm_decay: float = 0.0) -> None:
        super().__init__()

        def unit(name: str, in_channels: int, out_channels: int, kernel: int, stride: int = 1) -> ConvBN:
            return ConvBN(
                in_channels, out_channels, kernel, UnitNames.dotted(name_prefix + name),
                stride=stride, act="leaky", norm_decay=norm_decay,
            )  # fmt: skip

        self.stem = nn.Sequential(unit("yolo_input", 3, 32, 3), unit("yolo_input.downsample", 32, 64, 3, stride=2))
        stages, downsamples = [], []
        for i, blocks in enumerate(STAGE_BLOCKS):
            channels = 32 * 2**i
            stages.append(
                nn.Sequential(
                    *(Residual(channels, f"{name_prefix}stage.{i}.{j}", norm_decay=norm_decay) for j in range(blocks))
                )
            )
            if i < len(STAGE_BLOCKS) - 1:
                downsamples.append(unit(f"stage.{i}.downsample", 2 * channels, 4 * channels, 3, stride=2))
        self.stages = nn.LayerList(stages)
        self.downsamples = nn.LayerList(downsamples)
        self.out_channels = [64 * 2**i for i in FEATURE_STAGES]

    @classmethod
    def from_section(cls, section: Mapping[str, Any], *, name_prefix: str = "") -> DarkNet:
        """Build from the legacy ``DarkNet:`` config section."""
        section = fill_section("DarkNet", section)  # unwritten keys at their legacy defaults
        reject_unsupported("DarkNet", section, {"depth": (53,), "norm_type": ("bn", "sync_bn"), "freeze_at": (0,)})
        return cls(
            name_prefix=name_prefix + section["weight_prefix_name"],
            norm_decay=float(section["norm_decay"]),
        )

    def forward(self, x: paddle.Tensor) -> list[paddle.Tensor]:
        x = self.stem(x)
        features = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in FEATURE_STAGES:
                features.append(x)
            if i < len(self.downsamples):
                x = self.downsamples[i](x)
        return features
