"""Config + weights (+ pruning plan) → a model ready to run: the one assembly every command shares.

``eval``, ``export``, ``infer`` and ``sensitivity`` all need "build from config → prune to the structure
the weights were saved with → load them strictly". The structure comes from the checkpoint's plan sidecar
(``<weights>.plan.json``), from ``--pruned_params/--pruned_ratios``, or both when they agree; the weights
must then fit exactly, so a wrong config or plan is a ``WeightsError`` naming what does not fit. A
quantization-aware checkpoint (``<weights>.quant.json``) gets its fake-quant layers before it is loaded: it
evaluates as it trained, and exports as int8.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from slimdet.errors import WeightsError
from slimdet.modeling.build import build_model
from slimdet.modeling.yolov3 import YOLOv3
from slimdet.slim.plan import PruningPlan, load_plan, resolve_plan
from slimdet.slim.quant_aware import wrap_quant_aware
from slimdet.slim.quant_settings import load_quant
from slimdet.weights import load_weights


def build_trained_model(
    cfg: Mapping[str, Any],
    weights: str | os.PathLike[str] | None,
    plan: PruningPlan | None = None,
) -> tuple[YOLOv3, PruningPlan | None]:
    """Build the model of ``cfg``, prune it, load ``weights`` strictly; returns (model in eval mode, plan used).

    ``plan`` is the plan given on the command line (None when no pruning flags); the checkpoint's
    sidecar is read here and must agree with it. The returned plan is the one that shaped the model.
    """
    if not weights:
        raise WeightsError("no weights given: add -o weights=PATH (a .pdparams checkpoint, legacy folder, .tar or URL)")
    plan = resolve_plan(plan, load_plan(weights))
    model = build_model(cfg, random_init=False)  # every weight is loaded below, strictly
    if plan is not None:
        # Only the shapes matter here: the loaded weights overwrite whichever filters survive. So skip
        # the FLOPs report and rank by L1 norm, which is cheap (FPGM's ranking is O(C^2) in Python).
        replace(plan, criterion="l1_norm").prune(model)
    quant = load_quant(weights)
    if quant is not None:
        wrap_quant_aware(model, quant)
    load_weights(model, weights, strict=True)
    model.eval()
    return model, plan
