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
        "these global steps, and base_lr is not rescaled. auto (the default): on a CPU, one single-threaded "
        "process per core (of --threads) among which batch_size splits evenly, so a step still sees batch_size "
        "images, only faster (one core idles in one process: paddle's depthwise conv runs on one thread); "
        "one process when there is one core, on a GPU, or when batch_size does not split (e.g. 1, or odd on "
        "2 cores). 1: one process. The command's checks run before anything is launched; rank 0's output is the "
        "command's, and the launcher's and every rank's logs go to save_dir/<config>/launch_log/.",
    ),
]


def relaunch_with_nproc(ctx: Any, nproc: str, cfg: Config, device: str | None, preflight: Callable[[], object]) -> None:
    """Re-run this command in the processes ``nproc`` asks for, once ``preflight`` (the command's checks,
    raising ``SlimdetError``; run in a child, see ``checked_apart``) has passed, and exit; return when that is
    this one process."""
    from slimdet.launcher import launched_world_size

    if launched_world_size() > 1 and nproc == AUTO:
        return  # already one of the launched processes
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
    from slimdet.launcher import auto_processes
    from slimdet.runtime import cpu_threads

    batch_size = int(cfg.section("TrainReader").get("batch_size", 1))
    count = auto_processes(batch_size, cpu_threads())
    return count, ["-o", f"TrainReader.batch_size={batch_size // count}"]


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
