"""Evaluation: the inference loop every evaluator is driven by, and ``slimdet eval``'s core.

``run_inference`` owns the loop, ``paddle.no_grad`` and the eval mode, and gives the model back in the
mode it came in (a trainer evaluating mid-run keeps training afterwards; a frozen teacher stays frozen).
It runs the model in dygraph or, with ``engine="inference"``, frozen into a Paddle Inference graph
(fused conv + BN, oneDNN: several times faster on a CPU, detections equal up to float rounding; see
:mod:`slimdet.inference`). ``evaluate_checkpoint`` rebuilds a checkpoint from its config and scores it
with the config's metric.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import paddle

from slimdet._files import write_bytes_atomic
from slimdet.engine.device import select_device
from slimdet.errors import ConfigError, did_you_mean
from slimdet.inference import CompiledGraph, resolve_engine
from slimdet.metrics import COCOMetric, EvalResult, Evaluator, ReportingEvaluator, VOCMetric

if TYPE_CHECKING:
    from slimdet.config import Config
    from slimdet.data.datasets import DetectionDataset
    from slimdet.slim.plan import PruningPlan


@contextmanager
def inference_context(model: paddle.nn.Layer) -> Iterator[None]:
    """Eval mode and no gradients inside; every sublayer's own mode restored on the way out."""
    modes = [(layer, layer.training) for layer in model.sublayers(include_self=True)]
    model.eval()
    try:
        with paddle.no_grad():
            yield
    finally:
        for layer, training in modes:
            layer.training = training


class InferenceGraph(paddle.nn.Layer):
    """The model's eval forward with outputs in a fixed order, (bbox, bbox_num), as graphs need them."""

    def __init__(self, detector: paddle.nn.Layer) -> None:
        super().__init__()
        self.detector = detector

    def forward(self, image, im_size):
        out = self.detector(image, im_size)
        return out["bbox"], out["bbox_num"]


Detect = Callable[[np.ndarray, np.ndarray], dict[str, np.ndarray]]  # (image, im_size) -> bbox, bbox_num


def detector_for(model: paddle.nn.Layer, engine: str) -> Detect:
    """``model``'s eval forward on numpy batches: in dygraph, or compiled into a graph of its weights as now."""
    if engine == "inference":
        from paddle.static import InputSpec

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
    engine: str = "dygraph",
    on_batch: Callable[[int], None] | None = None,
) -> dict[str, float]:
    """Feed every eval batch (``image``, ``im_size``, ground truth …) through ``model`` and ``evaluator``.

    ``engine``: "dygraph" or "inference" (the model compiled once per call, from its current weights).
    ``on_batch(images_in_batch)`` is called after each batch (progress bars).
    """
    evaluator.reset()
    with inference_context(model):
        detect = detector_for(model, engine)
        for batch in loader:
            evaluator.process(batch, detect(batch["image"], batch["im_size"]))
            if on_batch is not None:
                on_batch(len(batch["image"]))
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
    raise ConfigError(f"metric: {metric!r} is not supported (use VOC or COCO){did_you_mean(str(metric), ('VOC', 'COCO'))}")


@dataclass(frozen=True)
class CheckpointEvalResult:
    """``slimdet eval``'s outcome: the metric summary of one checkpoint on the EvalReader's data."""

    config: str
    weights: str
    pruned: bool
    images: int
    seconds: float
    summary: EvalResult
    bbox_json: str | None = None
    engine: str = "dygraph"  # what ran the model: "inference" (Paddle Inference graph) or "dygraph"

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "weights": self.weights,
            "pruned": self.pruned,
            "images": self.images,
            "seconds": round(self.seconds, 3),
            "engine": self.engine,
            "bbox_json": self.bbox_json,
            **self.summary.to_dict(),
        }


def evaluate_checkpoint(
    cfg: Config,
    weights: str | None = None,
    *,
    plan: PruningPlan | None = None,
    output_eval: str | Path | None = None,
    device: str | None = None,
    engine: str = "auto",
    on_batch: Callable[[int, int], None] | None = None,
) -> CheckpointEvalResult:
    """Rebuild the checkpoint (``weights`` or the config's ``weights``; pruned by its plan sidecar or
    ``plan``), run it over the EvalReader's data and score it with the config's metric.

    ``output_eval``: also write the detections there as ``bbox.json`` (COCO result format), atomically.
    ``engine``: "inference", "dygraph" or "auto" (inference on a CPU, dygraph on a GPU).
    ``on_batch(images_done, images_total)`` reports progress.
    """
    from slimdet.data import build_loader
    from slimdet.modeling.assemble import build_trained_model

    data = cfg.to_dict()
    weights = weights or cfg.weights
    engine = resolve_engine(engine, select_device(device, cfg.use_gpu))
    model, used_plan = build_trained_model(data, weights, plan)  # wrong weights fail before data is read
    loader = build_loader(data, "eval")
    evaluator = build_evaluator(data, loader.dataset)
    total, done = len(loader.dataset), 0

    def count(images: int) -> None:
        nonlocal done
        done += images
        if on_batch is not None:
            on_batch(done, total)

    started = time.perf_counter()
    with loader:
        run_inference(model, loader, evaluator, engine=engine, on_batch=count)
    seconds = time.perf_counter() - started
    bbox_json = None
    if output_eval is not None:
        out_dir = Path(output_eval)
        out_dir.mkdir(parents=True, exist_ok=True)
        bbox_json = str(write_bytes_atomic(out_dir / "bbox.json", json.dumps(evaluator.records()).encode()))
    return CheckpointEvalResult(
        config=cfg.name,
        weights=str(weights),
        pruned=used_plan is not None,
        images=done,
        seconds=seconds,
        summary=evaluator.summary(),
        bbox_json=bbox_json,
        engine=engine,
    )
