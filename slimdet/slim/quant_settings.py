"""What quantization-aware training asks for, as one value, and the sidecar that keeps it beside a checkpoint.

``train --quant-aware`` (the legacy ``slim/quantization/train.py``) fine-tunes a trained model with fake-quant
layers; the legacy tool's settings are fixed here (docs/legacy.md, "Quantization"): weights
``channel_wise_abs_max``, activations ``moving_average_abs_max``, 8 bits, on convolutions (depthwise too) and
fully connected layers, leaving out those named by ``--not_quant_pattern`` (default ``yolo_output``, the
head's three output convs). Only the patterns vary, so they are all a run records.

A quantization-aware checkpoint cannot be read as a float one (its scales would be dropped, and with them
the int8 model), so ``<stem>.quant.json`` goes beside every checkpoint it writes, as the pruning plan does:
``--resume`` continues quantization-aware, and eval, export and infer wrap the model before loading it.
Plain Python (no paddle): the launching process builds and checks it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slimdet.errors import SlimdetError, WeightsError
from slimdet.slim.sidecar import Sidecar

DEFAULT_NOT_QUANT_PATTERN = ("yolo_output",)  # the legacy flag's default
WEIGHT_QUANTIZE_TYPE = "channel_wise_abs_max"
ACTIVATION_QUANTIZE_TYPE = "moving_average_abs_max"
BITS = 8
QUANTIZABLE_LAYER_TYPES = ("Conv2D", "Linear")  # the legacy op types conv2d, depthwise_conv2d and mul
QUANT_SIDECAR = Sidecar(
    ".quant.json",
    "slimdet-quant-aware",
    1,
    "quantization-aware sidecar",
    "delete it or train the checkpoint again with --quant-aware",
    WeightsError,
)


@dataclass(frozen=True)
class QuantAware:
    """Quantization-aware training: every quantizable layer gets fake-quant ops, except those whose legacy
    weight name (``yolo_output.0.conv.weights``) or layer path (``head.outputs.0``) contains one of
    ``not_quant_pattern`` (the dygraph counterpart of the legacy tool's name scopes)."""

    not_quant_pattern: tuple[str, ...] = DEFAULT_NOT_QUANT_PATTERN

    @classmethod
    def from_flags(cls, quant_aware: bool, not_quant_pattern: str | None) -> QuantAware | None:
        """``--quant-aware`` and ``--not_quant_pattern`` (comma- or space-separated) as the command line gives
        them; None without ``--quant-aware``. An explicit empty pattern quantizes every layer."""
        if not quant_aware:
            if not_quant_pattern is not None:
                raise SlimdetError("--not_quant_pattern needs --quant-aware: add it, or drop the pattern")
            return None
        if not_quant_pattern is None:
            return cls()
        return cls(tuple(word for word in re.split(r"[,\s]+", not_quant_pattern) if word))

    def to_dict(self) -> dict[str, Any]:
        """Everything that shapes the fake-quant model (the fixed legacy settings and the patterns)."""
        return {
            "weight_quantize_type": WEIGHT_QUANTIZE_TYPE,
            "activation_quantize_type": ACTIVATION_QUANTIZE_TYPE,
            "weight_bits": BITS,
            "activation_bits": BITS,
            "quantizable_layer_type": list(QUANTIZABLE_LAYER_TYPES),
            "not_quant_pattern": list(self.not_quant_pattern),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QuantAware:
        return cls(tuple(str(p) for p in data.get("not_quant_pattern", DEFAULT_NOT_QUANT_PATTERN)))


def sidecar_path(checkpoint_path: str | os.PathLike[str]) -> Path:
    """``out/model_final.pdparams`` (or the prefix ``out/model_final``) → ``out/model_final.quant.json``."""
    return QUANT_SIDECAR.path(checkpoint_path)


def save_quant(quant: QuantAware, checkpoint_path: str | os.PathLike[str]) -> Path:
    """Write ``quant`` beside a checkpoint, atomically."""
    return QUANT_SIDECAR.save(quant.to_dict(), checkpoint_path)


def load_quant(checkpoint_path: str | os.PathLike[str] | None) -> QuantAware | None:
    """The settings saved beside a quantization-aware checkpoint, or None for a float one (no sidecar)."""
    document = QUANT_SIDECAR.load(checkpoint_path) if checkpoint_path else None
    return None if document is None else QuantAware.from_dict(document)


def resolve_quant(flags: QuantAware | None, saved: QuantAware | None, checkpoint: Path) -> QuantAware | None:
    """The quantization of a resumed run: the checkpoint's (the flags may be left out, as pruning's are), or
    one line when the flags contradict it."""
    if flags is not None and saved is None:
        raise WeightsError(
            f"{checkpoint} is a float checkpoint: resume it without --quant-aware, or start quantization-aware "
            f"training from it with -o pretrain_weights={checkpoint}"
        )
    if flags is not None and saved is not None and flags != saved:
        raise WeightsError(
            f"--not_quant_pattern {','.join(flags.not_quant_pattern) or '(none)'} contradicts the checkpoint's "
            f"{','.join(saved.not_quant_pattern) or '(none)'}: drop it to use the saved one"
        )
    return saved
