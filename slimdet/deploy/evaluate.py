"""Score an exported folder (float or int8) on the EvalReader's data, as a deployment would run it.

What a deployment team checks before shipping: the folder's own graph, fed by its own ``infer_cfg.yml``
preprocessing (``deploy/preprocess.py``), one image at a time, scored with the config's metric on the
EvalReader's images and ground truth. The preprocessing is the EvalReader's, translated at export (a
test checks that both give the same pixels), so a float export scores what ``slimdet eval`` gives its
checkpoint.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from slimdet.data.datasets import DetectionDataset
from slimdet.deploy.infer_cfg import InferConfig
from slimdet.deploy.predictor import Detector
from slimdet.deploy.preprocess import Preprocessor
from slimdet.errors import ConfigError
from slimdet.metrics import EvalResult, ReportingEvaluator


@dataclass(frozen=True)
class ExportedEvalResult:
    """``slimdet eval --model-dir``'s outcome: one exported folder's metric on the EvalReader's data."""

    config: str
    model_dir: str
    engine: str  # paddle_inference | onnxruntime
    precision: str  # float32 | int8, as infer_cfg.yml says
    images: int
    seconds: float
    summary: EvalResult

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "model_dir": self.model_dir,
            "engine": self.engine,
            "precision": self.precision,
            "images": self.images,
            "seconds": round(self.seconds, 3),
            **self.summary.to_dict(),
        }


def check_classes(infer_cfg: InferConfig, dataset: DetectionDataset) -> None:
    """The model must name the dataset's classes in the same order, or its class ids mean other things."""
    if tuple(infer_cfg.label_list) != tuple(dataset.class_names):
        raise ConfigError(
            f"the model's classes ({', '.join(infer_cfg.label_list)}) are not the EvalReader's "
            f"({', '.join(dataset.class_names)}): evaluate with the config the model was exported from"
        )


def score_detector(
    detector: Detector,
    infer_cfg: InferConfig,
    dataset: DetectionDataset,
    evaluator: ReportingEvaluator,
    *,
    on_image: Callable[[int, int], None] | None = None,
) -> EvalResult:
    """Run ``detector`` on every image of ``dataset`` (batch 1, ``infer_cfg``'s preprocessing) and score it.

    ``on_image(done, total)`` reports progress.
    """
    check_classes(infer_cfg, dataset)
    preprocessor = Preprocessor(infer_cfg.preprocess)
    evaluator.reset()
    for done, record in enumerate(dataset.records, start=1):
        _, image, im_size = preprocessor.prepare(Path(record.im_file))
        found = detector(image, im_size)
        truth = {
            "im_id": np.array([record.im_id], np.int64),
            "gt_bbox": record.gt_bbox[None],
            "gt_class": record.gt_class[None],
            "is_difficult": record.difficult[None],
        }
        evaluator.process(truth, {"bbox": found.bbox, "bbox_num": found.bbox_num})
        if on_image is not None:
            on_image(done, len(dataset))
    return evaluator.summary()


def evaluate_exported(
    model_dir: Path,
    config: Path,
    overrides: Sequence[str] = (),
    *,
    onnx: bool = False,
    threads: int | None = None,
    on_image: Callable[[int, int], None] | None = None,
) -> ExportedEvalResult:
    """``slimdet eval --model-dir DIR -c CFG``: the folder's Paddle Inference graph (or its ``model.onnx``
    through onnxruntime with ``onnx``) scored with CFG's metric on CFG's EvalReader data."""
    from slimdet.config import load_config
    from slimdet.data import build_dataset
    from slimdet.deploy.infer import open_exported
    from slimdet.engine.evaluate import build_evaluator

    cfg = load_config(config, overrides)
    data: Mapping[str, Any] = cfg.to_dict()
    detector, infer_cfg = open_exported(model_dir, onnx=onnx, threads=threads)
    dataset = build_dataset(data, "eval")
    evaluator = build_evaluator(data, dataset)
    started = time.perf_counter()
    summary = score_detector(detector, infer_cfg, dataset, evaluator, on_image=on_image)
    return ExportedEvalResult(
        config=cfg.name,
        model_dir=str(model_dir),
        engine=detector.name,
        precision=infer_cfg.precision,
        images=len(dataset),
        seconds=time.perf_counter() - started,
        summary=summary,
    )
