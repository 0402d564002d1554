"""``--nproc N``: a command starts itself again in N data-parallel processes (``engine.distributed``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from slimdet.config import Config

RAW_ARGS_KEY = "slimdet.raw_args"  # ctx.meta entry: the command's own arguments as typed (set by the CLI class)

NprocOption = Annotated[
    int | None,
    typer.Option(
        "--nproc",
        min=1,
        help="Run data-parallel in N processes on this machine (re-launches itself through "
        "python -m paddle.distributed.launch; CPU: gloo). Every process takes TrainReader.batch_size images "
        "per step, so a step sees N × batch_size images; max_iters, snapshot_iter and the LR schedule count "
        "these global steps, and base_lr is not rescaled (scale it with the global batch yourself). "
        "Only rank 0 logs, evaluates and writes; all ranks' logs go to save_dir/<config>/launch_log/.",
    ),
]


def relaunch_with_nproc(ctx: Any, nproc: int | None, cfg: Config) -> None:
    """Re-run this command in ``nproc`` processes and exit with the launcher's code; return if not asked."""
    if nproc is None or nproc == 1:
        return
    from slimdet.engine.distributed import relaunch

    command = [ctx.info_name, *ctx.meta.get(RAW_ARGS_KEY, [])]
    log_dir = Path(cfg.save_dir) / cfg.name / "launch_log"
    raise typer.Exit(code=relaunch(nproc, command, log_dir=log_dir))
