"""Export a (pruned) detector as a Paddle Inference model, optionally ONNX, and prove it still agrees.

The folder ``<output_dir>/<config name>/`` holds ``model.pdmodel`` + ``model.pdiparams`` (the eval graph
with box decoding and NMS inside: inputs ``image`` [-1,3,S,S] float32 and ``im_size`` [-1,2] int32, outputs
``bbox`` [K,6] (class, score, x1, y1, x2, y2) and ``bbox_num`` [N]), ``infer_cfg.yml``, the pruning plan
sidecar when the model is pruned, and ``model.onnx`` on request. Everything is written into a temp folder
that is renamed into place at the end, so a failed export never leaves a half folder behind.

A quantization-aware model (fake-quant layers, ``slim.quant_aware``) is traced like any other, checked
against its dygraph self, then frozen into int8 (``deploy.quantize.freeze_quant_aware``): the folder is
the one ``slimdet quantize`` writes, ``precision: int8`` in its ``infer_cfg.yml``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import paddle
from paddle import nn
from paddle.static import InputSpec

from slimdet._files import atomic_dir
from slimdet.deploy.infer_cfg import InferConfig
from slimdet.deploy.onnx_graph import pin_nms_squeeze_axes
from slimdet.deploy.parity import ParityReport, compare_detections
from slimdet.deploy.predictor import (
    MODEL_FILE,
    ONNX_FILE,
    PARAMS_FILE,
    DygraphPredictor,
    OnnxPredictor,
    PaddlePredictor,
    import_onnx_tools,
)
from slimdet.deploy.quantize import freeze_quant_aware
from slimdet.engine.evaluate import InferenceGraph
from slimdet.inference import output_silenced
from slimdet.modeling.modes import eval_mode
from slimdet.runtime import without_op_callstacks
from slimdet.slim.flops import count_conv_macs, parameter_mib
from slimdet.slim.plan import PruningPlan, save_plan
from slimdet.slim.quant_aware import is_quant_aware

ONNX_OPSET = 11  # the lowest opset paddle2onnx accepts for yolo_box
PROBE_SEED = 0


@dataclass(frozen=True)
class ExportResult:
    """What was written where, how big it is, and whether the exported graphs agree with the model."""

    out_dir: str
    input_size: int
    files: Mapping[str, int]  # file name -> bytes
    parameters_mib: float  # float32 parameters + BN statistics
    gflops: float  # conv MACs / 2^30 at input_size (the legacy tables' unit)
    plan: Mapping[str, Any] | None  # the pruning plan baked into the graph, None when unpruned
    parity: ParityReport  # Paddle Inference vs the dygraph model on a probe batch
    onnx_parity: ParityReport | None  # onnxruntime vs Paddle Inference, when --onnx
    precision: str = "float32"  # int8: a quantization-aware model, frozen

    @property
    def ok(self) -> bool:
        return self.parity.ok and (self.onnx_parity is None or self.onnx_parity.ok)

    def to_dict(self) -> dict[str, Any]:
        return {
            "out_dir": self.out_dir,
            "input_size": self.input_size,
            "files": dict(self.files),
            "parameters_mib": self.parameters_mib,
            "gflops": self.gflops,
            "plan": dict(self.plan) if self.plan is not None else None,
            "parity": self.parity.to_dict(),
            "onnx_parity": self.onnx_parity.to_dict() if self.onnx_parity is not None else None,
            "precision": self.precision,
            "ok": self.ok,
        }


def probe_batch(input_size: int, batch: int = 2, seed: int = PROBE_SEED) -> tuple[np.ndarray, np.ndarray]:
    """A seeded batch of normalised noise with non-square original sizes, so the size mapping is exercised."""
    rng = np.random.default_rng(seed)
    image = rng.standard_normal((batch, 3, input_size, input_size)).astype(np.float32)
    im_size = np.array([[input_size + 37 * i, int(input_size * 1.5) - 11 * i] for i in range(batch)], np.int32)
    return image, im_size


def save_inference_model(model: nn.Layer, input_size: int, folder: Path) -> None:
    """``paddle.jit.save`` the eval-mode graph (decode + NMS included) as ``folder/model.*``."""
    specs = [
        InputSpec([-1, 3, input_size, input_size], "float32", name="image"),
        InputSpec([-1, 2], "int32", name="im_size"),
    ]
    with eval_mode(model), without_op_callstacks():
        graph = paddle.jit.to_static(InferenceGraph(model), input_spec=specs, full_graph=True)
        paddle.jit.save(graph, str(folder / Path(MODEL_FILE).stem))


def write_onnx(folder: Path) -> Path:
    """Convert ``folder/model.pdmodel`` to ``folder/model.onnx`` with paddle2onnx (ONNX checker on), then repair
    the NMS part so that it also runs when exactly one box is kept."""
    paddle2onnx, _ = import_onnx_tools()
    target = folder / ONNX_FILE
    # paddle2onnx prints warnings from C++ even with verbose=False (that its multiclass_nms3 runs at batch 1,
    # which OnnxPredictor handles): a successful export leaves stdout to --json and stderr empty.
    with output_silenced():
        paddle2onnx.export(
            str(folder / MODEL_FILE),
            str(folder / PARAMS_FILE),
            save_file=str(target),
            opset_version=ONNX_OPSET,
            verbose=False,
            enable_onnx_checker=True,
        )
    _repair_onnx(target)
    return target


def _repair_onnx(path: Path) -> None:
    """Apply :mod:`slimdet.deploy.onnx_graph`'s repairs to ``path`` in place and check the result."""
    import onnx

    model = onnx.load(str(path))
    if pin_nms_squeeze_axes(model):
        onnx.checker.check_model(model)
        onnx.save(model, str(path))


def export_model(
    model: nn.Layer,
    cfg: Mapping[str, Any],
    plan: PruningPlan | None,
    out_dir: Path,
    *,
    label_list: Sequence[str],
    onnx: bool = False,
) -> ExportResult:
    """Export ``model`` (already pruned by ``plan`` and loaded) into ``out_dir``.

    ``cfg`` is the merged config (``Config.to_dict()`` shape): its EvalReader fixes the input size and the
    preprocessing written to ``infer_cfg.yml``. ``plan`` is saved beside the model (``model.plan.json``)
    so the pruned structure stays documented. ``label_list`` are the class names in id order.
    """
    infer_cfg = InferConfig.from_config(cfg, label_list)
    int8 = is_quant_aware(model)
    if int8:
        infer_cfg = replace(infer_cfg, precision="int8")
    size = infer_cfg.input_size
    out_dir = Path(out_dir)
    image, im_size = probe_batch(size)
    # A fake-quant layer computes its weights' scale in every forward and keeps it; a checkpoint's may be from the
    # weights before the last optimizer step. The graph takes the kept one: one forward makes it the final weights'.
    dygraph_out = DygraphPredictor(model)(image, im_size)
    with atomic_dir(out_dir) as staged:
        save_inference_model(model, size, staged)
        infer_cfg.write(staged)
        plan_data = plan.to_dict() if plan is not None else None
        if plan is not None:
            save_plan(plan, staged / Path(MODEL_FILE).stem)  # model.plan.json: load_plan(<folder>/model) reads it

        exported = PaddlePredictor(staged)
        exported_out = exported(image, im_size)
        parity = compare_detections([(dygraph_out, exported_out)], reference="dygraph", candidate=exported.name)
        if int8:  # checked as traced (the float graph of the fake-quant ops), which int8 kernels round a little apart
            freeze_quant_aware(staged)
        onnx_parity = None
        if onnx:
            runtime = OnnxPredictor(write_onnx(staged))
            onnx_parity = compare_detections(
                [(exported_out, runtime(image, im_size))], reference=exported.name, candidate=runtime.name
            )
        result = ExportResult(
            out_dir=str(out_dir),
            input_size=size,
            files={p.name: p.stat().st_size for p in sorted(staged.iterdir()) if p.is_file()},
            parameters_mib=parameter_mib(model),
            gflops=count_conv_macs(model, size).gflops,
            plan=plan_data,
            parity=parity,
            onnx_parity=onnx_parity,
            precision=infer_cfg.precision,
        )
    return result
