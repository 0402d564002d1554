"""One process's sensitivity trials: the model with its weights, PaddleSlim traced once, the eval set kept ready.

A trial prunes one conv by one ratio, scores the model on the eval set and puts every cut tensor back
bit for bit. Three things make a trial cheap without changing its result:

* the pruning graph is traced once per process (:class:`~slimdet.slim.pruner.TracedPruner`), not per trial;
* when every analysed conv and everything cut with it lies in the head, the backbone's features of the
  eval set are computed once and each trial re-runs only head → post-processing → metric (the same ops on
  the same inputs as a full forward, so the same numbers);
* in dygraph, the head's levels of the unpruned model are kept too, and a trial recomputes only the levels
  its cut changes (:class:`HeadChange`): level i feeds level i+1 through its route, so a cut inside
  ``yolo_block.i`` changes levels i…2, a cut of ``yolo_block.i.tip`` (or ``yolo_output.i``) level i alone;
* the eval batches (features, or decoded images otherwise) stay in memory when they fit ``cache_mb``;
  beyond that they are streamed from the loader for every trial;
* on a CPU a trial can score the pruned model through Paddle Inference (:mod:`slimdet.inference`): the
  pruned head (or whole model) is compiled afresh for each trial, a fixed cost of a few seconds, and then
  runs several times faster than dygraph. ``backend="auto"`` times both ways on the base model during
  set-up and keeps the faster for the trials: dygraph on a handful of small images, inference on a real
  eval set. The two agree up to float rounding in the fused kernels (same backend: bit for bit).
"""

from __future__ import annotations

import hashlib
import itertools
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from slimdet.errors import PlanError, SlimdetError

# Paddle is imported inside functions here on purpose: sensitivity worker processes import this module to
# read their TrialSpec, then set their thread count, and only then load paddle (it reads the count once).

DEFAULT_CACHE_MB = 2048.0
COMPILE_SECONDS = 2.0  # about what compiling a pruned YOLOv3 into a Paddle Inference graph costs on a CPU


@dataclass(frozen=True)
class TrialSpec:
    """Everything a process needs to set up the same trials as any other (plain data: sent to workers)."""

    config: str
    overrides: tuple[str, ...] = ()
    params: tuple[str, ...] | None = None  # None: every yolo_block conv (the 18 legacy ones)
    ratios: tuple[float, ...] = (0.5,)  # only checked here: the largest must leave filters in every conv
    criterion: str = "l1_norm"
    eval_images: int | None = None  # the first N images of the EvalReader's dataset; None: all
    batch_size: int | None = None  # EvalReader.batch_size override
    cache_mb: float = DEFAULT_CACHE_MB
    device: str | None = None
    data_workers: int | None = None  # loader processes (None: the reader's worker_num)
    backend: str = "auto"  # what scores each trial: "dygraph", "inference", or "auto" (the faster on the base model)


_HEAD_UNIT = re.compile(r"yolo_(block|output|transition)\.(\d+)\.(tip\.)?")


@dataclass(frozen=True)
class HeadChange:
    """The head levels a cut changes: every level from ``full_from`` on (None: none), plus ``tips``, earlier
    levels whose route is unchanged but whose tip (or output conv) was cut."""

    full_from: int | None
    tips: frozenset[int]

    @classmethod
    def of(cls, names: Iterable[str]) -> HeadChange:
        """From the names of the tensors a cut touches (all in the head: ``CachedFeatures`` makes sure)."""
        full, tips = [], set()
        for name in names:
            match = _HEAD_UNIT.search(name)
            if match is None:
                raise ValueError(f"{name} is not in the YOLOv3 head")
            unit, level = match.group(1), int(match.group(2))
            if unit == "transition":  # its output is level+1's input
                full.append(level + 1)
            elif unit == "output" or match.group(3):
                tips.add(level)
            else:  # the block's body: its route, and so every later level, changes
                full.append(level)
        start = min(full, default=None)
        return cls(start, frozenset(level for level in tips if start is None or level < start))

    def outputs(self, head: Any, features: Sequence[Any], base: Sequence[tuple[Any, Any]]) -> list[Any]:
        """The head's raw outputs after the cut, from the unpruned model's (route, output) per level."""
        outputs = [output for _, output in base]
        for level in self.tips:
            outputs[level] = head.output_from_route(level, base[level][0])
        if self.full_from is not None:
            route = base[self.full_from - 1][0] if self.full_from > 0 else None
            for offset, (_, output) in enumerate(head.levels(features, self.full_from, route)):
                outputs[self.full_from + offset] = output
        return outputs


class EvalSet(Protocol):
    mode: str  # how trials run, for people

    def evaluate(
        self, model: Any, evaluator: Any, backend: str = "dygraph", change: HeadChange | None = None
    ) -> dict[str, float]: ...


class FirstImages:
    """The first ``limit`` images of a loader's epoch (the last batch cut short), re-iterable."""

    def __init__(self, loader: Any, limit: int | None) -> None:
        self.loader = loader
        self.total = len(loader.dataset) if limit is None else min(limit, len(loader.dataset))

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        left = self.total
        for batch in self.loader.epoch_batches(0):
            if left <= 0:
                return
            size = len(batch["image"])
            yield batch if size <= left else {key: value[:left] for key, value in batch.items()}
            left -= size


class StreamedImages:
    """Full forward per trial over batches read again from the loader (the set is too big to keep)."""

    mode = "full forward, images streamed"

    def __init__(self, batches: Iterable[Mapping[str, np.ndarray]]) -> None:
        self.batches = batches

    def evaluate(
        self, model: Any, evaluator: Any, backend: str = "dygraph", change: HeadChange | None = None
    ) -> dict[str, float]:
        """``change`` is not needed: a full forward recomputes everything."""
        from slimdet.engine.evaluate import run_inference

        return run_inference(model, self.batches, evaluator, backend=backend)


class CachedImages(StreamedImages):
    """Full forward per trial over decoded batches kept in memory."""

    mode = "full forward, images cached"


class CachedFeatures:
    """Backbone features of every eval batch, computed once; a trial runs head → post-processing → metric.

    The eval forward of :class:`~slimdet.modeling.yolov3.YOLOv3` is ``post_process(head(backbone(image)),
    im_size)``; with the backbone untouched by every trial, its output is the same for every trial. Each
    item also keeps the unpruned head's (route, output) per level, from which a dygraph trial given its
    ``change`` recomputes only the levels the cut changes.
    """

    mode = "head only, backbone features cached"

    def __init__(self, items: list[tuple[list[Any], Any, dict[str, np.ndarray], list[tuple[Any, Any]]]]) -> None:
        self.items = items  # (features, im_size tensor, batch without its image, unpruned head levels)

    def evaluate(
        self, model: Any, evaluator: Any, backend: str = "dygraph", change: HeadChange | None = None
    ) -> dict[str, float]:
        from slimdet.modeling.modes import inference_context

        evaluator.reset()
        with inference_context(model):
            if backend == "inference":
                graph = _compile_head(model, self.items[0][0])
                for features, im_size, batch, _ in self.items:
                    bbox, bbox_num = graph(*(f.numpy() for f in features), im_size.numpy())
                    evaluator.process(batch, {"bbox": bbox, "bbox_num": bbox_num})
            else:
                for features, im_size, batch, levels in self.items:
                    raw = model.head(features) if change is None else change.outputs(model.head, features, levels)
                    out = model.post_process(raw, im_size)
                    evaluator.process(batch, {"bbox": out["bbox"].numpy(), "bbox_num": out["bbox_num"].numpy()})
        return evaluator.evaluate()


def _compile_head(model: Any, features: list[Any]) -> Any:
    """head → post-processing of ``model`` as it is now (pruned), as a graph fed features and ``im_size``."""
    from paddle import nn
    from paddle.static import InputSpec

    from slimdet.inference import CompiledGraph

    class HeadGraph(nn.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.detector = model

        def forward(self, features, im_size):
            out = self.detector.post_process(self.detector.head(features), im_size)
            return out["bbox"], out["bbox_num"]

    specs = [InputSpec([-1, int(f.shape[1]), -1, -1], "float32", name=f"feature{i}") for i, f in enumerate(features)]
    return CompiledGraph(HeadGraph(), [specs, InputSpec([-1, 2], "int32", name="im_size")])


def prepare_eval_set(model: Any, batches: FirstImages, *, head_only: bool, cache_mb: float) -> EvalSet:
    """Keep what trials need in memory when it fits ``cache_mb`` (estimated from the first batch), else stream."""
    import paddle

    from slimdet.modeling.modes import inference_context

    budget = cache_mb * 2**20
    stream = iter(batches)
    first = next(stream, None)
    if first is None:
        raise SlimdetError("the eval set is empty: check EvalReader.dataset and --eval-images")
    per_image = first["image"].nbytes / len(first["image"])
    if not head_only:
        if per_image * batches.total > budget:
            return StreamedImages(batches)
        cached = CachedImages([first, *stream])
        batches.loader.close()  # everything is in memory: the loader's processes can go
        return cached
    items = []
    with inference_context(model):
        for batch in itertools.chain([first], stream):
            features = model.backbone(paddle.to_tensor(batch["image"]))
            levels = model.head.levels(features)
            kept = [*features, *(tensor for level in levels for tensor in level)]
            if not items and sum(int(t.size) for t in kept) * 4 / len(batch["image"]) * batches.total > budget:
                return StreamedImages(batches)
            rest = {key: value for key, value in batch.items() if key != "image"}
            items.append((features, paddle.to_tensor(batch["im_size"]), rest, levels))
    batches.loader.close()
    return CachedFeatures(items)


def weights_sha256(model: Any) -> str:
    """A digest of every persistable of ``model`` by legacy name, dtype, shape and bytes."""
    from slimdet.weights import legacy_state

    digest = hashlib.sha256()
    for name, tensor in sorted(legacy_state(model).items()):
        value = np.ascontiguousarray(tensor.numpy())
        digest.update(f"{name}|{value.dtype}|{value.shape}|".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def resolve_params(requested: Sequence[str] | None, model: Any) -> tuple[str, ...]:
    """The convs to analyse: ``requested``, or every yolo_block conv of the model in model order (for the
    legacy head, ``conv_block_num`` 2, the 18 PaddleDetection's slim model zoo prunes, in its order: docs/legacy.md,
    "Pruning and r578")."""
    from slimdet.slim.plan import prunable_convs

    if requested is not None:
        duplicates = sorted({name for name in requested if list(requested).count(name) > 1})
        if duplicates:
            raise PlanError(f"--pruned_params lists {', '.join(duplicates)} more than once: list each name once")
        return tuple(requested)
    block_convs = tuple(name for name in prunable_convs(model) if name.startswith("yolo_block."))
    if not block_convs:
        raise PlanError(
            "this model has no yolo_block convs to analyse by default: name them with --pruned_params "
            "(`slimdet params -c CFG --prunable` lists what can be pruned)"
        )
    return block_convs


class TrialSession:
    """The model of ``spec`` with its weights, a traced pruner and the eval set, ready to run trials."""

    def __init__(self, spec: TrialSpec) -> None:
        from slimdet.config import load_config

        if spec.eval_images is not None and spec.eval_images < 1:
            raise SlimdetError(f"--eval-images must be at least 1, got {spec.eval_images}")
        cfg = load_config(spec.config, spec.overrides)  # a bad config fails before paddle is even imported
        data = cfg.to_dict()

        from slimdet.config.sizes import eval_input_size
        from slimdet.data import build_loader
        from slimdet.engine.device import select_device
        from slimdet.engine.evaluate import build_evaluator
        from slimdet.inference import resolve_backend
        from slimdet.slim.assemble import build_trained_model
        from slimdet.slim.plan import PruningPlan
        from slimdet.slim.pruner import TracedPruner

        if spec.batch_size is not None:
            data.setdefault("EvalReader", {})["batch_size"] = spec.batch_size
        device = select_device(spec.device, cfg.use_gpu)
        loader = build_loader(data, "eval", workers=spec.data_workers)  # config and data fail before the model is built
        self.evaluator = build_evaluator(data, loader.dataset)
        self.model, base_plan = build_trained_model(data, cfg.weights)
        self.params = resolve_params(spec.params, self.model)
        # The largest ratio must leave filters in every conv; PlanError names bad names, ratios, criterion.
        widest = PruningPlan({name: max(spec.ratios) for name in self.params}, criterion=spec.criterion)
        widest.check(self.model)
        self.pruner = TracedPruner(self.model, criterion=widest.criterion)
        self.batches = FirstImages(loader, spec.eval_images)
        self.eval_set = prepare_eval_set(self.model, self.batches, head_only=self._head_only(), cache_mb=spec.cache_mb)
        self.backend, self._base_map = self._pick_backend(resolve_backend(spec.backend, device), spec.backend == "auto")
        self._levels_cached = isinstance(self.eval_set, CachedFeatures)
        self._fingerprint = weights_sha256(self.model)
        self.save_dir = str(Path(cfg.save_dir) / cfg.name)  # where the sensitivity file goes by default
        dataset = data["EvalReader"]["dataset"]
        self.description: dict[str, Any] = {
            "model": {
                "architecture": data.get("architecture", "YOLOv3"),
                "backbone": (data.get("YOLOv3") or {}).get("backbone"),
                "num_classes": cfg.num_classes,
                "plan": base_plan.to_dict() if base_plan is not None else None,
                "weights_sha256": self._fingerprint,
            },
            "eval_set": {
                "anno_path": dataset.get("anno_path"),
                "images": self.batches.total,
                "input_size": eval_input_size(data),
                "metric": cfg.metric,
                "map_type": cfg.map_type,
            },
            "criterion": widest.criterion,
            "source": {
                "config": str(spec.config),
                "weights": str(cfg.weights),
                "dataset_dir": dataset.get("dataset_dir"),
            },
        }

    def _head_only(self) -> bool:
        """Whether no trial touches the backbone: every analysed conv's group lies inside the head."""
        head = {p.name for p in self.model.head.parameters()}
        ratio = 0.5  # the group's members do not depend on the ratio
        return all(cut.name in head for name in self.params for cut in self.pruner.cuts({name: ratio})[name])

    def _pick_backend(self, backend: str, measure: bool) -> tuple[str, float]:
        """(backend for the trials, base mAP by it). ``measure`` (auto on a CPU): compiling costs a few seconds
        per trial and pays off only on a large enough eval set, so the base model is scored in dygraph and,
        unless that took less than a compile, through inference too; the faster backend runs the trials."""
        candidates = ("dygraph", "inference") if measure and backend == "inference" else (backend,)
        timed: dict[str, tuple[float, float]] = {}
        for candidate in candidates:
            started = time.perf_counter()
            base = float(self.eval_set.evaluate(self.model, self.evaluator, candidate)["mAP"])
            timed[candidate] = (time.perf_counter() - started, base)
            if candidate == "dygraph" and timed[candidate][0] < COMPILE_SECONDS:
                break
        fastest = min(timed, key=lambda name: timed[name][0])
        return fastest, timed[fastest][1]

    @property
    def mode(self) -> str:
        """How trials run, for people: what is recomputed, and by which backend."""
        return f"{self.eval_set.mode}, {self.backend}"

    def base_map(self) -> float:
        return self._base_map

    def trial_map(self, param: str, ratio: float) -> float:
        """mAP with ``param`` pruned by ``ratio``; the model is exactly as loaded again afterwards."""
        with self.pruner.pruned({param: ratio}) as cuts:
            change = HeadChange.of(cut.name for cut in cuts[param]) if self._levels_cached else None
            return float(self.eval_set.evaluate(self.model, self.evaluator, self.backend, change)["mAP"])

    def close(self) -> None:
        """Stop the data loader's processes (streamed eval sets keep them)."""
        self.batches.loader.close()

    def check_restored(self) -> None:
        """Fail loudly if a trial left anything changed (a bug, never a user error)."""
        if weights_sha256(self.model) != self._fingerprint:
            raise RuntimeError("the model's weights differ from the loaded ones after the trials (restore failed)")
