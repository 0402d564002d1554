"""``slimdet eval``'s core: rebuild a checkpoint from its config and score it with the config's metric."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slimdet._files import write_bytes_atomic
from slimdet.config import Config
from slimdet.data import build_loader
from slimdet.engine.device import select_device
from slimdet.engine.evaluate import build_evaluator, run_inference
from slimdet.inference import resolve_engine
from slimdet.metrics import EvalResult
from slimdet.slim.assemble import build_trained_model
from slimdet.slim.plan import PruningPlan


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
    config_file: str = ""  # the file read: shows when ``-c NAME`` found a shipped config

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "config_file": self.config_file,
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
        config_file=str(cfg.path),
        weights=str(weights),
        pruned=used_plan is not None,
        images=done,
        seconds=seconds,
        summary=evaluator.summary(),
        bbox_json=bbox_json,
        engine=engine,
    )
