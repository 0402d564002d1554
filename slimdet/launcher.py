"""Starting a command in N data-parallel processes on Paddle's own launcher (``python -m
paddle.distributed.launch``), nothing home-made; a process-level leaf, like ``interrupts`` and ``_lifeline``.

``--nproc N`` on ``train`` and ``distill-prune`` is a convenience for one machine: once its pre-flight
checks have passed (a user mistake never reaches the launcher; ``checked_apart`` runs them in a child, so the
launching process never holds paddle), the command starts the launcher on itself (``relaunch``), with the same
arguments minus ``--nproc``. The user sees rank 0's output as the command's own and, should a rank fail, one
line with its error and log (``rank_stdio``); the launcher's own log lines stay in the run's ``launch_log``
folder. On several machines, or to pick GPUs, call the launcher directly (docs/scaling.md, "Commands").

``--nproc auto`` (the default) splits the configured batch over single-threaded processes only where that is
measured to be faster and cannot change the model (``bench/nproc_scaling.py``, docs/scaling.md): Paddle's
CPU depthwise convolution runs on one thread whatever the setting, so at large inputs one process per core
keeps the cores busier (608 px: 0.66× the time per step), while at small inputs the gradient all-reduce eats
the gain (96 px: 1.10×, 160 px: 0.95×). Each process normalises its batch-norm layers over its own share of
the batch, and shares of 4 images were measured to change the model (2 × 4 against 1 × 8 at 96 px: 5.7 mAP
points lower on average over three seeds; 4 × 2: 11.1), so no share is below ``MIN_BATCH_PER_PROCESS`` = 8
images, the legacy configs' own batch. The same config gives the same split, hence the same model, on 2 cores
as on 16. The legacy batch of 8 thus stays one process; a batch of 16 at 320 px or more is split 2 × 8.

Killed, even with SIGKILL, the command takes the launcher with it (a parent-death signal, which the
launcher answers by stopping its ranks), and a rank whose launcher is gone exits (``hold_rank_lifelines``,
slimdet/_lifeline.py).
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path

from slimdet._lifeline import Lifeline, end_with
from slimdet.errors import RankFailed, SlimdetError
from slimdet.interrupts import STOP_SIGNALS, Interrupted, exit_code, stop_signals_heard, verb
from slimdet.rank_stdio import StdioLender, rank_ends

LAUNCH_MODULE = "paddle.distributed.launch"
WORLD_SIZE_ENV = "PADDLE_TRAINERS_NUM"  # set by the launcher in every process it starts
NPROC_FLAG = "--nproc"
LAUNCHER_LOG = "launch.log"  # in the launch's log folder, beside the ranks' workerlog.<rank>
FAILURE_CODES = (1, 2)  # a rank's exit code for an internal error, for a user mistake
STOP_CODES = {exit_code(signum): signum for signum in STOP_SIGNALS}  # a rank stopped by SIGINT, SIGTERM
COMMAND_PID_ENV = "SLIMDET_COMMAND_PID"  # in the ranks of --nproc: the slimdet command that started the launcher


def launched_world_size(environ: Mapping[str, str] = os.environ) -> int:
    """How many processes the launcher started for this job (1 when not launched)."""
    return int(environ.get(WORLD_SIZE_ENV, "1") or "1")


def slimdet_entry_point() -> str:
    """The ``slimdet`` script of this interpreter's environment, for the launcher to run in each process.

    The launcher runs a script file (it has no ``-m``); the console script beside ``sys.executable`` is
    the one that belongs to the running slimdet, whatever ``PATH`` says.
    """
    beside = Path(sys.executable).parent / "slimdet"
    if beside.is_file():
        return str(beside)
    found = shutil.which("slimdet")
    if found is None:
        raise SlimdetError(
            "cannot find the slimdet console script to launch: install slimdet (pip install -e .) "
            "into the environment that runs it"
        )
    return found


def checked_apart(check: Callable[[], object]) -> None:
    """Run ``check`` (pre-flight checks, which may build a model) in a forked child and raise here what it
    raised, so that the command which then only waits for its ranks holds neither paddle nor a model (about
    400 MB, for the whole run). Runs here when paddle is loaded already: a fork of a process running
    paddle's threads can hang."""
    if "paddle" in sys.modules or not hasattr(os, "fork"):
        check()
        return
    fork = multiprocessing.get_context("fork")
    receive, send = fork.Pipe(duplex=False)
    child = fork.Process(target=_check_and_send, args=(check, send), name="slimdet-checks", daemon=True)
    child.start()
    send.close()
    try:
        outcome = receive.recv()
    except EOFError:  # killed before it could say anything
        outcome = RuntimeError(f"the pre-flight checks ended without a word (exit code {child.exitcode})"), ""
    except BaseException:  # Ctrl-C, SIGTERM: the checks are not worth waiting for
        child.kill()
        raise
    finally:
        child.join()
        receive.close()
    if outcome is not None:
        error, trace = outcome
        if isinstance(error, (SlimdetError, OSError, KeyboardInterrupt)):
            raise error
        raise RuntimeError(f"the pre-flight checks failed:\n{trace}") from error


def _check_and_send(check: Callable[[], object], send: Connection) -> None:
    """In the child: whatever ``check`` raises goes back to the parent, which reports it (nothing printed here)."""
    try:
        check()
        outcome = None
    except BaseException as err:  # even Ctrl-C: the parent decides
        outcome = err, traceback.format_exc()
    try:
        send.send(outcome)
    except Exception:  # an error that does not pickle still arrives, as its traceback
        trace = outcome[1] if outcome else traceback.format_exc()
        send.send((RuntimeError(trace), trace))


MIN_SPLIT_INPUT = 320  # training input side (px) from which splitting measured faster (bench/nproc_scaling.py)
MIN_BATCH_PER_PROCESS = 8  # batch-norm batches of 4 measured to change the model (same benchmark); 8 is the legacy


def auto_processes(batch_size: int, cores: int, input_size: int) -> int:
    """How many processes ``--nproc auto`` splits a CPU training's batch over: the most, one per core at most,
    among which ``batch_size`` splits evenly into shares of at least ``MIN_BATCH_PER_PROCESS`` images; 1 below
    ``MIN_SPLIT_INPUT`` px, where splitting is no faster."""
    if input_size < MIN_SPLIT_INPUT:
        return 1
    most = max(1, min(cores, batch_size // MIN_BATCH_PER_PROCESS))
    return max(n for n in range(1, most + 1) if batch_size % n == 0)


def strip_nproc(args: Sequence[str]) -> list[str]:
    """``args`` without ``--nproc N`` / ``--nproc=N``, so that the launched processes do not relaunch."""
    kept: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg == NPROC_FLAG:
            skip = True
        elif not arg.startswith(f"{NPROC_FLAG}="):
            kept.append(arg)
    return kept


def launch_command(nproc: int, command: Sequence[str], *, log_dir: str | Path) -> list[str]:
    """The launcher call that runs ``slimdet <command…>`` in ``nproc`` processes on this machine."""
    return [
        sys.executable,
        "-m",
        LAUNCH_MODULE,
        "--nproc_per_node",
        str(nproc),
        "--log_dir",
        str(log_dir),
        slimdet_entry_point(),
        *command,
    ]


def launch_env(nproc: int, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The environment for the launcher, fixed for CPU runs.

    An empty ``CUDA_VISIBLE_DEVICES`` (the usual way to hide GPUs) makes paddle 2.6's launcher take
    one GPU named '' and fail with an IndexError, so it is removed: with no GPU visible the launcher
    falls back to the CPU and gloo by itself. The thread budget (``OMP_NUM_THREADS``: ``--threads``,
    else all cores) is shared out between the processes, so that N processes do not fight over the cores.
    """
    env = dict(environ)
    env.pop("SLIMDET_NPROC", None)  # the launched processes are the ranks: they must not launch again
    env[COMMAND_PID_ENV] = str(os.getpid())  # see hold_rank_lifelines
    if env.get("CUDA_VISIBLE_DEVICES") == "":
        del env["CUDA_VISIBLE_DEVICES"]
    budget = int(env.get("OMP_NUM_THREADS") or os.cpu_count() or 1)
    env["OMP_NUM_THREADS"] = env["FLAGS_paddle_num_threads"] = str(max(1, budget // nproc))
    return env


def relaunch(nproc: int, command: Sequence[str], *, log_dir: str | Path) -> None:
    """Run ``slimdet <command…>`` (``--nproc`` removed) in ``nproc`` data-parallel processes, to the end.

    Rank 0 writes on this process's own stdout and stderr (``rank_stdio``); the launcher's output goes to
    ``log_dir/launch.log``, every rank's to ``log_dir/workerlog.<rank>``. A rank that fails makes this raise
    ``RankFailed``: its last line, its log and its exit code (2 for a user mistake, 1 otherwise). Stopped by
    SIGTERM or Ctrl-C, the ranks stop together and rank 0 writes the checkpoint; this raises ``Interrupted``
    with rank 0's last line (where to resume from).
    """
    if nproc < 1:
        raise SlimdetError(f"--nproc must be at least 1, got {nproc}")
    if launched_world_size() > 1:
        raise SlimdetError(
            f"--nproc was given inside a launched job ({WORLD_SIZE_ENV}={launched_world_size()}): "
            "drop --nproc when starting slimdet through paddle.distributed.launch"
        )
    log_dir = Path(log_dir)
    launch = launch_command(nproc, strip_nproc(command), log_dir=log_dir)
    lifeline = Lifeline.to_this_process()  # killed, this process takes the launcher along, which stops the ranks
    with StdioLender(log_dir) as lender, open(log_dir / LAUNCHER_LOG, "ab") as launcher_log:
        env = {**launch_env(nproc), **lender.environ()}
        process = subprocess.Popen(
            launch, env=env, stdout=launcher_log, stderr=subprocess.STDOUT, preexec_fn=lifeline.arm_before_exec
        )
        with _stop_forwarded(process) as stopped:
            code = process.wait()
    ends = rank_ends(log_dir)
    failed = [end for end in ends if end.code in FAILURE_CODES]
    if failed and not stopped:  # the first to fail is the cause; the others fail or stop because of it
        first = failed[0]
        where = log_dir / f"workerlog.{first.rank}"
        raise RankFailed(f"{first.line} (rank {first.rank} of {nproc}; its log: {where})", first.code)
    stops = [end for end in ends if end.code in STOP_CODES]
    if stopped or stops:
        signum = stopped[0] if stopped else STOP_CODES[stops[0].code]
        rank0 = [end.line for end in stops if end.rank == 0]
        raise Interrupted(rank0[-1] if rank0 else f"{verb(signum)}; see {log_dir}", signum)
    if code != 0:  # a rank killed outright (out of memory, SIGKILL) records nothing
        raise RankFailed(
            f"a process of the data-parallel run ended without a word (killed? out of memory?; launcher exit "
            f"code {code}): see the logs in {log_dir}",
            1,
        )


@contextmanager
def _stop_forwarded(launcher: subprocess.Popen) -> Iterator[list[int]]:
    """While waiting for the launcher: a SIGTERM is passed on to it, once (it asks every rank to stop, then
    waits 30 s for them; a second one would make it kill them after 10 s). Ctrl-C is not: the terminal sends
    it to the launcher too. One ignored from the start stays ignored. Yields the signals received, in order."""
    received: list[int] = []

    def forward(signum: int, frame: object) -> None:
        if signum == signal.SIGTERM and signal.SIGTERM not in received:
            launcher.send_signal(signal.SIGTERM)
        received.append(signum)

    previous = {signum: signal.signal(signum, forward) for signum in stop_signals_heard()}
    try:
        yield received
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)


def hold_rank_lifelines(environ: Mapping[str, str] = os.environ) -> None:
    """In a launched rank (its parent is the launcher), first thing, before paddle loads: exit when the launcher
    is gone (asked to stop, it stops its ranks; killed outright, it would leave them training for nobody), and,
    under --nproc, when the slimdet command that started the launcher is killed outright. The launcher then
    gets SIGTERM (its death signal) and waits for its ranks, and a rank still starting (importing paddle, or
    meeting the others over gloo, where a signal waits for the call to return) would keep it waiting 10-15 s:
    the lifeline to the command (a watcher process: see ``_lifeline.end_with``) ends it within half a second. A command that is asked to stop stays
    until its ranks have stopped, so this lifeline never cuts their checkpoint short."""
    if launched_world_size(environ) < 2:
        return
    command = environ.get(COMMAND_PID_ENV)
    if command:
        end_with(int(command))  # first: it forks, before the lifeline's thread starts
    Lifeline(os.getppid(), death_signal=False).hold()  # which launcher thread started us is not ours to know
