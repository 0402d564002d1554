"""ResNet18/34 (BasicBlock, variant b) as PaddleDetection 0.x's yolov3_r34 uses it (docs/legacy.md, "Parameter names").

Names: stem ``conv1_weights`` + ``bn_conv1_*``; block convs ``res{S}{L}_branch2a|2b_weights`` and
projection shortcuts ``res{S}a_branch1_weights``, each with BN ``bn{S}{L}_…_scale|_offset|_mean|_variance``
("res" replaced by "bn"). Variant b means the classic 7x7 stem and strided 1x1 projections.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from typing import Any

import paddle
import paddle.nn.functional as F
from paddle import nn

from slimdet.config.defaults import fill_section
from slimdet.errors import ConfigError
from slimdet.modeling._options import reject_unsupported
from slimdet.modeling.layers import ConvBN, UnitNames

# Blocks per stage (res2..res5) for the BasicBlock depths.
STAGE_BLOCKS: dict[int, tuple[int, int, int, int]] = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}
STAGE_CHANNELS = (64, 128, 256, 512)
STAGES = (2, 3, 4, 5)


def _names(unit: str, *, name_prefix: str) -> UnitNames:
    """Weight ``<unit>_weights``; BN ``bn_conv1_*`` for the stem, otherwise "res…" becomes "bn…"."""
    bn_stem = "bn_conv1" if unit == "conv1" else "bn" + unit[len("res") :]
    return UnitNames.underscored(name_prefix + unit, name_prefix + bn_stem)


class BasicBlock(nn.Layer):
    """3x3 (stride, ReLU) → 3x3 (no act), plus identity or 1x1 projection, then ReLU."""

    def __init__(
        self,
        in_channels: int,
        channels: int,
        stride: int,
        unit: str,
        *,
        project: bool,
        name_prefix: str,
        norm_decay: float,
    ) -> None:
        super().__init__()
        self.branch2a = ConvBN(
            in_channels, channels, 3, _names(f"{unit}_branch2a", name_prefix=name_prefix),
            stride=stride, act="relu", norm_decay=norm_decay,
        )  # fmt: skip
        self.branch2b = ConvBN(
            channels, channels, 3, _names(f"{unit}_branch2b", name_prefix=name_prefix), norm_decay=norm_decay
        )
        self.branch1 = (
            ConvBN(
                in_channels, channels, 1, _names(f"{unit}_branch1", name_prefix=name_prefix),
                stride=stride, norm_decay=norm_decay,
            )
            if project
            else None
        )  # fmt: skip

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        short = x if self.branch1 is None else self.branch1(x)
        return F.relu(short + self.branch2b(self.branch2a(x)))


class ResNet(nn.Layer):
    """Returns the outputs of the stages in ``feature_maps`` (res3/4/5: 128@8, 256@16, 512@32), finest first.

    ``freeze_at`` = k stops gradients after stage k (1 = the stem), as the legacy option did.
    """

    def __init__(
        self,
        *,
        depth: int = 34,
        feature_maps: Sequence[int] = (3, 4, 5),
        freeze_at: int = 0,
        norm_decay: float = 0.0,
        name_prefix: str = "",
    ) -> None:
        super().__init__()
        if depth not in STAGE_BLOCKS:
            raise ConfigError(f"ResNet.depth: {depth} is not supported (use {' or '.join(map(str, STAGE_BLOCKS))})")
        bad_maps = [m for m in feature_maps if m not in STAGES]
        if bad_maps or not feature_maps:
            raise ConfigError(f"ResNet.feature_maps: {list(feature_maps)} must be a non-empty subset of {list(STAGES)}")
        self.feature_maps = sorted(feature_maps)
        self.freeze_at = freeze_at
        self.conv1 = ConvBN(
            3, 64, 7, _names("conv1", name_prefix=name_prefix), stride=2, act="relu", norm_decay=norm_decay
        )
        stages = []
        in_channels = 64
        for stage, blocks, channels in zip(STAGES[: max(self.feature_maps) - 1], STAGE_BLOCKS[depth], STAGE_CHANNELS):
            layers = []
            for index in range(blocks):
                stride = 2 if index == 0 and stage > 2 else 1
                # BasicBlock nets project the first block of res2 too, although 64 -> 64 at stride 1.
                project = index == 0
                layers.append(
                    BasicBlock(
                        in_channels, channels, stride, f"res{stage}{string.ascii_lowercase[index]}",
                        project=project, name_prefix=name_prefix, norm_decay=norm_decay,
                    )
                )  # fmt: skip
                in_channels = channels
            stages.append(nn.Sequential(*layers))
        self.stages = nn.LayerList(stages)
        self.out_channels = [STAGE_CHANNELS[m - 2] for m in self.feature_maps]

    @classmethod
    def from_section(cls, section: Mapping[str, Any], *, name_prefix: str = "") -> ResNet:
        """Build from the legacy ``ResNet:`` config section."""
        section = fill_section("ResNet", section)  # unwritten keys at their legacy defaults
        reject_unsupported(
            "ResNet",
            section,
            {
                "variant": ("b",),
                "freeze_norm": (False,),
                "norm_type": ("bn", "sync_bn"),
                "dcn_v2_stages": ([],),
                "nonlocal_stages": ([],),
                "gcb_stages": ([],),
            },
        )
        return cls(
            depth=int(section["depth"]),
            feature_maps=[int(m) for m in section["feature_maps"]],
            freeze_at=int(section["freeze_at"]),
            norm_decay=float(section["norm_decay"]),
            name_prefix=name_prefix + section["weight_prefix_name"],
        )

    def forward(self, x: paddle.Tensor) -> list[paddle.Tensor]:
        x = self.conv1(x)
        x = F.max_pool2d(x, kernel_size=3, stride=2, padding=1)
        if self.freeze_at >= 1:
            x = x.detach()
        features = []
        for stage, layers in zip(STAGES, self.stages):
            x = layers(x)
            if self.freeze_at >= stage:
                x = x.detach()
            if stage in self.feature_maps:
                features.append(x)
        return features
