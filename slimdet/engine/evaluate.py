"""Evaluation: the inference loop every evaluator is driven by, and the evaluator a config asks for.

``run_inference`` owns the loop, ``paddle.no_grad`` and the eval mode, and gives the model back in the
mode it came in (a trainer evaluating mid-run keeps training afterwards; a frozen teacher stays frozen).
``slimdet eval``'s core (rebuild a checkpoint, score it) is ``slimdet.commands.evaluate``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import paddle

from slimdet.data.datasets import DetectionDataset
from slimdet.errors import ConfigError, did_you_mean
from slimdet.metrics import COCOMetric, Evaluator, ReportingEvaluator, VOCMetric
from slimdet.modeling.modes import inference_context


def run_inference(
    model: paddle.nn.Layer,
    loader: Iterable[Mapping[str, np.ndarray]],
    evaluator: Evaluator,
    *,
    on_batch: Callable[[int], None] | None = None,
) -> dict[str, float]:
    """Feed every eval batch (``image``, ``im_size``, ground truth …) through ``model`` and ``evaluator``.

    ``on_batch(images_in_batch)`` is called after each batch (progress bars).
    """
    evaluator.reset()
    with inference_context(model):
        for batch in loader:
            outputs = model(paddle.to_tensor(batch["image"]), paddle.to_tensor(batch["im_size"]))
            detections = {"bbox": outputs["bbox"].numpy(), "bbox_num": outputs["bbox_num"].numpy()}
            evaluator.process(batch, detections)
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
