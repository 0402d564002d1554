"""``--nproc N|auto``: a command starts itself again in N data-parallel processes (``slimdet.launcher``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from slimdet.config import Config

RAW_ARGS_KEY = "slimdet.raw_args"  # ctx.meta entry: the command's own arguments as typed (set by the CLI class)
AUTO = "auto"
LAUNCH_LOG_DIR = "launch_log"  # in save_dir/<config>/: the launcher's log and every rank's


def _checked_nproc(value: str) -> str:
    """``auto`` or a whole number of at least 1, checked while parsing: a mistake is a usage error."""
    if value != AUTO and not (value.isdigit() and int(value) >= 1):
        raise typer.BadParameter(f"a whole number of at least 1, or {AUTO}; got '{value}'")
    return value


NprocOption = Annotated[
    str,
    typer.Option(
        "--nproc",
        envvar="SLIMDET_NPROC",
        callback=_checked_nproc,
        help="Run data-parallel in N processes on this machine (re-launches itself through "
        "python -m paddle.distributed.launch; CPU: gloo). With a number, every process takes TrainReader.batch_size "
        "images per step, so a step sees N × batch_size images; max_iters, snapshot_iter and the LR schedule count "
        "these global steps, and base_lr is not rescaled. auto (the default): on a CPU at a training input of "
        "320 px or more, batch_size split evenly over single-threaded processes, one per core (of --threads) at "
        "most and never fewer than 8 images each, so a step still sees batch_size images, only faster (paddle's "
        "depthwise conv runs on one thread); otherwise one process (smaller inputs, where splitting is no faster, "
        "one core, a GPU, or a batch that does not split into shares of 8 or more, e.g. the legacy 8). Measured in "
        "bench/nproc_scaling.py: the same config gives the same split, and model, on any number of cores. "
        "1: one process. The command's checks run before anything is launched; rank 0's output is the "
        "command's, and the launcher's and every rank's logs go to save_dir/<config>/launch_log/.",
    ),
]


def relaunch_with_nproc(ctx: Any, nproc: str, cfg: Config, device: str | None, preflight: Callable[[], object]) -> None:
    """Re-run this command in the processes ``nproc`` asks for, once ``preflight`` (the command's checks,
    raising ``SlimdetError``; run in a child, see ``checked_apart``) has passed, and exit; return when that is
    this one process."""
    from slimdet.launcher import launched_world_size

    if launched_world_size() > 1:  # a launched process (of --nproc, or of the launcher called directly)
        _note_small_batch_norm(cfg, launched_world_size())
        if nproc == AUTO:
            return
    count, extra = _processes(nproc, cfg, device)
    if count == 1:
        return  # the command's own checks run as it starts
    from slimdet.launcher import checked_apart, relaunch

    checked_apart(preflight)  # a mistake is one line here, before any launch

    command = [ctx.info_name, *ctx.meta.get(RAW_ARGS_KEY, []), *extra]
    relaunch(count, command, log_dir=Path(cfg.save_dir) / cfg.name / LAUNCH_LOG_DIR)
    raise typer.Exit()


def _processes(nproc: str, cfg: Config, device: str | None) -> tuple[int, list[str]]:
    """(processes, arguments to add): ``auto`` also gives each rank its share of the batch."""
    if nproc != AUTO:
        return int(nproc), []  # checked while parsing
    if not _on_cpu(cfg, device):
        return 1, []
    from slimdet.config.sizes import train_input_size
    from slimdet.launcher import auto_processes
    from slimdet.runtime import cpu_threads

    batch_size = cfg.train_batch_size
    count = auto_processes(batch_size, cpu_threads(), train_input_size(cfg.to_dict()))
    return (count, ["-o", f"TrainReader.batch_size={batch_size // count}"]) if count > 1 else (1, [])


def _note_small_batch_norm(cfg: Config, processes: int) -> None:
    """Rank 0 says so when each process's batch-norm batch is below the floor the benchmark set: that split
    changes the model (a choice auto never makes, but ``--nproc N`` or the launcher can)."""
    import os

    from slimdet.launcher import MIN_BATCH_PER_PROCESS
    from slimdet.rank_stdio import RANK_ENV

    batch = cfg.train_batch_size
    if batch < MIN_BATCH_PER_PROCESS and os.environ.get(RANK_ENV, "0") == "0":
        from slimdet.cli._render import stderr_console

        stderr_console().print(
            f"[yellow]note: batch norm normalises over {batch} image(s) in each of the {processes} processes; below "
            f"{MIN_BATCH_PER_PROCESS} per process it was measured to change the model (docs/scaling.md): "
            "raise TrainReader.batch_size or use fewer processes[/yellow]",
            highlight=False,
        )


def _on_cpu(cfg: Config, device: str | None) -> bool:
    """Whether the run will be on the CPU, decided without importing paddle (this runs before it)."""
    if device:
        return device.startswith("cpu")
    if not cfg.use_gpu:
        return True
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        distribution("paddlepaddle-gpu")
    except PackageNotFoundError:
        return True
    return False
