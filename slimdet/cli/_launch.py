"""``--nproc N|auto``: a command starts itself again in N data-parallel processes (``engine.distributed``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from slimdet.config import Config

RAW_ARGS_KEY = "slimdet.raw_args"  # ctx.meta entry: the command's own arguments as typed (set by the CLI class)
AUTO = "auto"


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
        "these global steps, and base_lr is not rescaled. auto: on a CPU, one single-threaded "
        "process per core (of --threads) among which batch_size splits evenly, so a step still sees batch_size "
        "images, only faster; one process on a GPU. 1 (the default; or SLIMDET_NPROC): one process. "
        "Only rank 0 logs, evaluates and writes; all ranks' logs go to save_dir/<config>/launch_log/.",
    ),
]


def relaunch_with_nproc(ctx: Any, nproc: str, cfg: Config, device: str | None = None) -> None:
    """Re-run this command in the processes ``nproc`` asks for and exit with the launcher's code; return
    when that is this one process."""
    from slimdet.engine.distributed import launched_world_size

    if launched_world_size() > 1 and nproc == AUTO:
        return  # already one of the launched processes
    count, extra = _processes(nproc, cfg, device)
    if count == 1:
        return
    from slimdet.engine.distributed import relaunch

    command = [ctx.info_name, *ctx.meta.get(RAW_ARGS_KEY, []), *extra]
    log_dir = Path(cfg.save_dir) / cfg.name / "launch_log"
    raise typer.Exit(code=relaunch(count, command, log_dir=log_dir))


def _processes(nproc: str, cfg: Config, device: str | None) -> tuple[int, list[str]]:
    """(processes, arguments to add): ``auto`` also gives each rank its share of the batch."""
    if nproc != AUTO:
        return int(nproc), []  # checked while parsing
    if not _on_cpu(cfg, device):
        return 1, []
    from slimdet.engine.distributed import auto_processes
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
