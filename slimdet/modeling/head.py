"""The YOLOv3 head of PaddleDetection 0.x: raw feature maps only.

Its names and shapes are in docs/legacy.md, "Parameter names" and "YOLOv3 geometry".

Per level i (0 = coarsest, ch = 512, 256, 128):
``yolo_block.{i}``: ``conv_block_num`` (legacy default 2) repeats of 1x1(ch) → 3x3(2ch) (``.{j}.0``/``.{j}.1``)
→ 1x1(ch) route (``.2``) → 3x3(2ch) tip (``.tip``); ``yolo_output.{i}``: 1x1 conv with bias on the tip
giving A·(5+C) channels; for every level but the last, ``yolo_transition.{i}`` (1x1 on the route,
256/2^i channels) is upsampled ×2 (nearest) and concatenated in front of the next backbone feature.
All units are conv + BN + LeakyReLU(0.1). Decoding and NMS live in ``post_process.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import paddle
import paddle.nn.functional as F
from paddle import nn
from paddle.regularizer import L2Decay

from slimdet.config.defaults import SECTION_DEFAULTS
from slimdet.config.geometry import YOLOv3Geometry
from slimdet.modeling.layers import ConvBN, UnitNames, random_init

BLOCK_CHANNELS = 512  # ch of level 0; halves per level
TRANSITION_CHANNELS = 256  # of yolo_transition.0; halves per level
CONV_BLOCK_NUM = SECTION_DEFAULTS["YOLOv3Head"]["conv_block_num"]  # 1x1 → 3x3 repeats before the route conv


def _init() -> nn.initializer.Initializer:
    return random_init(nn.initializer.Normal(0.0, 0.02))  # the legacy head's conv initializer


class DetectionBlock(nn.Layer):
    """The convs of one level, from its input to the route (``.2``) and the tip (``.tip``)."""

    def __init__(self, in_channels: int, channels: int, unit: str, *, norm_decay: float, conv_block_num: int) -> None:
        super().__init__()

        def conv(name: str, cin: int, cout: int, kernel: int) -> ConvBN:
            return ConvBN(
                cin, cout, kernel, UnitNames.dotted(f"{unit}.{name}"),
                act="leaky", norm_decay=norm_decay, weight_init=_init(),
            )  # fmt: skip

        layers = []
        for j in range(conv_block_num):
            layers.append(conv(f"{j}.0", in_channels if j == 0 else 2 * channels, channels, 1))
            layers.append(conv(f"{j}.1", channels, 2 * channels, 3))
        layers.append(conv("2", 2 * channels, channels, 1))
        self.body = nn.Sequential(*layers)
        self.tip = conv("tip", channels, 2 * channels, 3)

    def forward(self, x: paddle.Tensor) -> tuple[paddle.Tensor, paddle.Tensor]:
        route = self.body(x)
        return route, self.tip(route)


class YOLOv3Head(nn.Layer):
    """Backbone features (finest first) → one raw map [N, A·(5+C), H, W] per level, coarsest first.

    ``anchors_per_level`` gives A for each level (3 for the legacy masks); ``name_prefix`` is put in
    front of every legacy name (a teacher's ``teacher_``). ``conv_block_num`` is the legacy key of that name:
    fewer repeats make a shallower, much smaller head (level 0's 3x3 convs hold most of the model's weights).
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        geometry: YOLOv3Geometry,
        *,
        norm_decay: float = 0.0,
        name_prefix: str = "",
        conv_block_num: int = CONV_BLOCK_NUM,
    ) -> None:
        super().__init__()
        anchors_per_level = geometry.anchors_per_level
        if len(in_channels) != len(anchors_per_level):
            raise ValueError(
                f"the backbone gives {len(in_channels)} feature maps but the anchor masks describe "
                f"{len(anchors_per_level)} levels"
            )
        self.geometry = geometry
        num_classes = self.num_classes = geometry.num_classes
        self.anchors_per_level = anchors_per_level
        features_coarse_first = list(reversed(in_channels))
        blocks, outputs, transitions = [], [], []
        for i, feature_channels in enumerate(features_coarse_first):
            channels = BLOCK_CHANNELS // 2**i
            block_in = feature_channels if i == 0 else feature_channels + TRANSITION_CHANNELS // 2 ** (i - 1)
            unit = f"{name_prefix}yolo_block.{i}"
            blocks.append(
                DetectionBlock(block_in, channels, unit, norm_decay=norm_decay, conv_block_num=conv_block_num)
            )
            out_name = f"{name_prefix}yolo_output.{i}.conv"
            outputs.append(
                nn.Conv2D(
                    2 * channels,
                    anchors_per_level[i] * (5 + num_classes),
                    1,
                    weight_attr=paddle.ParamAttr(name=f"{out_name}.weights", initializer=_init()),
                    bias_attr=paddle.ParamAttr(
                        name=f"{out_name}.bias", initializer=nn.initializer.Constant(0.0), regularizer=L2Decay(0.0)
                    ),
                )
            )
            if i < len(features_coarse_first) - 1:
                transitions.append(
                    ConvBN(
                        channels, TRANSITION_CHANNELS // 2**i, 1, UnitNames.dotted(f"{name_prefix}yolo_transition.{i}"),
                        act="leaky", norm_decay=norm_decay, weight_init=_init(),
                    )
                )  # fmt: skip
        self.blocks = nn.LayerList(blocks)
        self.outputs = nn.LayerList(outputs)
        self.transitions = nn.LayerList(transitions)

    def forward(self, features: Sequence[paddle.Tensor]) -> list[paddle.Tensor]:
        return [output for _, output in self.levels(features)]

    def outputs_and_tips(self, features: Sequence[paddle.Tensor]) -> tuple[list[paddle.Tensor], list[paddle.Tensor]]:
        """The raw outputs and, per level, the tip's feature map that the output conv reads (coarsest first).

        The tips are computed on the way anyway; a feature-level distillation term compares them.
        """
        levels = self._run(features, 0, None)
        return [output for _, _, output in levels], [tip for _, tip, _ in levels]

    def levels(
        self, features: Sequence[paddle.Tensor], start: int = 0, route: paddle.Tensor | None = None
    ) -> list[tuple[paddle.Tensor, paddle.Tensor]]:
        """(route, raw output) of each level from ``start`` on; after level 0, ``route`` is level ``start - 1``'s.

        Level i reads its backbone feature and, after level 0, level i-1's route (through the transition):
        so levels before ``start`` need not run again when only later ones changed (sensitivity trials).
        """
        return [(route, output) for route, _, output in self._run(features, start, route)]

    def _run(
        self, features: Sequence[paddle.Tensor], start: int, route: paddle.Tensor | None
    ) -> list[tuple[paddle.Tensor, paddle.Tensor, paddle.Tensor]]:
        """(route, tip, raw output) of each level from ``start`` on (see ``levels``)."""
        done = []
        coarse_first = list(reversed(features))
        for i in range(start, len(coarse_first)):
            x = feature = coarse_first[i]
            if i > 0:
                up = F.interpolate(self.transitions[i - 1](route), scale_factor=2, mode="nearest")
                x = paddle.concat([up, feature], axis=1)  # route first, backbone second
            route, tip = self.blocks[i](x)
            done.append((route, tip, self.outputs[i](tip)))
        return done

    def output_from_route(self, level: int, route: paddle.Tensor) -> paddle.Tensor:
        """Level ``level``'s raw output from its route: all that changes when only its tip or output conv does."""
        return self.outputs[level](self.blocks[level].tip(route))
