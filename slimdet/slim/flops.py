"""The only place that counts FLOPs.

The legacy slim model zoo reports "GFLOPs" as convolution multiply-accumulates divided by 2^30
(docs/legacy.md, "FLOPs and size"): sum over convs of C_in/groups · k_h · k_w · C_out · H_out · W_out.
We count exactly that, per conv weight (keyed by its legacy ``param.name``), by hooking every ``Conv2D`` during one
forward pass of a zero image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import paddle
from paddle import nn
from paddle.nn.quant.quant_layers import QuantizedConv2D

from slimdet.modeling.modes import RawOutputs, inference_context

GIGA = 2**30  # the legacy tables divide by 2^30, not 1e9


@dataclass(frozen=True)
class ConvMacs:
    """Multiply-accumulates of every convolution at one square input size."""

    input_size: int
    per_weight: dict[str, int]  # legacy weight name -> MACs of that conv

    @property
    def total(self) -> int:
        return sum(self.per_weight.values())

    @property
    def gflops(self) -> float:
        """Total in the legacy tables' unit (MACs / 2^30)."""
        return self.total / GIGA

    def share(self, weight_name: str) -> float:
        """Fraction of all conv MACs spent in one conv."""
        return self.per_weight.get(weight_name, 0) / self.total if self.total else 0.0


def count_conv_macs(model, input_size: int) -> ConvMacs:
    """Count conv MACs of ``model`` for a 1×3×S×S input.

    Models with a ``raw_outputs(image)`` method (YOLOv3) are run through it, so post-processing
    (which has no convolutions and needs extra inputs) is skipped; other layers are simply called.
    """
    per_weight: dict[str, int] = {}

    def hook(layer: nn.Layer, _inputs, output) -> None:
        c_out, c_in_per_group, k_h, k_w = layer.weight.shape
        h_out, w_out = output.shape[2], output.shape[3]
        per_weight[layer.weight.name] = c_in_per_group * k_h * k_w * c_out * h_out * w_out

    convs = (nn.Conv2D, QuantizedConv2D)  # a quantization-aware model's convs are wrapped (slim.quant_aware)
    handles = [sub.register_forward_post_hook(hook) for sub in model.sublayers() if isinstance(sub, convs)]
    try:
        with inference_context(model):
            RawOutputs(model)(paddle.zeros([1, 3, input_size, input_size], dtype="float32"))
    finally:
        for handle in handles:
            handle.remove()
    return ConvMacs(input_size=input_size, per_weight=per_weight)


def parameter_mib(model) -> float:
    """Size of all parameters and BN statistics as float32 MiB (the legacy tables' "size" minus file overhead)."""
    count = sum(int(t.size) for t in model.state_dict().values())
    return count * 4 / 2**20


def paddleslim_flops(model, input_size: int, *, only_conv: bool = False) -> int:
    """PaddleSlim's own count (``paddleslim.analysis.dygraph_flops``) for a 1×3×S×S input, for comparison.

    It counts conv/fc multiply-accumulates plus one per element of relu/sigmoid/batch_norm (two for
    batch_norm), in plain units; ``only_conv=True`` keeps the MACs only, which equals
    ``count_conv_macs(...).total``. The model is traced through ``raw_outputs`` when it has one. The
    input is given as an array (a placeholder of its shape), because PaddleSlim turns a bare shape
    into a constant tensor that paddle refuses above 2^20 values (608 px is more).
    """
    from paddleslim.analysis import dygraph_flops  # paddleslim takes seconds to import: only for this count

    image = np.zeros((1, 3, input_size, input_size), dtype="float32")
    return int(dygraph_flops(RawOutputs(model), [image], only_conv=only_conv))
