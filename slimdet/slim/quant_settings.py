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

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slimdet._files import write_text_atomic
from slimdet.errors import SlimdetError, WeightsError

DEFAULT_NOT_QUANT_PATTERN = ("yolo_output",)  # the legacy flag's default
WEIGHT_QUANTIZE_TYPE = "channel_wise_abs_max"
ACTIVATION_QUANTIZE_TYPE = "moving_average_abs_max"
BITS = 8
QUANTIZABLE_LAYER_TYPES = ("Conv2D", "Linear")  # the legacy op types conv2d, depthwise_conv2d and mul
SIDECAR_SUFFIX = ".quant.json"
SIDECAR_FORMAT = "slimdet-quant-aware"
SIDECAR_VERSION = 1


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
    path = Path(checkpoint_path)
    if path.suffix == ".pdparams":
        path = path.with_suffix("")
    return path.with_name(path.name + SIDECAR_SUFFIX)


def save_quant(quant: QuantAware, checkpoint_path: str | os.PathLike[str]) -> Path:
    """Write ``quant`` beside a checkpoint, atomically."""
    document = {"format": SIDECAR_FORMAT, "version": SIDECAR_VERSION, **quant.to_dict()}
    return write_text_atomic(sidecar_path(checkpoint_path), json.dumps(document, indent=2) + "\n")


def load_quant(checkpoint_path: str | os.PathLike[str] | None) -> QuantAware | None:
    """The settings saved beside a quantization-aware checkpoint, or None for a float one (no sidecar)."""
    if not checkpoint_path:
        return None
    path = sidecar_path(checkpoint_path)
    if not path.is_file():
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise WeightsError(f"cannot read {path} ({err}): train the checkpoint again with --quant-aware") from None
    if not isinstance(document, dict) or document.get("format") != SIDECAR_FORMAT:
        raise WeightsError(f"{path} is not a slimdet quantization-aware sidecar: delete it or train again")
    if document.get("version") != SIDECAR_VERSION:
        raise WeightsError(f"{path} has version {document.get('version')}, this slimdet reads {SIDECAR_VERSION}")
    return QuantAware.from_dict(document)


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
