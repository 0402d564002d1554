"""A toy detector with legacy parameter names, small enough to prune in a second.

Its graph has the couplings that matter for pruning: conv → BN → depthwise conv → conv (a chain), a
route conv feeding two consumers (``yolo_block.0.2`` → tip and transition, as in the YOLOv3 head), and
an output conv (``yolo_output.0``) whose channels are detections. Like YOLOv3, ``forward`` cannot run
without an extra input; ``raw_outputs`` is what pruning and FLOPs counting use.
"""

import zlib  # noqa: F401  (before paddle, see slimdet/__init__.py)

import paddle
from paddle import nn

TOY_INPUT = 16  # square input side used by the toy tests


def conv_bn(name: str, c_in: int, c_out: int, k: int, groups: int = 1, sep: str = ".") -> nn.Sequential:
    """conv (no bias) → BN → leaky ReLU, every tensor named the legacy way (``sep`` '.' head, '_' backbone)."""
    bn = f"{name}{sep}bn{sep}" if sep == "." else f"{name}_bn_"
    conv = nn.Conv2D(
        c_in,
        c_out,
        k,
        padding=k // 2,
        groups=groups,
        bias_attr=False,
        weight_attr=paddle.ParamAttr(name=f"{name}.conv.weights" if sep == "." else f"{name}_weights"),
    )
    norm = nn.BatchNorm(
        c_out,
        param_attr=paddle.ParamAttr(name=bn + "scale"),
        bias_attr=paddle.ParamAttr(name=bn + "offset"),
        moving_mean_name=bn + "mean",
        moving_variance_name=bn + ("var" if sep == "." else "variance"),
    )
    return nn.Sequential(conv, norm, nn.LeakyReLU(0.1))


class ToyDetector(nn.Layer):
    """Channels (kernel) per conv::

    3 → a 8 (1×1) → dw 8 (3×3, groups 8) → b 16 (3×3) → route 8 (1×1) ┬→ tip 16 (3×3) → output 6
                                                                        └→ transition 4 (1×1)
    """

    def __init__(self, prefix: str = "") -> None:
        super().__init__()
        self.a = conv_bn(f"{prefix}yolo_block.0.0.0", 3, 8, 1)
        self.dw = conv_bn(f"{prefix}conv2_1_dw", 8, 8, 3, groups=8, sep="_")
        self.b = conv_bn(f"{prefix}yolo_block.0.0.1", 8, 16, 3)
        self.route = conv_bn(f"{prefix}yolo_block.0.2", 16, 8, 1)
        self.tip = conv_bn(f"{prefix}yolo_block.0.tip", 8, 16, 3)
        self.transition = conv_bn(f"{prefix}yolo_transition.0", 8, 4, 1)
        self.output = nn.Conv2D(
            16,
            6,
            1,
            weight_attr=paddle.ParamAttr(name=f"{prefix}yolo_output.0.conv.weights"),
            bias_attr=paddle.ParamAttr(name=f"{prefix}yolo_output.0.conv.bias"),
        )

    def raw_outputs(self, image):
        route = self.route(self.b(self.dw(self.a(image))))
        return [self.output(self.tip(route)), self.transition(route)]

    def forward(self, image, im_size):  # needs an extra input, as YOLOv3's eval forward does
        return self.raw_outputs(image)


def randomise_bn_statistics(model: nn.Layer, seed: int) -> None:
    """Give every BN non-trivial running statistics, so that cutting the wrong entries would show."""
    paddle.seed(seed)
    for layer in model.sublayers():
        if isinstance(layer, nn.BatchNorm):
            layer._mean.set_value(paddle.randn(layer._mean.shape))
            layer._variance.set_value(paddle.rand(layer._variance.shape) + 0.5)


def build_toy(prefix: str = "", seed: int = 0) -> ToyDetector:
    """A fresh toy with random BN statistics. Paddle refuses a parameter name twice per process in
    dygraph, so each model is built inside its own unique-name scope (as ``build_model`` does)."""
    paddle.seed(seed)
    with paddle.utils.unique_name.guard():
        model = ToyDetector(prefix)
    randomise_bn_statistics(model, seed=seed + 1)
    return model
