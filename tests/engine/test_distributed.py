"""Data-parallel training on paddle.distributed.launch (2 CPU processes over gloo) and ``--nproc``, stopped by
SIGTERM."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from slimdet.engine.distributed import auto_processes, launch_env, launched_world_size, strip_nproc
from slimdet.errors import SlimdetError

WORKER = Path(__file__).with_name("dp_worker.py")
STEPS = ["max_iters=3", "snapshot_iter=100"]


def test_strip_nproc_removes_both_spellings_and_keeps_everything_else():
    args = ["-c", "a.yml", "--nproc", "2", "-o", "max_iters=3", "--nproc=4", "--json"]
    assert strip_nproc(args) == ["-c", "a.yml", "-o", "max_iters=3", "--json"]


def test_launch_env_drops_an_empty_cuda_list_and_shares_the_thread_budget():
    env = launch_env(2, {"CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "4", "PATH": "/bin"})
    assert "CUDA_VISIBLE_DEVICES" not in env  # paddle's launcher would take '' for one GPU and crash
    assert (env["OMP_NUM_THREADS"], env["FLAGS_paddle_num_threads"], env["PATH"]) == ("2", "2", "/bin")
    assert launch_env(4, {"CUDA_VISIBLE_DEVICES": "0,1", "OMP_NUM_THREADS": "2"})["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert launch_env(4, {"OMP_NUM_THREADS": "2"})["OMP_NUM_THREADS"] == "1"


def test_auto_takes_one_process_per_core_that_splits_the_batch_evenly():
    assert [auto_processes(8, 2), auto_processes(8, 3), auto_processes(12, 4)] == [2, 2, 4]
    assert [auto_processes(9, 2), auto_processes(1, 4), auto_processes(8, 1)] == [1, 1, 1]


def test_nproc_auto_relaunches_with_the_batch_shared_out_and_1_stays_in_process(tiny_train_config, monkeypatch):
    from typer.testing import CliRunner

    import slimdet.engine.distributed as distributed
    from slimdet.cli import app

    launched = []
    monkeypatch.setattr(distributed, "relaunch", lambda n, command, log_dir: launched.append((n, command)) or 7)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.delenv("SLIMDET_NPROC")
    args = ["train", "-c", str(tiny_train_config), "--nproc", "auto", "--quiet"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 7, result.output  # the launcher's exit code
    assert launched == [(2, [*args, "-o", "TrainReader.batch_size=2"])]
    bad = CliRunner().invoke(app, ["train", "-c", str(tiny_train_config), "--nproc", "two"])
    assert bad.exit_code == 2 and "Invalid value for '--nproc'" in bad.stderr
    assert "a whole number of at least 1, or auto; got 'two'" in bad.stderr and not launched[1:]


def test_world_size_comes_from_the_launcher_environment():
    assert launched_world_size({}) == 1
    assert launched_world_size({"PADDLE_TRAINERS_NUM": "4"}) == 4


def test_nproc_inside_a_launched_job_is_refused(monkeypatch):
    from slimdet.engine.distributed import relaunch

    monkeypatch.setenv("PADDLE_TRAINERS_NUM", "2")
    with pytest.raises(SlimdetError, match="drop --nproc"):
        relaunch(2, ["train", "-c", "x.yml", "--nproc", "2"], log_dir="unused")


def _launch(nproc: int, script_and_args: list[str], log_dir: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", str(nproc)]
    command += ["--log_dir", str(log_dir), *script_and_args]
    return subprocess.run(
        command,
        env=launch_env(nproc, {**os.environ, "OMP_NUM_THREADS": "2"}),
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.fixture(scope="module")
def two_ranks(write_tiny_train_config, tmp_path_factory):
    """3 steps of batch 4 per rank on 2 processes; each rank dumps its weights and result."""
    root = tmp_path_factory.mktemp("two_ranks")
    config = write_tiny_train_config(root)
    run = _launch(2, [str(WORKER), str(config), str(root), *STEPS], root / "log")
    logs = "\n".join(p.read_text()[-2000:] for p in sorted((root / "log").glob("workerlog.*")))
    assert run.returncode == 0, logs
    ranks = [(dict(np.load(root / f"rank{r}.npz")), json.loads((root / f"rank{r}.json").read_text())) for r in (0, 1)]
    return config, ranks


def _single_process(config: Path, batch_size: int, save_dir: Path) -> dict[str, np.ndarray]:
    from slimdet.commands.train import train_from_config
    from slimdet.config import load_config
    from tests.engine.dp_worker import keeping_trainers

    overrides = [*STEPS, f"TrainReader.batch_size={batch_size}", f"save_dir={save_dir}"]
    with keeping_trainers() as trainers:
        train_from_config(load_config(config, overrides), quiet=True)
    return {p.name: p.numpy() for p in trainers[0].model.parameters()}


@pytest.mark.slow  # launches processes through paddle.distributed.launch
def test_both_ranks_train_a_data_parallel_model_and_end_with_identical_weights(two_ranks):
    _, [(weights0, info0), (weights1, info1)] = two_ranks
    assert [info0["wrapped"], info0["world_size"], info1["world_size"]] == ["DataParallel", 2, 2]
    assert weights0.keys() == weights1.keys()
    for name in weights0:
        np.testing.assert_array_equal(weights0[name], weights1[name], err_msg=name)


@pytest.mark.slow
def test_only_rank_0_writes_one_checkpoint(two_ranks):
    config, [(_, info0), (_, info1)] = two_ranks
    assert info1["final_checkpoint"] is None
    written = sorted(p.name for p in (config.parent / "output" / "tiny").iterdir())
    assert written == [f"model_final.{s}" for s in ("labels.txt", "pdopt", "pdparams", "state.json")]
    assert Path(info0["final_checkpoint"]) == config.parent / "output" / "tiny" / "model_final"


@pytest.mark.slow
def test_two_ranks_of_batch_4_match_one_process_of_batch_8(two_ranks, tmp_path):
    config, [(weights, _), _] = two_ranks
    doubled = _single_process(config, 8, tmp_path / "b8")
    halved = _single_process(config, 4, tmp_path / "b4")  # what a rank alone would have learnt
    assert doubled.keys() == weights.keys()
    for name in weights:
        np.testing.assert_allclose(weights[name], doubled[name], atol=1e-5, rtol=1e-4, err_msg=name)
    assert max(np.abs(weights[name] - halved[name]).max() for name in weights) > 1e-3


@pytest.mark.slow
def test_nproc_ranks_stop_together_on_sigterm_and_the_run_resumes_to_the_end(write_tiny_train_config, tmp_path):
    """--nproc 2 sent SIGTERM (as by `kill` or a scheduler): both ranks stop after the same step, rank 0 alone
    writes the checkpoint, one line says where to resume from, exit 143; --resume then runs to the end."""
    config = write_tiny_train_config(tmp_path)
    out_dir, slimdet = tmp_path / "output" / "tiny", Path(sys.executable).parent / "slimdet"
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    train = [str(slimdet), "train", "-c", str(config), "--nproc", "2", "-o", "snapshot_iter=100"]
    process = subprocess.Popen(
        [*train, "max_iters=500"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    rank0_log, deadline = out_dir / "launch_log" / "workerlog.0", time.monotonic() + 240
    while not (rank0_log.is_file() and "iter 2/" in rank0_log.read_text()) and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=240)
    assert process.returncode == 143, stderr[-3000:]
    last = stderr.strip().splitlines()[-1]
    stopped_at = int(last.split()[3].rstrip(";"))
    assert last == f"terminated after iteration {stopped_at}; resume with --resume {out_dir / str(stopped_at)}"
    rank1_said = (out_dir / "launch_log" / "workerlog.1").read_text().strip().splitlines()[-1]
    assert rank1_said == f"terminated after iteration {stopped_at}"  # the same step, and no checkpoint
    assert "Traceback" not in stderr + rank0_log.read_text()
    assert sorted(p.name for p in out_dir.glob(f"{stopped_at}.*")) == [
        f"{stopped_at}.{s}" for s in ("labels.txt", "pdopt", "pdparams", "state.json")
    ]

    resume = [f"max_iters={stopped_at + 1}", "--resume", str(out_dir / str(stopped_at)), "--quiet", "--json"]
    run = subprocess.run([*train, *resume], env=env, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert (out_dir / "model_final.pdparams").is_file()
    assert sorted(p.name for p in (out_dir / "launch_log").glob("workerlog.*")) == ["workerlog.0", "workerlog.1"]
    logs = out_dir / "launch_log"
    assert f'"final_checkpoint": "{out_dir / "model_final"}"' in (logs / "workerlog.0").read_text()
    assert '"final_checkpoint": null' in (logs / "workerlog.1").read_text()  # rank 1 trained, wrote nothing
