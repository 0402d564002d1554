"""Fake-quant layers on a trained detector, for quantization-aware training (``train --quant-aware``).

Paddle's ``ImperativeQuantAware`` (what ``paddleslim.QAT`` wraps; importing PaddleSlim would cost seconds for
nothing more) replaces each quantizable layer by one that fake-quantizes its weights per output channel and
its input by a moving-average scale, and records its output's scale: a training step then sees the rounding
an int8 model will do, and learns around it. The settings are ``QuantAware``'s (``slim.quant_settings``).

Paddle names the scales it adds after a process-wide counter (``conv2d_0.scale_0``), which differs between
two runs, and checkpoints address tensors by name (``weights.legacy_state``). ``wrap_quant_aware`` therefore
renames each after the weight it belongs to (``conv1_weights.fake_quant_input.scale``): a checkpoint of
the wrapped model resumes, evaluates and exports in another process.
"""

from __future__ import annotations

from paddle import nn

from slimdet.errors import SlimdetError, did_you_mean
from slimdet.slim.quant_settings import (
    ACTIVATION_QUANTIZE_TYPE,
    BITS,
    QUANTIZABLE_LAYER_TYPES,
    WEIGHT_QUANTIZE_TYPE,
    QuantAware,
)


def _quantizable(model: nn.Layer) -> dict[str, nn.Layer]:
    """The layers fake-quant ops may go on, by layer path."""
    kinds = tuple(getattr(nn, name) for name in QUANTIZABLE_LAYER_TYPES)
    return {path: layer for path, layer in model.named_sublayers() if isinstance(layer, kinds)}


def _legacy_name(model: nn.Layer, tensor_name: str) -> str:
    prefix = getattr(model, "name_prefix", "")
    return tensor_name[len(prefix) :] if prefix and tensor_name.startswith(prefix) else tensor_name


def left_float(model: nn.Layer, quant: QuantAware) -> list[str]:
    """The legacy weight names of the quantizable layers ``quant``'s patterns leave in float; raises
    ``SlimdetError`` for a pattern that matches no layer (a typo would silently quantize the output convs)."""
    layers = {path: _legacy_name(model, layer.weight.name) for path, layer in _quantizable(model).items()}
    for pattern in quant.not_quant_pattern:
        if not any(pattern in path or pattern in name for path, name in layers.items()):
            units = sorted({name.split(".")[0] for name in layers.values()})
            raise SlimdetError(
                f"--not_quant_pattern '{pattern}' matches no quantizable layer{did_you_mean(pattern, units)}: "
                "give part of a conv weight's name, e.g. yolo_output (slimdet params lists them)"
            )
    return [
        name
        for path, name in layers.items()
        if any(pattern in path or pattern in name for pattern in quant.not_quant_pattern)
    ]


def wrap_quant_aware(model: nn.Layer, quant: QuantAware) -> list[str]:
    """Put fake-quant ops on ``model``'s quantizable layers, in place (after its weights are loaded and it is
    pruned; before an optimizer is made for it). Returns the legacy names of the layers left in float."""
    from paddle.nn.quant.quant_layers import MAOutputScaleLayer
    from paddle.quantization import ImperativeQuantAware

    skipped = set(left_float(model, quant))
    for layer in _quantizable(model).values():
        layer.skip_quant = _legacy_name(model, layer.weight.name) in skipped  # what ImperativeQuantAware reads
    before = {tensor.name for tensor in model.state_dict().values()}
    ImperativeQuantAware(
        weight_quantize_type=WEIGHT_QUANTIZE_TYPE,
        activation_quantize_type=ACTIVATION_QUANTIZE_TYPE,
        weight_bits=BITS,
        activation_bits=BITS,
        quantizable_layer_type=list(QUANTIZABLE_LAYER_TYPES),
        onnx_format=True,  # quantize/dequantize pairs, the form slimdet quantize writes and oneDNN runs in int8
    ).quantize(model)
    renamed = set()
    for wrapper in model.sublayers():
        if isinstance(wrapper, MAOutputScaleLayer):  # one per quantized layer, holding it as ``_layer``
            owner = wrapper._layer.weight.name
            for key, tensor in wrapper.state_dict().items():
                if tensor.name not in before:
                    tensor.name = ".".join([owner, *(part.strip("_") for part in key.split(".") if part != "_layer")])
                    renamed.add(tensor.name)
    unnamed = [t.name for t in model.state_dict().values() if t.name not in before | renamed]
    if unnamed:  # a Paddle whose wrappers are laid out otherwise: checkpoints would not resume
        raise RuntimeError(f"fake-quant tensors left with process-specific names: {unnamed[:3]}")
    return sorted(skipped)


def is_quant_aware(model: nn.Layer) -> bool:
    """Whether ``model`` carries fake-quant layers (``wrap_quant_aware``): its export is an int8 model."""
    from paddle.nn.quant.quant_layers import MAOutputScaleLayer

    return any(isinstance(layer, MAOutputScaleLayer) for layer in model.sublayers())
