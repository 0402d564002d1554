"""MobileNetV1 as PaddleDetection 0.x's yolov3_mobilenet_v1 uses it (docs/legacy.md, "Parameter names").

27 conv + BN + ReLU units: ``conv1`` then 13 depthwise-separable pairs ``<n>_dw`` / ``<n>_sep``.
Every persistable is named ``<unit>_weights`` / ``<unit>_bn_scale|_offset|_mean|_variance``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import paddle
from paddle import nn
from paddle.regularizer import L2Decay

from slimdet.config.defaults import fill_section
from slimdet.modeling._options import reject_unsupported
from slimdet.modeling.layers import ConvBN, UnitNames

# (unit name, output channels, stride) of each depthwise-separable pair, in order.
SEPARABLE_UNITS: tuple[tuple[str, int, int], ...] = (
    ("conv2_1", 64, 1),
    ("conv2_2", 128, 2),
    ("conv3_1", 128, 1),
    ("conv3_2", 256, 2),
    ("conv4_1", 256, 1),
    ("conv4_2", 512, 2),
    ("conv5_1", 512, 1),
    ("conv5_2", 512, 1),
    ("conv5_3", 512, 1),
    ("conv5_4", 512, 1),
    ("conv5_5", 512, 1),
    ("conv5_6", 1024, 2),
    ("conv6", 1024, 1),
)
# The pairs whose pointwise output feeds the head: strides 8, 16 and 32.
FEATURE_UNITS = ("conv3_2", "conv4_2", "conv6")


class DepthwiseSeparable(nn.Layer):
    """3x3 depthwise conv (carries the stride) → 1x1 pointwise conv, each with BN + ReLU."""

    def __init__(
        self, in_channels: int, out_channels: int, stride: int, unit: str, *, name_prefix: str, **conv_kwargs: Any
    ) -> None:
        super().__init__()
        self.dw = ConvBN(
            in_channels,
            in_channels,
            3,
            _names(f"{name_prefix}{unit}_dw"),
            stride=stride,
            groups=in_channels,
            act="relu",
            **conv_kwargs,
        )
        self.sep = ConvBN(in_channels, out_channels, 1, _names(f"{name_prefix}{unit}_sep"), act="relu", **conv_kwargs)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.sep(self.dw(x))


def _names(unit: str) -> UnitNames:
    return UnitNames.underscored(unit, f"{unit}_bn")


class MobileNetV1(nn.Layer):
    """Returns the stride-8, 16 and 32 feature maps (256, 512, 1024 channels), finest first.

    ``conv_decay`` (0.4's option) gives conv weights their own L2 factor; when ``None`` they follow
    the optimizer's global weight decay, as in the 0.1/0.2 code that trained the released weights.
    """

    def __init__(self, *, name_prefix: str = "", norm_decay: float = 0.0, conv_decay: float | None = None) -> None:
        super().__init__()
        conv_kwargs: dict[str, Any] = {"norm_decay": norm_decay}
        if conv_decay is not None:
            conv_kwargs["weight_regularizer"] = L2Decay(conv_decay)
        self.conv1 = ConvBN(3, 32, 3, _names(f"{name_prefix}conv1"), stride=2, act="relu", **conv_kwargs)
        blocks: list[DepthwiseSeparable] = []
        channels = 32
        for unit, out_channels, stride in SEPARABLE_UNITS:
            blocks.append(
                DepthwiseSeparable(channels, out_channels, stride, unit, name_prefix=name_prefix, **conv_kwargs)
            )
            channels = out_channels
        self.blocks = nn.LayerList(blocks)
        self._feature_indices = [i for i, (unit, _, _) in enumerate(SEPARABLE_UNITS) if unit in FEATURE_UNITS]
        self.out_channels = [SEPARABLE_UNITS[i][1] for i in self._feature_indices]

    @classmethod
    def from_section(cls, section: Mapping[str, Any], *, name_prefix: str = "") -> MobileNetV1:
        """Build from the legacy ``MobileNet:`` config section."""
        section = fill_section("MobileNet", section)  # unwritten keys at their legacy defaults
        reject_unsupported(
            "MobileNet",
            section,
            {
                "conv_group_scale": (1,),
                "with_extra_blocks": (False,),
                "conv_learning_rate": (1.0,),
                "norm_type": ("bn", "sync_bn"),
            },
        )
        conv_decay = section.get("conv_decay")
        return cls(
            name_prefix=name_prefix + section["weight_prefix_name"],
            norm_decay=float(section["norm_decay"]),
            conv_decay=None if conv_decay is None else float(conv_decay),
        )

    def forward(self, x: paddle.Tensor) -> list[paddle.Tensor]:
        x = self.conv1(x)
        features = []
        for index, block in enumerate(self.blocks):
            x = block(x)
            if index in self._feature_indices:
                features.append(x)
        return features
