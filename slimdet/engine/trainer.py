"""The training loop: a short ``for`` loop, with everything else in hooks (detectron2's shape).

What one step computes is a ``Step`` the trainer is given and names (``trainer.step``): ``model_losses`` by
default, ``slim.distill_step.DistillStep`` for distillation. The loop owns backward and the optimizer, the LR
step, the iteration count, stopping on Ctrl-C or SIGTERM and the hook calls; it knows nothing of pruning or
distillation.

Iteration counting: ``trainer.iter`` is the number of completed steps. A checkpoint named ``2000``
holds the state after 2000 steps, and resuming from it runs step 2000 next. One step takes one batch,
so the iteration is also the data position: the trainer asks for the batch stream starting there
(``DataLoader.forever(start_iter)``, whose batches depend only on seed, epoch and index).
"""

from __future__ import annotations

import math
import random
import signal
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import paddle

from slimdet.engine import checkpoint
from slimdet.engine.distributed import max_over_ranks, mean_over_ranks, peer_loss_said
from slimdet.errors import SlimdetError
from slimdet.interrupts import Interrupted, stop_requests, verb

if TYPE_CHECKING:
    from slimdet.engine.hooks import Hook

Batch = Mapping[str, np.ndarray]
Step = Callable[["Trainer", Batch], Mapping[str, paddle.Tensor]]  # (trainer, batch) -> named losses, "loss" the total


def model_losses(trainer: Trainer, batch: Batch) -> dict[str, paddle.Tensor]:
    """The plain step: the model's loss terms for one batch (``image`` as the input, every other field as ``gt``)."""
    image, gt = split_batch(batch)
    outputs = trainer.model(image, gt=gt)
    return {name: value for name, value in outputs.items() if name.startswith("loss")}


class NonFiniteLossError(SlimdetError):
    """The loss became NaN or infinite; training stops before the bad gradient touches the weights."""


class TrainingInterrupted(Interrupted):
    """Ctrl-C or SIGTERM stopped training between two steps (after the hooks wrote what they write on the way
    out). The CLI exits 130 or 143, the shell's convention for SIGINT and SIGTERM."""

    def __init__(self, iteration: int, checkpoint: Path | None = None, signum: int = signal.SIGINT) -> None:
        self.iteration = iteration
        self.checkpoint = checkpoint
        where = f"; resume with --resume {checkpoint}" if checkpoint else ""
        super().__init__(f"{verb(signum)} after iteration {iteration}{where}", signum)


class Trainer:
    """Runs ``step`` (then backward and the optimizer) from ``start_iter`` to ``max_iter``; calls the hooks around it.

    ``seed``: paddle's generator is re-seeded from (seed, iteration) before every step. Paddle 2.6 cannot
    serialise its CPU generator (its state pickles as seed + offset only), so deriving the seed per step is
    what makes paddle-random ops (dropout, random init inside a step) identical after a resume.
    Python's and numpy's generators are saved in the checkpoint instead, and so is the seed, which a
    resume takes over. ``data_parallel`` (processes, images per process) is recorded in every checkpoint, so
    that a run can be reproduced with the batch its batch-norm layers saw.
    """

    def __init__(
        self,
        model: paddle.nn.Layer,
        optimizer: paddle.optimizer.Optimizer,
        lr_scheduler: paddle.optimizer.lr.LRScheduler,
        batches: Callable[[int], Iterator[Batch]],
        hooks: Sequence[Hook] = (),
        *,
        step: Step = model_losses,
        seed: int | None = None,
        data_parallel: Mapping[str, int] | None = None,
        meet_gradients: Callable[[], None] | None = None,
    ) -> None:
        self.model = model
        self.step = step
        self.optimizer = optimizer
        self.lr_scheduler = lr_scheduler
        self.batches = batches
        self.data: Iterator[Batch] = iter(())
        self.hooks = list(hooks)
        self.seed = seed
        self.data_parallel = dict(data_parallel or {})
        self.meet_gradients = meet_gradients  # data-parallel on a CPU: the ranks' gradients averaged (distributed)
        self.iter = 0
        self.start_iter = 0
        self.max_iter = 0
        self.losses: dict[str, float] = {}
        self.interrupted = False  # stopped by a signal (on any rank), at the same iteration on every rank
        self.stop_signal = 0  # the signal that asked this process to stop, 0 while none did

    def train(self, start_iter: int, max_iter: int) -> None:
        """Run steps ``start_iter`` … ``max_iter - 1``; raises TrainingInterrupted after Ctrl-C or SIGTERM.

        A data-parallel run stops at the same iteration on every rank: before each step the ranks agree on
        whether any of them was asked to stop (one all-reduce of one number), and after the hooks (rank 0
        writes the checkpoint) they wait for each other, so that no rank's exit makes the launcher kill
        rank 0 in the middle of writing.
        """
        self.iter, self.start_iter, self.max_iter = start_iter, start_iter, max_iter
        self.interrupted, self.stop_signal = False, 0
        world_size = paddle.distributed.get_world_size()
        self.data = self.batches(start_iter)
        for hook in self.hooks:
            hook.before_train(self)
        # A peer gone mid-run is one line, not gloo's traceback; signals stop the loop also while hooks write.
        with peer_loss_said(world_size), stop_requests(self._request_stop):
            try:
                while self.iter < max_iter and not self._stop_agreed(world_size):
                    if self.seed is not None:
                        paddle.seed(_step_seed(self.seed, self.iter))
                    self.losses = self.run_step()
                    self.lr_scheduler.step()
                    self.iter += 1
                    for hook in self.hooks:
                        hook.after_step(self)
            finally:
                for hook in self.hooks:  # checkpoint on the way out, close the progress bar
                    hook.after_train(self)
            if self.interrupted and world_size > 1:
                paddle.distributed.barrier()
        if self.interrupted:
            raise TrainingInterrupted(self.iter, signum=self.stop_signal)

    def run_step(self) -> dict[str, float]:
        """One iteration: next batch → ``step`` (dict of losses) → backward → optimizer step."""
        return self.optimize(self.step(self, next(self.data)))

    def before_save(self, stem: Path) -> None:
        """Tell every hook that a checkpoint or best model is about to be written as ``stem``.*."""
        for hook in self.hooks:
            hook.before_save(self, stem)

    def optimize(self, losses: Mapping[str, paddle.Tensor]) -> dict[str, float]:
        """Backward on ``losses["loss"]`` and step; refuses a non-finite loss before it reaches the weights.

        The values returned (and checked) are the global batch's: on several ranks, their mean, so that every
        rank reports what one process would and a non-finite loss stops them all at the same step.
        """
        local = {name: float(value) for name, value in losses.items()}
        values = mean_over_ranks(local, paddle.distributed.get_world_size())
        if not math.isfinite(values["loss"]):
            terms = ", ".join(f"{name}={value:.4g}" for name, value in values.items())
            raise NonFiniteLossError(
                f"the loss is not finite at iteration {self.iter} ({terms}): lower LearningRate.base_lr "
                "or check the training data; earlier checkpoints are intact"
            )
        losses["loss"].backward()
        if self.meet_gradients is not None:
            self.meet_gradients()
        # The optimizer names its accumulators on its first step from paddle's process-wide name counter;
        # a fresh namespace keeps them at the legacy '<param>_velocity_0' in every process, so a
        # checkpoint's .pdopt loads whatever else the process built before.
        with paddle.utils.unique_name.guard():
            self.optimizer.step()
        self.optimizer.clear_grad()
        return values

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint needs besides weights and optimizer to continue exactly (JSON-able).

        The data position is the iteration (one batch per step), so it needs no entry of its own.
        """
        return {
            "iteration": self.iter,
            "lr_scheduler": self.lr_scheduler.state_dict(),
            "rng": _rng_state(),
            "seed": self.seed,
            **({"data_parallel": self.data_parallel} if self.data_parallel else {}),
            "hooks": {type(hook).__name__: state for hook in self.hooks if (state := hook.state_dict())},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.iter = int(state["iteration"])
        self.lr_scheduler.set_state_dict(state["lr_scheduler"])
        _set_rng_state(state["rng"])
        self.seed = state["seed"]
        hook_states = state.get("hooks", {})  # absent in checkpoints written before hooks kept any state
        for hook in self.hooks:
            if type(hook).__name__ in hook_states:
                hook.load_state_dict(hook_states[type(hook).__name__])

    def resume(self, path: str | Path) -> int:
        """Restore weights, optimizer, LR, iteration and RNG from a checkpoint; returns the iteration."""
        self.load_state_dict(checkpoint.load_checkpoint(path, self.model, self.optimizer))
        return self.iter

    def _request_stop(self, signum: int) -> None:
        """A signal handler's part: the step in progress finishes, the loop stops before the next one."""
        self.stop_signal = self.stop_signal or signum

    def _stop_agreed(self, world_size: int) -> bool:
        """Whether any rank was asked to stop; every rank then stops here, with the signal one of them got."""
        self.stop_signal = max_over_ranks(self.stop_signal, world_size)
        self.interrupted = self.stop_signal != 0
        return self.interrupted


def split_batch(batch: Batch) -> tuple[paddle.Tensor, dict[str, paddle.Tensor]]:
    """A batch as a detector takes it: the ``image`` tensor, and every other field as ``gt`` tensors."""
    inputs = {name: paddle.to_tensor(value) for name, value in batch.items()}
    return inputs.pop("image"), inputs


def _step_seed(seed: int, iteration: int) -> int:
    return int(np.random.SeedSequence([seed, iteration]).generate_state(1, np.uint32)[0])


def _rng_state() -> dict[str, Any]:
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": [version, list(internal), gauss],
        "numpy": [kind, keys.tolist(), pos, has_gauss, cached],
    }


def _set_rng_state(state: Mapping[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
