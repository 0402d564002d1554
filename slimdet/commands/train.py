"""``slimdet train``'s core: config → model, optimizer, loaders, hooks → trained checkpoints.

Checkpoints go to ``save_dir/<config name>/``: ``<iter>`` every ``snapshot_iter`` steps, ``model_final``
at the end, ``best_model`` (highest mAP) with ``eval=True``. The run is data-parallel when started by
``python -m paddle.distributed.launch``; only rank 0 writes, logs and evaluates.

``distill-prune`` trains through the same function: it passes a pruning ``plan`` (applied after the
pretrained weights are loaded, before the optimizer exists; written beside every checkpoint by slim's
``PlanSidecarHook``) and the ``step`` the trainer runs (slim's ``DistillStep``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import paddle

from slimdet.config import Config
from slimdet.config.geometry import YOLOv3Geometry
from slimdet.config.sizes import eval_input_size
from slimdet.data import build_loader
from slimdet.engine import checkpoint
from slimdet.engine.device import select_device
from slimdet.engine.distributed import die_with_launcher
from slimdet.engine.evaluate import build_evaluator, run_inference
from slimdet.engine.hooks import CheckpointHook, ClassNamesHook, EvalHook, EvalRecord, Hook, LossHistory, ProgressHook
from slimdet.engine.optim import build_optimizer
from slimdet.engine.trainer import Step, Trainer, TrainingInterrupted, model_losses
from slimdet.errors import SlimdetError
from slimdet.inference import resolve_engine
from slimdet.modeling.build import build_model
from slimdet.runtime import seed_everything
from slimdet.slim.checks import training_problems
from slimdet.slim.plan import PruneReport, PruningPlan, load_plan, resolve_plan
from slimdet.slim.plan_sidecar import PlanSidecarHook
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

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["pruning"] = self.pruning.to_dict() if self.pruning else None
        data["losses"] = dict(self.losses)
        data["evals"] = [{"iteration": r.iteration, **r.metrics} for r in self.evals]
        data["best"] = {"iteration": self.best.iteration, **self.best.metrics} if self.best else None
        data["seconds"] = round(self.seconds, 3)
        data["eval_seconds"] = round(self.eval_seconds, 3)
        data["seconds_per_iter"] = round(self.seconds_per_iter, 4)
        return data


def check_training(
    cfg: Config,
    *,
    eval: bool = False,
    resume: str | Path | None = None,
    pruned_params: str | None = None,
    pruned_ratios: str | None = None,
    criterion: str = "l1_norm",
) -> None:
    """Raise one ``SlimdetError`` for what would stop ``train`` before its first step (the pruning flags, as
    the command's raw strings, and their names; a resume point; the weights path; the dataset folders),
    reading no weights or data: a command about to start several processes checks here first, so that a
    mistake is one line, not one per process."""
    plan = PruningPlan.from_flags(pruned_params, pruned_ratios, criterion)
    data = cfg.to_dict()
    if resume is not None:
        _, _, plan = _resume_point(resume, plan)
        data["pretrain_weights"] = None  # a resume starts from its checkpoint's weights
    problems = training_problems(data, plan, evaluate=eval)
    if problems:
        raise SlimdetError("; ".join(problems))


def _resume_point(resume: str | Path, plan: PruningPlan | None) -> tuple[Path, int, PruningPlan | None]:
    """(checkpoint, its seed, the plan) of a resume: a folder gives its latest complete checkpoint, and a
    pruned checkpoint resumes pruned (its sidecar gives the structure; a plan given too must agree)."""
    stem = checkpoint.resume_stem(resume)
    return stem, checkpoint.read_state(stem)["seed"], resolve_plan(plan, load_plan(stem))


def train_from_config(
    cfg: Config,
    *,
    eval: bool = False,
    resume: str | Path | None = None,
    seed: int = 0,
    device: str | None = None,
    quiet: bool = False,
    plan: PruningPlan | None = None,
    step: Step = model_losses,
) -> TrainResult:
    """Train the model of ``cfg`` for ``max_iters`` steps (from a checkpoint with ``resume``: a checkpoint or
    a folder of them, whose latest complete one is taken).

    Resuming takes the checkpoint's seed (the data order depends on it), not ``seed``. Raises
    ``TrainingInterrupted`` after Ctrl-C or SIGTERM, once the resumable checkpoint is written.
    """
    data = cfg.to_dict()
    device_used = select_device(device, cfg.use_gpu)
    rank, world_size = paddle.distributed.get_rank(), paddle.distributed.get_world_size()
    if world_size > 1:
        die_with_launcher()
        paddle.distributed.init_parallel_env()
    if resume is not None:
        resume, seed, plan = _resume_point(resume, plan)
    seed_everything(seed)
    geometry = YOLOv3Geometry.from_config(data)  # one geometry for the model and its training targets
    loader = build_loader(data, "train", seed=seed, rank=rank, world_size=world_size, geometry=geometry)
    model = build_model(data, geometry=geometry, random_init=resume is None)  # a resume loads every weight
    if plan is not None:
        plan.check(model)  # a misspelt name fails before any weight is read or downloaded
    pretrained: dict[str, int] = {}
    if resume is None and cfg.pretrain_weights:
        report = load_weights(
            model, cfg.pretrain_weights, strict=False, exclude=list(cfg.finetune_exclude_pretrained_params) or None
        )
        pretrained = report.to_dict()["counts"]
    # The optimizer must see the pruned shapes; FLOPs are reported at the size the model is evaluated at.
    pruning = plan.apply(model, input_size=eval_input_size(data)) if plan is not None else None
    optimizer, scheduler = build_optimizer(data, model)
    out_dir = Path(cfg.save_dir) / cfg.name

    loaders = ExitStack()  # stops the loaders' worker processes however training ends
    loaders.enter_context(loader)
    saver = CheckpointHook(cfg.snapshot_iter, out_dir)
    history = LossHistory(cfg.log_iter)
    evaluation = None
    if eval and rank == 0:
        eval_loader = loaders.enter_context(build_loader(data, "eval"))
        evaluator = build_evaluator(data, eval_loader.dataset)
        # A CPU scores each snapshot through Paddle Inference, unless the eval set is too small to pay for compiling.
        images, size = len(eval_loader.dataset), eval_input_size(data)
        engine = resolve_engine("auto", device_used, images=images, input_size=size)
        evaluation = EvalHook(
            cfg.snapshot_iter, lambda: run_inference(model, eval_loader, evaluator, engine=engine), best_dir=out_dir
        )
    batch_size = int(cfg.section("TrainReader").get("batch_size", 1))
    progress = ProgressHook(batch_size * world_size, log_iter=cfg.log_iter, quiet=quiet, eval_hook=evaluation)
    # Order matters: the loss curve takes the step before the checkpoint does, so that the checkpoint carries
    # it; the checkpoint is written before evaluating, so a crashing evaluation still leaves the snapshot to
    # resume from; progress comes last to report the step's losses and the new mAP. The
    # sidecars only act before a save: the plan (a stale one goes when the run is not pruned) and the class
    # names, so that export and infer name the classes on a machine without the dataset.
    hooks: list[Hook] = []
    if rank == 0:
        sidecars = [PlanSidecarHook(plan), ClassNamesHook(loader.dataset.class_names)]
        hooks = [*sidecars, history, saver, *([evaluation] if evaluation else []), progress]

    net = paddle.DataParallel(model) if world_size > 1 else model
    trainer = Trainer(net, optimizer, scheduler, loader.forever, hooks, step=step, seed=seed)
    start_iter = trainer.resume(resume) if resume is not None else 0
    started = time.perf_counter()
    try:
        with loaders:
            trainer.train(start_iter, cfg.max_iters)
    except TrainingInterrupted as stop:
        raise TrainingInterrupted(stop.iteration, saver.last, stop.signum) from None
    seconds = time.perf_counter() - started
    eval_seconds = evaluation.seconds if evaluation else 0.0
    done = trainer.iter - start_iter
    return TrainResult(
        config=cfg.name,
        config_file=str(cfg.path),
        output_dir=str(out_dir),
        device=device_used,
        start_iter=start_iter,
        iterations=trainer.iter,
        final_checkpoint=str(saver.last) if rank == 0 and saver.last else None,
        losses=trainer.losses,
        loss_history=tuple(history.points),
        seconds=seconds,
        eval_seconds=eval_seconds,
        seconds_per_iter=(seconds - eval_seconds) / done if done else 0.0,
        evals=tuple(evaluation.history) if evaluation else (),
        best=evaluation.best if evaluation else None,
        pretrained=pretrained,
        pruning=pruning,
        resumed_from=str(resume) if resume is not None else None,
    )
