"""The conv + BN unit every backbone and the head are made of, carrying PaddleDetection 0.x names.

Each unit owns five persistables (docs/legacy.md, "Parameter names"): the conv weight (no bias) and the BN
scale, offset, moving mean and moving variance. ``paddle.nn.BatchNorm`` is used (not ``BatchNorm2D``) because it is
the layer that accepts names for its moving statistics, so that ``param.name`` of every persistable is
the legacy name that ``--pruned_params``, released weight folders and PaddleSlim all address.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import paddle
import paddle.nn.functional as F
from paddle import nn
from paddle.regularizer import L2Decay

Activation = Literal["relu", "leaky", None]
LEAKY_SLOPE = 0.1  # DarkNet and the YOLOv3 head use LeakyReLU(0.1) after BN


@dataclass(frozen=True)
class UnitNames:
    """The five legacy names of one conv + BN unit."""

    weight: str
    scale: str
    offset: str
    mean: str
    variance: str

    @classmethod
    def underscored(cls, weight_stem: str, bn_stem: str) -> UnitNames:
        """MobileNet/ResNet style: ``<w>_weights`` and ``<bn>_scale/_offset/_mean/_variance``."""
        return cls(
            weight=f"{weight_stem}_weights",
            scale=f"{bn_stem}_scale",
            offset=f"{bn_stem}_offset",
            mean=f"{bn_stem}_mean",
            variance=f"{bn_stem}_variance",
        )

    @classmethod
    def dotted(cls, unit: str) -> UnitNames:
        """DarkNet/head style: ``<u>.conv.weights`` and ``<u>.bn.scale/.offset/.mean/.var``."""
        return cls(
            weight=f"{unit}.conv.weights",
            scale=f"{unit}.bn.scale",
            offset=f"{unit}.bn.offset",
            mean=f"{unit}.bn.mean",
            variance=f"{unit}.bn.var",
        )


_RANDOM_INIT = contextvars.ContextVar("slimdet_random_init", default=True)


@contextlib.contextmanager
def zeros_for_random_init() -> Iterator[None]:
    """Layers built inside start with zeros where they would draw random weights.

    For a model whose every weight is loaded next (strictly) or whose values do not matter (names, shapes,
    FLOPs): drawing 24 million Gaussian numbers for a MobileNetV1-YOLOv3 costs 0.4 s of CPU, filling zeros
    almost nothing.
    """
    token = _RANDOM_INIT.set(False)
    try:
        yield
    finally:
        _RANDOM_INIT.reset(token)


def random_init(initializer: nn.initializer.Initializer) -> nn.initializer.Initializer:
    """``initializer``, or zeros inside ``zeros_for_random_init``."""
    return initializer if _RANDOM_INIT.get() else nn.initializer.Constant(0.0)


class ConvBN(nn.Layer):
    """conv (no bias, padding (k−1)/2) → BN → activation, with legacy names on all five persistables.

    ``norm_decay`` becomes an explicit L2 regularizer on the BN scale and offset (0 in every legacy
    YOLOv3 config), which overrides the optimizer's global weight decay for those two tensors only;
    ``weight_regularizer`` does the same for the conv weight (``None``: global decay applies).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        names: UnitNames,
        *,
        stride: int = 1,
        groups: int = 1,
        act: Activation = None,
        norm_decay: float = 0.0,
        weight_init: nn.initializer.Initializer | None = None,
        weight_regularizer: L2Decay | None = None,
    ) -> None:
        super().__init__()
        self.act = act
        self.conv = nn.Conv2D(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=(kernel_size - 1) // 2,
            groups=groups,
            weight_attr=paddle.ParamAttr(
                name=names.weight,
                initializer=random_init(weight_init or nn.initializer.KaimingNormal()),
                regularizer=weight_regularizer,
            ),
            bias_attr=False,
        )
        self.bn = nn.BatchNorm(
            out_channels,
            act=None,
            param_attr=paddle.ParamAttr(
                name=names.scale, initializer=nn.initializer.Constant(1.0), regularizer=L2Decay(norm_decay)
            ),
            bias_attr=paddle.ParamAttr(
                name=names.offset, initializer=nn.initializer.Constant(0.0), regularizer=L2Decay(norm_decay)
            ),
            moving_mean_name=names.mean,
            moving_variance_name=names.variance,
        )

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = self.bn(self.conv(x))
        if self.act == "relu":
            return F.relu(x)
        if self.act == "leaky":
            return F.leaky_relu(x, LEAKY_SLOPE)
        return x
