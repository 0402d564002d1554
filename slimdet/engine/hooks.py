"""Trainer hooks: checkpoints, periodic evaluation with ``best_model``, progress on stderr.

A hook sees the trainer at three moments (``before_train``, ``after_step``, ``after_train``) and reads
its typed attributes (``iter``, ``max_iter``, ``losses``, ``interrupted`` …). ``after_train`` always
runs, also after an error or Ctrl-C; a hook tells those apart by ``trainer.iter`` and
``trainer.interrupted``. A fourth moment, ``before_save``, comes before each checkpoint or best model is
written, so that a hook can put what must travel with it beside it first (slim's pruning plan sidecar).
Only rank 0 is given hooks that write or print (see ``commands.train``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from slimdet.data.labels import save_class_names
from slimdet.engine import checkpoint
from slimdet.errors import SlimdetError
from slimdet.interrupts import signals_deferred
from slimdet.scalar_log import ScalarLog
from slimdet.weights import save_weights

if TYPE_CHECKING:
    from slimdet.engine.trainer import Trainer

FINAL_NAME = "model_final"
BEST_NAME = "best_model"


class Hook:
    """Does nothing at every moment; subclasses override what they need."""

    def before_train(self, trainer: Trainer) -> None:
        pass

    def after_step(self, trainer: Trainer) -> None:
        pass

    def before_save(self, trainer: Trainer, stem: Path) -> None:
        """``stem``.* is about to be written; called before any of its files, so what is written here comes first."""

    def after_train(self, trainer: Trainer) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        """What this hook has gathered that a resumed run must continue from (JSON-able; empty: nothing)."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Take back what ``state_dict`` gave, from a checkpoint being resumed."""


class ClassNamesHook(Hook):
    """Writes the class names beside every checkpoint and best model (``<stem>.labels.txt``), so that export
    and infer name the classes on a machine that has the weights but not the dataset."""

    def __init__(self, class_names: Sequence[str]) -> None:
        self.class_names = list(class_names)

    def before_save(self, trainer: Trainer, stem: Path) -> None:
        save_class_names(self.class_names, stem)


class CheckpointHook(Hook):
    """``out_dir/<iter>`` every ``every`` steps, ``out_dir/model_final`` at the end, and on Ctrl-C or SIGTERM a
    checkpoint at the iteration reached; all resumable (weights + optimizer + state). No checkpoint is
    written after an error, so a NaN never overwrites good weights. Signals wait while a checkpoint is being
    written, so that a second one cannot leave it incomplete.

    Every hook's ``before_save`` runs before a checkpoint's files are written, so that a checkpoint that
    reads as complete always has what they add (the pruning plan: a pruned checkpoint cannot be rebuilt
    without it).
    """

    def __init__(self, every: int, out_dir: str | Path) -> None:
        self.every = every
        self.out_dir = Path(out_dir)
        self.last: Path | None = None

    def after_step(self, trainer: Trainer) -> None:
        if self.every > 0 and trainer.iter % self.every == 0 and trainer.iter < trainer.max_iter:
            self._save(trainer, str(trainer.iter))

    def after_train(self, trainer: Trainer) -> None:
        if trainer.iter >= trainer.max_iter:
            self._save(trainer, FINAL_NAME)
        elif trainer.interrupted and (self.last is None or self.last.name != str(trainer.iter)):
            self._save(trainer, str(trainer.iter))

    def _save(self, trainer: Trainer, name: str) -> None:
        with signals_deferred():
            trainer.before_save(self.out_dir / name)
            self.last = checkpoint.save_checkpoint(
                self.out_dir / name, trainer.model, trainer.optimizer, trainer.state_dict()
            )


@dataclass(frozen=True)
class EvalRecord:
    """The metrics of one evaluation and the iteration whose weights were evaluated."""

    iteration: int
    metrics: Mapping[str, float]


class EvalHook(Hook):
    """Calls ``evaluate_fn`` every ``every`` steps and after the last one; keeps the weights with the
    best ``mAP`` as ``best_dir/best_model.pdparams`` (after the hooks' ``before_save``) when ``best_dir`` is given.

    Its history travels in the checkpoints, so that a resumed run reports the whole mAP curve and a worse
    model evaluated after the resume cannot replace the best one found before it.
    """

    def __init__(
        self,
        every: int,
        evaluate_fn: Callable[[], Mapping[str, float]],
        best_dir: str | Path | None = None,
    ) -> None:
        self.every = every
        self.evaluate_fn = evaluate_fn
        self.best_dir = Path(best_dir) if best_dir is not None else None
        self.history: list[EvalRecord] = []
        self.inherited = 0  # how many of ``history`` came with the checkpoint a run resumed from
        self.best: EvalRecord | None = None
        self.seconds = 0.0  # spent evaluating, so that training speed can be told apart

    def before_train(self, trainer: Trainer) -> None:
        """A run resumed from a snapshot scores it first: checkpoints are written before the evaluation of
        their iteration, so the run that wrote this one never recorded its score in it."""
        start = trainer.start_iter
        if start > 0 and self._due(start, trainer) and all(r.iteration != start for r in self.history):
            self._evaluate(trainer)

    def after_step(self, trainer: Trainer) -> None:
        if self._due(trainer.iter, trainer):
            self._evaluate(trainer)

    def _due(self, iteration: int, trainer: Trainer) -> bool:
        return (self.every > 0 and iteration % self.every == 0) or iteration == trainer.max_iter

    def _evaluate(self, trainer: Trainer) -> None:
        started = time.perf_counter()
        metrics = dict(self.evaluate_fn())
        self.seconds += time.perf_counter() - started
        if not isinstance(metrics.get("mAP"), float):
            raise SlimdetError(
                f"the evaluator returned no float 'mAP' (got keys {sorted(metrics)}); check the config's metric"
            )
        record = EvalRecord(trainer.iter, metrics)
        self.history.append(record)
        if self.best is None or metrics["mAP"] > self.best.metrics["mAP"]:
            self.best = record
            if self.best_dir is not None:
                trainer.before_save(self.best_dir / BEST_NAME)
                save_weights(trainer.model, self.best_dir / f"{BEST_NAME}{checkpoint.WEIGHTS_SUFFIX}")

    def state_dict(self) -> dict[str, Any]:
        return {"history": [{"iteration": r.iteration, "metrics": dict(r.metrics)} for r in self.history]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.history = [EvalRecord(int(r["iteration"]), r["metrics"]) for r in state.get("history", [])]
        self.inherited = len(self.history)
        self.best = max(self.history, key=lambda record: record.metrics["mAP"], default=None)


class LossHistory(Hook):
    """The mean of every loss term over each window of ``every`` steps, and the learning rate at its end: the
    smoothed curves the legacy logs showed, kept in the result so a run's learning can be checked (and, through
    the checkpoints, across a resume). ``points`` is the total's curve as (last iteration, mean) pairs; ``terms``
    one dict per window: ``iteration``, ``lr`` and each term's mean over the steps that reported it (a
    distillation's ``teacher_loss`` comes on logging steps only)."""

    def __init__(self, every: int) -> None:
        self.every = max(1, every)
        self.points: list[tuple[int, float]] = []
        self.terms: list[dict[str, float]] = []
        self._window: list[dict[str, float]] = []

    def after_step(self, trainer: Trainer) -> None:
        self._window.append(dict(trainer.losses))
        if trainer.iter % self.every == 0 or trainer.iter == trainer.max_iter:
            names = dict.fromkeys(name for step in self._window for name in step)
            means = {}
            for name in names:
                values = [step[name] for step in self._window if name in step]
                means[name] = sum(values) / len(values)
            self.points.append((trainer.iter, means["loss"]))
            self.terms.append({"iteration": trainer.iter, "lr": float(trainer.lr_scheduler.last_lr), **means})
            self._window.clear()

    def state_dict(self) -> dict[str, Any]:
        return {"points": [list(point) for point in self.points], "terms": self.terms, "window": self._window}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.points = [(int(iteration), float(loss)) for iteration, loss in state.get("points", [])]
        self.terms = [dict(window) for window in state.get("terms", [])]  # none in checkpoints before 2026-12-08
        # Those older checkpoints kept the open window's totals alone.
        self._window = [
            step if isinstance(step, Mapping) else {"loss": float(step)} for step in state.get("window", [])
        ]


class VisualDLHook(Hook):
    """The run as VisualDL scalars by iteration (``--use-vdl``): each ``LossHistory`` window's loss terms (its means,
    the numbers curves.png draws) as ``train/<term>``, the LR at its end as ``train/lr``, the images per second of
    its steps (evaluations left out) as ``train/images_per_s``, and each evaluation's metrics as ``eval/<metric>``.

    Put it after ``history`` and before the checkpoint hook: a window is on disk (flushed) before the checkpoint of
    its iteration, so a run resumed from that checkpoint keeps it (``ScalarLog``, ``keep_through``) and logs only
    the steps after it. An evaluation comes after its checkpoint, so it is logged one step later or at the end; the
    one a resumed run repeats (of the checkpoint it resumed) is not logged twice.
    """

    def __init__(
        self, log_dir: str | Path, history: LossHistory, images_per_step: int, evaluation: EvalHook | None = None
    ) -> None:
        self.log_dir = Path(log_dir)
        self.history = history
        self.images_per_step = images_per_step
        self.evaluation = evaluation
        self.log: ScalarLog | None = None
        self._windows = 0  # of history.terms, those logged (or inherited from the checkpoint: logged before)
        self._evals = 0  # of evaluation.history, likewise
        self._clock = (0, 0.0, 0.0)  # at the last window logged: (iteration, time, seconds spent evaluating)

    def before_train(self, trainer: Trainer) -> None:
        self.log = ScalarLog(self.log_dir, keep_through=trainer.start_iter)
        self._windows = len(self.history.terms)
        self._evals = self.evaluation.inherited if self.evaluation is not None else 0
        self._clock = (trainer.start_iter, time.perf_counter(), self._eval_seconds())

    def after_step(self, trainer: Trainer) -> None:
        if self.log is None:
            return
        windows, self._windows = self.history.terms[self._windows :], len(self.history.terms)
        for window in windows:
            iteration = int(window["iteration"])
            for name, value in window.items():
                if name != "iteration":
                    self.log.add(f"train/{name}", value, iteration)
            since, started, evaluating = self._clock
            now, eval_seconds = time.perf_counter(), self._eval_seconds()
            seconds = now - started - (eval_seconds - evaluating)
            if seconds > 0:
                self.log.add("train/images_per_s", (iteration - since) * self.images_per_step / seconds, iteration)
            self._clock = (iteration, now, eval_seconds)
        evaluations = self._new_evaluations()
        for record in evaluations:
            for name, value in record.metrics.items():
                self.log.add(f"eval/{name}", value, record.iteration)
        if windows or evaluations:
            self.log.flush()

    def after_train(self, trainer: Trainer) -> None:
        if self.log is None:
            return
        self.after_step(trainer)  # the last evaluation came after this hook's last step
        self.log.close()
        self.log = None

    def _new_evaluations(self) -> list[EvalRecord]:
        if self.evaluation is None:
            return []
        new, self._evals = self.evaluation.history[self._evals :], len(self.evaluation.history)
        return new

    def _eval_seconds(self) -> float:
        return self.evaluation.seconds if self.evaluation is not None else 0.0


class ProgressHook(Hook):
    """A rich progress bar on stderr (iteration, losses, lr, images/s, ETA) plus a plain log line every
    ``log_iter`` steps (iteration, losses, lr, s/iter, images/s, ETA), which is what remains when stderr
    is not a terminal (CI, nohup, a log file), as the legacy tools logged. ``quiet`` silences both."""

    def __init__(
        self,
        images_per_step: int,
        *,
        log_iter: int = 20,
        quiet: bool = False,
        console: Console | None = None,
        eval_hook: EvalHook | None = None,
    ) -> None:
        self.images_per_step = images_per_step
        self.log_iter = log_iter
        self.quiet = quiet
        self.console = console or Console(stderr=True, highlight=False)
        self.eval_hook = eval_hook
        self._bar: Progress | None = None
        self._task = 0
        self._started = 0.0
        self._reported_evals = 0

    def before_train(self, trainer: Trainer) -> None:
        self._started = time.perf_counter()
        # Evaluations a resumed run inherited were printed by the run that made them.
        self._reported_evals = self.eval_hook.inherited if self.eval_hook is not None else 0
        if self.quiet:
            return
        self._bar = Progress(
            TextColumn("[bold]train"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeRemainingColumn(),
            console=self.console,
            disable=not self.console.is_terminal,
        )
        self._bar.start()
        self._task = self._bar.add_task("train", total=trainer.max_iter, completed=trainer.start_iter, status="")

    def after_step(self, trainer: Trainer) -> None:
        if self._bar is None:
            return
        done = trainer.iter - trainer.start_iter
        seconds = time.perf_counter() - self._started
        speed = done * self.images_per_step / seconds if seconds > 0 else math.nan
        eta = timedelta(seconds=round(seconds / done * (trainer.max_iter - trainer.iter)))  # done ≥ 1 here
        losses = " ".join(f"{name} {value:.4f}" for name, value in sorted(trainer.losses.items(), key=_total_first))
        lr = trainer.lr_scheduler.last_lr
        self._bar.update(self._task, completed=trainer.iter, status=f"{losses} lr {lr:.3g} {speed:.1f} img/s")
        if self.log_iter > 0 and (trainer.iter % self.log_iter == 0 or trainer.iter == trainer.max_iter):
            per_iter = seconds / done
            self._print(
                f"iter {trainer.iter}/{trainer.max_iter} {losses} lr {lr:.6g} {per_iter:.2f} s/iter "
                f"{speed:.2f} img/s eta {eta}"
            )
        if self.eval_hook is not None and len(self.eval_hook.history) > self._reported_evals:
            self._reported_evals = len(self.eval_hook.history)
            record = self.eval_hook.history[-1]
            self._print(f"eval at iter {record.iteration}: mAP {record.metrics['mAP']:.4f}")

    def after_train(self, trainer: Trainer) -> None:
        if self._bar is None:
            return
        self._bar.stop()
        self._bar = None

    def _print(self, line: str) -> None:
        self.console.print(line, markup=False, soft_wrap=True)


def _total_first(item: tuple[str, float]) -> tuple[bool, str]:
    return item[0] != "loss", item[0]
