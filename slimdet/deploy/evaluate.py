"""Score an exported folder (float or int8) on the EvalReader's data, as a deployment would run it.

What a deployment team checks before shipping: the folder's own graph, fed by its own ``infer_cfg.yml``
preprocessing (``deploy/preprocess.py``), one image at a time, scored with the config's metric on the
EvalReader's images and ground truth. The preprocessing is the EvalReader's, translated at export (a
test checks that both give the same pixels), so a float export scores what ``slimdet eval`` gives its
checkpoint.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from slimdet.data.datasets import DetectionDataset
from slimdet.deploy.infer_cfg import InferConfig
from slimdet.deploy.predictor import Detector
from slimdet.deploy.preprocess import Preprocessor
from slimdet.errors import ConfigError
from slimdet.metrics import EvalResult, ReportingEvaluator
from slimdet.metrics.base import score


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

    def pairs() -> Iterator[tuple[dict[str, np.ndarray], dict[str, np.ndarray]]]:
        for record in dataset.records:
            _, image, im_size = preprocessor.prepare(Path(record.im_file))
            found = detector(image, im_size)
            truth = {
                "im_id": np.array([record.im_id], np.int64),
                "gt_bbox": record.gt_bbox[None],
                "gt_class": record.gt_class[None],
                "is_difficult": record.difficult[None],
            }
            yield truth, {"bbox": found.bbox, "bbox_num": found.bbox_num}

    done = itertools.count(1)
    progress = None if on_image is None else lambda _: on_image(next(done), len(dataset))
    score(evaluator, pairs(), on_step=progress)
    return evaluator.summary()
