"""``slimdet eval``'s cores: score a checkpoint rebuilt from its config, or an exported folder as deployed
(``deploy.evaluate``), with the config's metric on the EvalReader's data."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slimdet._files import write_bytes_atomic
from slimdet.config import Config, load_config
from slimdet.config.sizes import eval_input_size
from slimdet.data import build_dataset, build_loader
from slimdet.deploy.evaluate import score_detector
from slimdet.deploy.infer import open_exported
from slimdet.engine.device import select_device
from slimdet.engine.evaluate import build_evaluator, run_inference
from slimdet.inference import resolve_backend
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
    backend: str = "dygraph"  # what ran the model: "inference" (Paddle Inference graph) or "dygraph"
    config_file: str = ""  # the file read: shows when ``-c NAME`` found a shipped config

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "config_file": self.config_file,
            "weights": self.weights,
            "pruned": self.pruned,
            "images": self.images,
            "seconds": round(self.seconds, 3),
            "backend": self.backend,
            "bbox_json": self.bbox_json,
            **self.summary.to_dict(),
        }


@dataclass(frozen=True)
class ExportedEvalResult:
    """``slimdet eval --model-dir``'s outcome: one exported folder's metric on the EvalReader's data."""

    config: str
    model_dir: str
    backend: str  # paddle_inference | onnxruntime
    precision: str  # float32 | int8, as infer_cfg.yml says
    images: int
    seconds: float
    summary: EvalResult

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "model_dir": self.model_dir,
            "backend": self.backend,
            "precision": self.precision,
            "images": self.images,
            "seconds": round(self.seconds, 3),
            **self.summary.to_dict(),
        }


@dataclass(frozen=True)
class EvalRequest:
    """One checkpoint evaluation, its inputs resolved once at the command line: the merged config, the weights,
    the plan the flags give (a checkpoint's own sidecar is read as the model is rebuilt; both must agree)."""

    cfg: Config
    weights: str | None = None  # None: the config's ``weights``
    plan: PruningPlan | None = None
    output_eval: Path | None = None  # also write the detections there as ``bbox.json`` (COCO result format)
    backend: str = "auto"  # "inference", "dygraph" or "auto" (see ``inference.resolve_backend``)

    @classmethod
    def from_flags(
        cls,
        cfg: Config,
        weights: str | None = None,
        *,
        pruned_params: str | None = None,
        pruned_ratios: str | None = None,
        output_eval: str | Path | None = None,
        backend: str = "auto",
    ) -> EvalRequest:
        """The request as ``slimdet eval`` gives it (the plan from raw flag strings, see ``PruningPlan.from_flags``)."""
        plan = PruningPlan.from_flags(pruned_params, pruned_ratios)
        return cls(cfg, weights, plan, Path(output_eval) if output_eval is not None else None, backend)


def evaluate_checkpoint(
    request: EvalRequest,
    *,
    device: str | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> CheckpointEvalResult:
    """Rebuild the checkpoint (pruned by its plan sidecar or the request's plan), run it over the EvalReader's
    data and score it with the config's metric. ``backend`` "auto" is Paddle Inference on a CPU, unless the eval
    set is too small for compiling to pay off, and dygraph on a GPU. ``on_batch(images_done, images_total)``
    reports progress; the detections are written atomically.
    """
    cfg, output_eval = request.cfg, request.output_eval
    data = cfg.to_dict()
    weights = request.weights or cfg.weights
    used_device = select_device(device, cfg.use_gpu)
    resolve_backend(request.backend, used_device)  # an unknown backend is refused before anything is built
    model, used_plan = build_trained_model(data, weights, request.plan)  # wrong weights fail before data is read
    loader = build_loader(data, "eval")
    evaluator = build_evaluator(data, loader.dataset)
    total, done = len(loader.dataset), 0
    backend = resolve_backend(request.backend, used_device, images=total, input_size=eval_input_size(data))

    def count(images: int) -> None:
        nonlocal done
        done += images
        if on_batch is not None:
            on_batch(done, total)

    started = time.perf_counter()
    with loader:
        run_inference(model, loader, evaluator, backend=backend, on_batch=count)
    seconds = time.perf_counter() - started
    bbox_json = None
    if output_eval is not None:
        output_eval.mkdir(parents=True, exist_ok=True)
        bbox_json = str(write_bytes_atomic(output_eval / "bbox.json", json.dumps(evaluator.records()).encode()))
    return CheckpointEvalResult(
        config=cfg.name,
        config_file=str(cfg.path),
        weights=str(weights),
        pruned=used_plan is not None,
        images=done,
        seconds=seconds,
        summary=evaluator.summary(),
        bbox_json=bbox_json,
        backend=backend,
    )


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
        backend=detector.name,
        precision=infer_cfg.precision,
        images=len(dataset),
        seconds=time.perf_counter() - started,
        summary=summary,
    )
