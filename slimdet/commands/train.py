"""``slimdet train``'s core: a resolved request → parts (loader, model, optimizer) and hooks → trained checkpoints.

A ``TrainRequest`` holds a training's inputs resolved once (config, plan, resume checkpoint, seed); the
pre-flight checks and the run read it. ``build_train_parts`` and ``build_hooks`` assemble the training, the
hooks' order being code with its reasons; ``train_from_config`` runs the engine's loop over them.

Checkpoints go to ``save_dir/<config name>/``: ``<iter>`` every ``snapshot_iter`` steps, ``model_final``
at the end, ``best_model`` (highest mAP) with ``eval=True``; ``curves.png`` beside them is drawn again after
each checkpoint (loss terms, LR, mAP: ``engine.curves``). The run is data-parallel when started by
``python -m paddle.distributed.launch``; only rank 0 writes, logs and evaluates.

Distillation (``distill-prune``, ``train -t``) trains through the same function: its request carries the
pruning plan (applied after the pretrained weights are loaded, before the optimizer exists; written beside
every checkpoint by slim's ``SidecarHook``), and it passes the ``step`` the trainer runs (slim's
``DistillStep``).

Quantization-aware training (``train --quant-aware``) is another part of the same assembly: its request
carries ``QuantAware``; the trained model (``pretrain_weights``, pruned to its own plan sidecar) is loaded
whole, then wrapped with fake-quant layers before the optimizer exists (slim's ``wrap_quant_aware``), and
its ``SidecarHook`` marks every checkpoint as quantization-aware.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import paddle

from slimdet.commands.curves import APART
from slimdet.config import Config
from slimdet.config.geometry import YOLOv3Geometry
from slimdet.config.sizes import eval_input_size
from slimdet.data import build_loader
from slimdet.engine import checkpoint
from slimdet.engine.curves import CurvesHook
from slimdet.engine.device import select_device
from slimdet.engine.distributed import data_parallel
from slimdet.engine.evaluate import build_evaluator, run_inference
from slimdet.engine.hooks import (
    CheckpointHook,
    ClassNamesHook,
    EvalHook,
    EvalRecord,
    Hook,
    LossHistory,
    ProgressHook,
    VisualDLHook,
)
from slimdet.engine.optim import build_optimizer
from slimdet.engine.trainer import Step, Trainer, TrainingInterrupted, model_losses
from slimdet.errors import SlimdetError
from slimdet.inference import resolve_backend
from slimdet.modeling.build import build_model
from slimdet.runtime import seed_everything
from slimdet.slim.checks import training_problems
from slimdet.slim.plan import PLAN_SIDECAR, PruneReport, PruningPlan, load_plan, resolve_plan
from slimdet.slim.quant_aware import left_float, wrap_quant_aware
from slimdet.slim.quant_settings import QUANT_SIDECAR, QuantAware, load_quant, resolve_quant
from slimdet.slim.sidecar_hook import SidecarHook
from slimdet.weights import load_weights


@dataclass(frozen=True)
class TrainResult:
    """What a training run did: where it wrote, how far it got, how fast, and the evaluations."""

    config: str
    output_dir: str
    device: str
    start_iter: int
    iterations: int
    final_checkpoint: str | None
    losses: Mapping[str, float]  # of the last step
    loss_history: tuple[tuple[int, float], ...]  # mean total loss per log_iter window: (iteration, loss)
    seconds: float  # the training loop, evaluations included
    eval_seconds: float
    seconds_per_iter: float  # training steps only
    evals: tuple[EvalRecord, ...] = ()
    best: EvalRecord | None = None
    pretrained: Mapping[str, int] = field(default_factory=dict)  # counts of the pretrain_weights load
    pruning: PruneReport | None = None  # what the plan cut, when training a pruned model
    config_file: str = ""  # the file read: shows when ``-c NAME`` found a shipped config
    resumed_from: str | None = None  # the checkpoint a resume started from (a folder resolves to its latest)
    # Per log_iter window: iteration, lr and every loss term's mean (distillation: student and distill terms apart).
    loss_terms: tuple[Mapping[str, float], ...] = ()
    processes: int = 1  # data-parallel processes (ranks) of the run
    batch_per_process: int = 0  # the images each process's batch-norm layers normalise over per step
    quant_aware: Mapping[str, Any] | None = None  # quantization-aware: its settings and the layers left float

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["pruning"] = self.pruning.to_dict() if self.pruning else None
        data["losses"] = dict(self.losses)
        data["loss_terms"] = [dict(window) for window in self.loss_terms]
        data["evals"] = [{"iteration": r.iteration, **r.metrics} for r in self.evals]
        data["best"] = {"iteration": self.best.iteration, **self.best.metrics} if self.best else None
        data["seconds"] = round(self.seconds, 3)
        data["eval_seconds"] = round(self.eval_seconds, 3)
        data["seconds_per_iter"] = round(self.seconds_per_iter, 4)
        return data


@dataclass(frozen=True)
class TrainRequest:
    """One training with its inputs resolved once: the pre-flight checks and the run both read this object.

    ``resume`` is a complete checkpoint (a folder the user named resolves to its latest), ``seed`` a resume's
    own (the data order depends on it), ``plan`` the structure to train: from the flags, from a resumed
    pruned checkpoint's sidecar, or both when they agree; ``quant`` quantization-aware training (a resumed
    quantization-aware checkpoint's, when the flags leave it out); ``vdl_log_dir`` the VisualDL log's folder
    (None: no log; ``scalar_log.log_dir`` resolves the flags). Build it with ``resolve``."""

    cfg: Config
    plan: PruningPlan | None = None
    resume: Path | None = None
    seed: int = 0
    eval: bool = False
    quant: QuantAware | None = None
    vdl_log_dir: Path | None = None

    @classmethod
    def resolve(
        cls,
        cfg: Config,
        *,
        plan: PruningPlan | None = None,
        resume: str | Path | None = None,
        seed: int = 0,
        eval: bool = False,
        quant: QuantAware | None = None,
        vdl_log_dir: Path | None = None,
    ) -> TrainRequest:
        """The request for ``cfg``; raises ``SlimdetError`` when ``resume`` is no resumable checkpoint or its
        saved plan or quantization contradicts ``plan`` or ``quant``."""
        if resume is None:
            if quant is not None:
                plan = quant_aware_plan(cfg, plan)
            return cls(cfg, plan, None, seed, eval, quant, vdl_log_dir)
        stem = checkpoint.resume_stem(resume)
        state = checkpoint.read_state(stem)  # not resumable (missing files): said before anything is built
        quant = resolve_quant(quant, load_quant(stem), stem)
        return cls(cfg, resolve_plan(plan, load_plan(stem)), stem, state["seed"], eval, quant, vdl_log_dir)

    @classmethod
    def from_flags(
        cls,
        cfg: Config,
        *,
        pruned_params: str | None = None,
        pruned_ratios: str | None = None,
        criterion: str = "l1_norm",
        resume: str | Path | None = None,
        seed: int = 0,
        eval: bool = False,
        quant_aware: bool = False,
        not_quant_pattern: str | None = None,
        vdl_log_dir: Path | None = None,
    ) -> TrainRequest:
        """``resolve`` with the plan and quantization as the command line gives them (raw strings, see
        ``PruningPlan.from_flags`` and ``QuantAware.from_flags``)."""
        plan = PruningPlan.from_flags(pruned_params, pruned_ratios, criterion)
        quant = QuantAware.from_flags(quant_aware, not_quant_pattern)
        return cls.resolve(cfg, plan=plan, resume=resume, seed=seed, eval=eval, quant=quant, vdl_log_dir=vdl_log_dir)

    def problems(self) -> list[str]:
        """What would stop this training before its first step (the plan against the architecture, the
        weights path, the dataset folders), found without reading weights or data."""
        data = self.cfg.to_dict()
        if self.resume is not None:
            data["pretrain_weights"] = None  # a resume starts from its checkpoint's weights
        return training_problems(data, self.plan, evaluate=self.eval)


def quant_aware_plan(cfg: Config, flags_plan: PruningPlan | None) -> PruningPlan | None:
    """The structure a quantization-aware run fine-tunes: its ``pretrain_weights``' own (their plan sidecar);
    raises ``SlimdetError`` when there are no weights to start from, or pruning flags for a float checkpoint
    (quantization-aware training fine-tunes a finished model: prune it first)."""
    if not cfg.pretrain_weights:
        raise SlimdetError("--quant-aware fine-tunes a trained model: add -o pretrain_weights=CHECKPOINT")
    saved = load_plan(cfg.pretrain_weights)
    if flags_plan is not None and saved is None:
        raise SlimdetError(
            "--quant-aware fine-tunes the checkpoint as it is: prune it first (train -p or distill-prune), then "
            "quantize the pruned checkpoint without the pruning flags"
        )
    return resolve_plan(flags_plan, saved)


def check_training(request: TrainRequest) -> None:
    """Raise one ``SlimdetError`` for what would stop ``request`` before its first step, reading no weights or
    data: a command about to start several processes checks here first, so that a mistake is one line, not
    one per process."""
    problems = request.problems()
    if problems:
        raise SlimdetError("; ".join(problems))


@dataclass
class TrainParts:
    """What a training is assembled from (Detectron2's ``build_*`` parts): a new training mode passes other
    parts to the same loop, never a second loop."""

    loader: Any  # the training loader (a context manager: its workers stop on exit)
    model: paddle.nn.Layer  # built, given its pretrained weights, pruned: what the optimizer trains
    optimizer: paddle.optimizer.Optimizer
    scheduler: paddle.optimizer.lr.LRScheduler
    device: str
    pretrained: dict[str, int] = field(default_factory=dict)  # counts of the pretrain_weights load
    pruning: PruneReport | None = None
    left_float: tuple[str, ...] = ()  # quantization-aware: the quantizable layers --not_quant_pattern kept float


def build_train_parts(request: TrainRequest, *, device: str | None, rank: int, world_size: int) -> TrainParts:
    """Loader, model (pretrained weights, then the plan; quantization-aware: the plan, then the trained
    weights, then fake-quant layers), optimizer and scheduler of ``request``."""
    cfg, data, plan, quant = request.cfg, request.cfg.to_dict(), request.plan, request.quant
    device_used = select_device(device, cfg.use_gpu)
    geometry = YOLOv3Geometry.from_config(data)  # one geometry for the model and its training targets
    loader = build_loader(data, "train", seed=request.seed, rank=rank, world_size=world_size, geometry=geometry)
    pretraining = request.resume is None and bool(cfg.pretrain_weights)
    # Random weights only where nothing will be loaded over them: a resume loads every weight, and so do a
    # quantization-aware run (strictly) and a fine-tune whose pretrain_weights cover the model (_load_pretrained).
    model = build_model(data, geometry=geometry, random_init=request.resume is None and not pretraining)
    if plan is not None:
        plan.check(model)  # a misspelt name fails before any weight is read or downloaded
    if quant is not None:
        left_float(model, quant)  # so does a --not_quant_pattern that matches nothing
    # The optimizer must see the pruned shapes; FLOPs are reported at the size the model is evaluated at. A
    # quantization-aware run's weights are a finished pruned model's: its shapes first, then all of them.
    size, prune_first = eval_input_size(data), quant is not None
    pruning = plan.apply(model, input_size=size) if plan is not None and prune_first else None
    pretrained: dict[str, int] = {}
    if pretraining:
        model, pretrained = _load_pretrained(model, data, geometry, cfg, strict=quant is not None)
    if plan is not None and not prune_first:
        pruning = plan.apply(model, input_size=size)
    left = tuple(wrap_quant_aware(model, quant)) if quant is not None else ()
    optimizer, scheduler = build_optimizer(data, model)
    return TrainParts(loader, model, optimizer, scheduler, device_used, pretrained, pruning, left)


def _load_pretrained(
    model: paddle.nn.Layer, data: dict[str, Any], geometry: YOLOv3Geometry, cfg: Config, *, strict: bool
) -> tuple[paddle.nn.Layer, dict[str, int]]:
    """``model`` (built without random weights) given ``cfg.pretrain_weights``, and the load's counts; ``strict``
    (quantization-aware training: a finished model, whole) raises ``WeightsError`` instead of a partial load.

    A file that leaves parameters out (a backbone's ImageNet weights, ``finetune_exclude_pretrained_params``)
    means the model is built again with its random initialisation and loaded again, so that those parameters
    start exactly where a run without this shortcut starts them. Random initialisation of a model every one of
    whose weights is then overwritten was the largest cost of building it (0.4 s of 0.5 s for the test suite's
    MobileNetV1-YOLOv3), paid by every fine-tune.
    """
    exclude = list(cfg.finetune_exclude_pretrained_params) or None
    report = load_weights(model, cfg.pretrain_weights, strict=strict, exclude=exclude, partial_load_hint=not strict)
    if report.missing or report.shape_mismatched or report.excluded:
        model = build_model(data, geometry=geometry)
        report = load_weights(model, cfg.pretrain_weights, strict=False, exclude=exclude)
    return model, report.to_dict()["counts"]


@dataclass
class TrainHooks:
    """The hooks of one training, in the order they run, and the ones its result reads back."""

    ordered: list[Hook]
    saver: CheckpointHook
    history: LossHistory
    evaluation: EvalHook | None


def build_hooks(
    request: TrainRequest, parts: TrainParts, loaders: ExitStack, *, rank: int, world_size: int, quiet: bool
) -> TrainHooks:
    """The hooks of ``request`` (none but the bookkeeping ones on ranks other than 0: only rank 0 writes,
    logs and evaluates); an eval loader goes on ``loaders``, so that its workers stop with the training's."""
    cfg, data = request.cfg, request.cfg.to_dict()
    out_dir = Path(cfg.save_dir) / cfg.name
    saver = CheckpointHook(cfg.snapshot_iter, out_dir)
    history = LossHistory(cfg.log_iter)
    evaluation = None
    if request.eval and rank == 0:
        eval_loader = loaders.enter_context(build_loader(data, "eval"))
        evaluator = build_evaluator(data, eval_loader.dataset)
        # A CPU scores each snapshot through Paddle Inference, unless the eval set is too small to pay for compiling.
        images, size = len(eval_loader.dataset), eval_input_size(data)
        backend = resolve_backend("auto", parts.device, images=images, input_size=size)
        model = parts.model
        evaluation = EvalHook(
            cfg.snapshot_iter, lambda: run_inference(model, eval_loader, evaluator, backend=backend), best_dir=out_dir
        )
    if rank != 0:
        return TrainHooks([], saver, history, None)
    images_per_step = cfg.train_batch_size * world_size
    visualdl = [VisualDLHook(request.vdl_log_dir, history, images_per_step, evaluation)] if request.vdl_log_dir else []
    ordered: list[Hook] = [
        # Before a save: the plan beside it (a stale one goes when unpruned); likewise the fake-quant settings,
        # without which eval, export and resume could not wrap a quantization-aware model.
        SidecarHook(PLAN_SIDECAR, request.plan.to_dict() if request.plan else None),
        SidecarHook(QUANT_SIDECAR, request.quant.to_dict() if request.quant else None),
        ClassNamesHook(parts.loader.dataset.class_names),  # before a save: export and infer need no dataset
        history,  # takes the step before the checkpoint does, so that the checkpoint carries the loss curve
        *visualdl,  # logs history's window before a checkpoint of its iteration: a resume from it keeps the window
        saver,  # before evaluating: a crashing evaluation still leaves the snapshot to resume from
        *([evaluation] if evaluation else []),
        # after the saver and the evaluation: curves.png after each checkpoint, with that iteration's mAP
        CurvesHook(saver, cfg.name, APART),
        # last: it reports the step's losses and the new mAP
        ProgressHook(images_per_step, log_iter=cfg.log_iter, quiet=quiet, eval_hook=evaluation),
    ]
    return TrainHooks(ordered, saver, history, evaluation)


def train_from_config(
    request: TrainRequest,
    *,
    device: str | None = None,
    quiet: bool = False,
    step: Step = model_losses,
) -> TrainResult:
    """Train ``request`` for its config's ``max_iters`` steps (continuing its ``resume`` checkpoint): the parts
    and hooks built above, run by the engine's loop with ``step`` (the model's own losses, or e.g. slim's
    ``DistillStep``).

    Raises ``TrainingInterrupted`` after Ctrl-C or SIGTERM, once the resumable checkpoint is written.
    """
    cfg = request.cfg
    rank, world_size = paddle.distributed.get_rank(), paddle.distributed.get_world_size()
    if world_size > 1:  # a launched rank: its lifelines were taken as it started (cli.main)
        paddle.distributed.init_parallel_env()
    seed_everything(request.seed)
    parts = build_train_parts(request, device=device, rank=rank, world_size=world_size)
    loaders = ExitStack()  # stops the loaders' worker processes however training ends
    loaders.enter_context(parts.loader)
    hooks = build_hooks(request, parts, loaders, rank=rank, world_size=world_size, quiet=quiet)
    net, meet_gradients = data_parallel(parts.model, world_size, on_cpu=parts.device.startswith("cpu"))
    layout = {"processes": world_size, "batch_per_process": cfg.train_batch_size}
    trainer = Trainer(net, parts.optimizer, parts.scheduler, parts.loader.forever, hooks.ordered, step=step,
                      seed=request.seed, data_parallel=layout, meet_gradients=meet_gradients)  # fmt: skip
    start_iter = trainer.resume(request.resume) if request.resume is not None else 0
    started = time.perf_counter()
    try:
        with loaders:
            trainer.train(start_iter, cfg.max_iters)
    except TrainingInterrupted as stop:
        raise TrainingInterrupted(stop.iteration, hooks.saver.last, stop.signum) from None
    seconds = time.perf_counter() - started
    evaluation = hooks.evaluation
    eval_seconds = evaluation.seconds if evaluation else 0.0
    done = trainer.iter - start_iter
    return TrainResult(
        config=cfg.name,
        config_file=str(cfg.path),
        output_dir=str(Path(cfg.save_dir) / cfg.name),
        device=parts.device,
        start_iter=start_iter,
        iterations=trainer.iter,
        final_checkpoint=str(hooks.saver.last) if rank == 0 and hooks.saver.last else None,
        losses=trainer.losses,
        loss_history=tuple(hooks.history.points),
        loss_terms=tuple(hooks.history.terms),
        seconds=seconds,
        eval_seconds=eval_seconds,
        seconds_per_iter=(seconds - eval_seconds) / done if done else 0.0,
        evals=tuple(evaluation.history) if evaluation else (),
        best=evaluation.best if evaluation else None,
        pretrained=parts.pretrained,
        pruning=parts.pruning,
        resumed_from=str(request.resume) if request.resume is not None else None,
        quant_aware={**request.quant.to_dict(), "left_float": list(parts.left_float)} if request.quant else None,
        **layout,
    )
