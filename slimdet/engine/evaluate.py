"""Evaluation: the inference loop every evaluator is driven by, and the evaluator a config asks for.

``run_inference`` owns the loop, ``paddle.no_grad`` and the eval mode, and gives the model back in the
mode it came in (a trainer evaluating mid-run keeps training afterwards; a frozen teacher stays frozen).
It runs the model in dygraph or, with ``backend="inference"``, frozen into a Paddle Inference graph
(fused conv + BN, oneDNN: several times faster on a CPU, detections equal up to float rounding; see
:mod:`slimdet.inference`). ``slimdet eval``'s core (rebuild a checkpoint, score it) is
``slimdet.commands.evaluate``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import paddle
from paddle.static import InputSpec

from slimdet.data.datasets import DetectionDataset
from slimdet.errors import ConfigError, did_you_mean
from slimdet.inference import CompiledGraph
from slimdet.metrics import COCOMetric, Evaluator, ReportingEvaluator, VOCMetric
from slimdet.metrics.base import score
from slimdet.modeling.modes import inference_context


class InferenceGraph(paddle.nn.Layer):
    """The model's eval forward with outputs in a fixed order, (bbox, bbox_num), as graphs need them."""

    def __init__(self, detector: paddle.nn.Layer) -> None:
        super().__init__()
        self.detector = detector

    def forward(self, image, im_size):
        out = self.detector(image, im_size)
        return out["bbox"], out["bbox_num"]


Detect = Callable[[np.ndarray, np.ndarray], dict[str, np.ndarray]]  # (image, im_size) -> bbox, bbox_num


def detector_for(model: paddle.nn.Layer, backend: str) -> Detect:
    """``model``'s eval forward on numpy batches: in dygraph, or compiled into a graph of its weights as now."""
    if backend == "inference":
        spec = [InputSpec([-1, 3, -1, -1], "float32", name="image"), InputSpec([-1, 2], "int32", name="im_size")]
        graph = CompiledGraph(InferenceGraph(model), spec)

        def compiled(image: np.ndarray, im_size: np.ndarray) -> dict[str, np.ndarray]:
            bbox, bbox_num = graph(image.astype(np.float32, copy=False), im_size.astype(np.int32, copy=False))
            return {"bbox": bbox, "bbox_num": bbox_num}

        return compiled

    def dygraph(image: np.ndarray, im_size: np.ndarray) -> dict[str, np.ndarray]:
        out = model(paddle.to_tensor(image), paddle.to_tensor(im_size))
        return {"bbox": out["bbox"].numpy(), "bbox_num": out["bbox_num"].numpy()}

    return dygraph


def run_inference(
    model: paddle.nn.Layer,
    loader: Iterable[Mapping[str, np.ndarray]],
    evaluator: Evaluator,
    *,
    backend: str = "dygraph",
    on_batch: Callable[[int], None] | None = None,
) -> dict[str, float]:
    """Feed every eval batch (``image``, ``im_size``, ground truth …) through ``model`` and ``evaluator``.

    ``backend``: "dygraph" or "inference" (the model compiled once per call, from its current weights).
    ``on_batch(images_in_batch)`` is called after each batch (progress bars).
    """
    with inference_context(model):
        detect = detector_for(model, backend)
        score(evaluator, ((batch, detect(batch["image"], batch["im_size"])) for batch in loader), on_step=on_batch)
    return evaluator.evaluate()


def build_evaluator(cfg: Mapping[str, Any], dataset: DetectionDataset) -> ReportingEvaluator:
    """The config's ``metric`` for the eval dataset: VOC (``map_type``) or COCO (its instances json)."""
    metric = cfg.get("metric", "VOC")
    if metric == "VOC":
        return VOCMetric(dataset.class_names, map_type=cfg.get("map_type", "11point"))
    if metric == "COCO":
        entry = cfg["EvalReader"]["dataset"]
        category_ids = getattr(dataset, "category_ids", None)
        if category_ids is None:
            raise ConfigError(f"metric: COCO needs a !COCODataSet in EvalReader.dataset, not {entry.get('type')!r}")
        clsid2catid = {index + dataset.class_offset: cat for index, cat in enumerate(category_ids)}
        return COCOMetric(Path(entry["dataset_dir"]) / entry["anno_path"], clsid2catid)
    raise ConfigError(
        f"metric: {metric!r} is not supported (use VOC or COCO){did_you_mean(str(metric), ('VOC', 'COCO'))}"
    )
