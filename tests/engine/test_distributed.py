"""Data-parallel training with ``--nproc`` (2 CPU processes over gloo, launched by paddle.distributed.launch),
stopped by SIGTERM."""

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from slimdet.errors import SlimdetError
from slimdet.launcher import auto_processes, launch_env, launched_world_size, strip_nproc
from tests.processes import StderrLines

CHECKPOINT_FILES = ("labels.txt", "pdopt", "pdparams", "state.json")


def test_strip_nproc_removes_both_spellings_and_keeps_everything_else():
    args = ["-c", "a.yml", "--nproc", "2", "-o", "max_iters=3", "--nproc=4", "--json"]
    assert strip_nproc(args) == ["-c", "a.yml", "-o", "max_iters=3", "--json"]


def test_launch_env_drops_an_empty_cuda_list_and_shares_the_thread_budget():
    env = launch_env(2, {"CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "4", "PATH": "/bin"})
    assert "CUDA_VISIBLE_DEVICES" not in env  # paddle's launcher would take '' for one GPU and crash
    assert (env["OMP_NUM_THREADS"], env["FLAGS_paddle_num_threads"], env["PATH"]) == ("2", "2", "/bin")
    assert launch_env(4, {"CUDA_VISIBLE_DEVICES": "0,1", "OMP_NUM_THREADS": "2"})["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert launch_env(4, {"OMP_NUM_THREADS": "2"})["OMP_NUM_THREADS"] == "1"
    assert env["SLIMDET_COMMAND_PID"] == str(os.getpid())  # the ranks end with this command (hold_rank_lifelines)


def test_auto_splits_only_large_inputs_and_never_below_the_batch_norm_floor():
    """Where splitting measured faster (320 px and up), one process per core among which the batch splits
    evenly into shares of at least 8 images; so batch 16 is 2 × 8 on 2 cores and on 16 alike (the same
    model), and the legacy batch 8 stays whole."""
    assert [auto_processes(16, 2, 608), auto_processes(16, 16, 608), auto_processes(16, 3, 320)] == [2, 2, 2]
    assert [auto_processes(32, 4, 416), auto_processes(32, 16, 416), auto_processes(24, 16, 464)] == [4, 4, 3]
    assert [auto_processes(16, 16, 319), auto_processes(16, 2, 96), auto_processes(16, 1, 608)] == [1, 1, 1]
    assert [auto_processes(8, 16, 608), auto_processes(12, 2, 608), auto_processes(1, 4, 608)] == [1, 1, 1]


@pytest.mark.parametrize("threads", ["2", "16"])
def test_the_same_config_is_split_alike_on_2_cores_and_on_16(threads, monkeypatch):
    """The legacy VOC config (320…608 px) with batch 16: 2 processes of 8 images whatever the thread budget
    (``--threads 16`` stands in for a 16-core machine), so the model does not depend on the machine; its own
    batch 8 and the shapes config (128 px) stay one process."""
    from slimdet.cli._launch import _processes
    from slimdet.config import load_config

    monkeypatch.setenv("OMP_NUM_THREADS", threads)
    voc_config = Path(__file__).parents[2] / "configs" / "yolov3_mobilenet_v1_voc.yml"
    voc = load_config(voc_config, ["TrainReader.batch_size=16"])
    assert _processes("auto", voc, "cpu") == (2, ["-o", "TrainReader.batch_size=8"])
    assert _processes("auto", voc, "gpu") == (1, [])
    assert _processes("auto", load_config(voc_config), "cpu") == (1, [])
    shapes = load_config(Path(__file__).parents[2] / "configs" / "shapes_yolov3_mobilenet_v1.yml")  # 128 px
    assert _processes("auto", shapes, "cpu")[0] == 1


def test_the_default_checks_first_then_relaunches_with_the_batch_shared_out(tiny_train_config, monkeypatch):
    """On 2 cores the default (auto) starts 2 processes of half the batch each (here at 64 px, the size limit
    lowered), once the command's checks have passed here: a mistake is one line and exit 2, as in one process,
    and nothing is launched."""
    from typer.testing import CliRunner

    import slimdet.launcher as launcher
    from slimdet.cli import app
    from tests.cli.one_line import one_error_line

    launched = []
    monkeypatch.setattr(launcher, "relaunch", lambda n, command, log_dir: launched.append((n, command)))
    monkeypatch.setattr(launcher, "MIN_SPLIT_INPUT", 64)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.delenv("SLIMDET_NPROC")
    args = ["train", "-c", str(tiny_train_config), "--quiet", "-o", "TrainReader.batch_size=16"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert launched == [(2, [*args, "-o", "TrainReader.batch_size=8"])]

    misspelt = ["--pruned_params", "yolo_block.0.0.0.conv.weightz", "--pruned_ratios", "0.5"]
    line = one_error_line(CliRunner().invoke(app, [*args, *misspelt]))
    assert "'yolo_block.0.0.0.conv.weightz' is not a parameter of this model (did you mean" in line
    no_data = one_error_line(CliRunner().invoke(app, [*args, "-o", "TrainReader.dataset.dataset_dir=/no/such"]))
    assert "TrainReader.dataset.dataset_dir /no/such does not exist" in no_data
    teacher = ["-t", "shapes_yolov3_r34", "--teacher_pretrained", "missing.pdparams", *misspelt]
    distill = one_error_line(
        CliRunner().invoke(app, ["distill-prune", "-c", str(tiny_train_config), *args[-2:], *teacher])
    )
    assert "not a parameter of this model" in distill and "'missing.pdparams' does not exist" in distill
    assert len(launched) == 1
    bad = CliRunner().invoke(app, ["train", "-c", str(tiny_train_config), "--nproc", "two"])
    assert bad.exit_code == 2 and "Invalid value for '--nproc'" in bad.stderr
    assert "a whole number of at least 1, or auto; got 'two'" in bad.stderr and len(launched) == 1


def test_world_size_comes_from_the_launcher_environment():
    assert launched_world_size({}) == 1
    assert launched_world_size({"PADDLE_TRAINERS_NUM": "4"}) == 4


def test_nproc_inside_a_launched_job_is_refused(monkeypatch):
    from slimdet.launcher import relaunch

    monkeypatch.setenv("PADDLE_TRAINERS_NUM", "2")
    with pytest.raises(SlimdetError, match="drop --nproc"):
        relaunch(2, ["train", "-c", "x.yml", "--nproc", "2"], log_dir="unused")


def _single_process(config: Path, batch_size: int, steps: int, save_dir: Path) -> tuple[dict[str, np.ndarray], dict]:
    """(weights, result) of ``steps`` steps of ``config`` in this process (frozen batch norm, as the ranks have)."""
    from slimdet.commands.train import TrainRequest, train_from_config
    from slimdet.config import load_config
    from tests.engine.frozen_norm import keeping_trainers

    overrides = [
        f"max_iters={steps}",
        "snapshot_iter=100",
        f"TrainReader.batch_size={batch_size}",
        f"save_dir={save_dir}",
    ]
    with keeping_trainers() as trainers:
        result = train_from_config(TrainRequest(load_config(config, overrides)), quiet=True)
    return {p.name: p.numpy() for p in trainers[0].model.parameters()}, result.to_dict()


FROZEN_BN = Path(__file__).with_name("frozen_bn")  # its sitecustomize.py freezes batch norm in each process


def _slimdet_env(*, frozen_bn: bool = False, dump: Path | None = None) -> dict[str, str]:
    """The environment of ``slimdet`` as a user runs it on 2 cores, with the default --nproc; ``frozen_bn``:
    batch norm frozen in every process, ``dump``: each rank's weights written there (frozen_bn/sitecustomize.py)."""
    env = {name: value for name, value in os.environ.items() if name != "SLIMDET_NPROC"}
    env["OMP_NUM_THREADS"] = "2"
    if frozen_bn:
        env["PYTHONPATH"] = os.pathsep.join([str(FROZEN_BN), str(Path(__file__).parents[2]), env.get("PYTHONPATH", "")])
    if dump is not None:
        env["SLIMDET_TEST_DUMP"] = str(dump)
    return env


def _slimdet(args: list[str], **env) -> subprocess.CompletedProcess:
    """``slimdet ARGS`` in the environment ``_slimdet_env(**env)`` gives; stdout and stderr are pipes."""
    slimdet = Path(sys.executable).parent / "slimdet"
    return subprocess.run([str(slimdet), *args], env=_slimdet_env(**env), capture_output=True, text=True, timeout=240)


@dataclass(frozen=True)
class StoppedThenResumed:
    """A data-parallel training as a scheduler treats it: stopped by SIGTERM, then resumed to its end."""

    config: Path
    out_dir: Path
    stop_code: int
    stop_stderr: str  # the command's stderr: rank 0's progress, then one line
    stopped_at: int  # the iteration the stop line names
    resumed: subprocess.CompletedProcess  # --quiet --json
    ranks: list[tuple[dict[str, np.ndarray], dict]]  # each rank's (weights, info) as the resumed run ended


@pytest.fixture(scope="module")
def stopped_then_resumed(write_tiny_train_config, tmp_path_factory) -> StoppedThenResumed:
    """``--nproc 2`` (2 ranks of batch 2) sent SIGTERM once its second step is logged; then the ``--resume``
    it printed, in the same 2 ranks of batch 2, one step further. Batch norm is frozen in every process, so
    that the ranks compute what one process of batch 4 does."""
    root = tmp_path_factory.mktemp("stopped_then_resumed")
    config = write_tiny_train_config(root)
    out_dir, slimdet = root / "output" / "tiny", Path(sys.executable).parent / "slimdet"
    train = ["train", "-c", str(config), "-o", "snapshot_iter=100"]
    process = subprocess.Popen(
        [str(slimdet), *train, "max_iters=500", "TrainReader.batch_size=2", "--nproc", "2"],
        env=_slimdet_env(frozen_bn=True),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    stderr_lines = StderrLines(process)  # rank 0's progress lines, on the command's own stderr
    stderr_lines.wait_for(lambda line: "iter 2/" in line, timeout=240)
    process.send_signal(signal.SIGTERM)
    stderr = stderr_lines.rest(timeout=240)
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("terminated after iteration "), stderr[-3000:]
    stopped_at = int(last.split()[3].rstrip(";"))

    resume = [f"max_iters={stopped_at + 1}", "TrainReader.batch_size=2", "--resume", str(out_dir / str(stopped_at))]
    resumed = _slimdet([*train, *resume, "--nproc", "2", "--quiet", "--json"], frozen_bn=True, dump=root)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    ranks = [(dict(np.load(root / f"rank{r}.npz")), json.loads((root / f"rank{r}.json").read_text())) for r in (0, 1)]
    return StoppedThenResumed(config, out_dir, process.returncode, stderr, stopped_at, resumed, ranks)


@pytest.fixture(scope="module")
def alone_b4(stopped_then_resumed, tmp_path_factory):
    """(weights, result) of the same iterations in one process of batch 4, uninterrupted (frozen batch norm)."""
    run = stopped_then_resumed
    return _single_process(run.config, 4, run.stopped_at + 1, tmp_path_factory.mktemp("alone_b4") / "output")


@pytest.mark.slow
def test_nproc_ranks_stop_together_on_sigterm_and_the_run_resumes_to_the_end(stopped_then_resumed):
    """SIGTERM (as by `kill` or a scheduler): both ranks stop after the same step, rank 0 alone writes the
    checkpoint, one line says where to resume from, exit 143; --resume then runs to the end."""
    run = stopped_then_resumed
    out_dir, stopped_at = run.out_dir, run.stopped_at
    assert run.stop_code == 143, run.stop_stderr[-3000:]
    last = run.stop_stderr.strip().splitlines()[-1]
    assert last == f"terminated after iteration {stopped_at}; resume with --resume {out_dir / str(stopped_at)}"
    workerlog1 = (out_dir / "launch_log" / "workerlog.1").read_text()
    assert f"terminated after iteration {stopped_at}\n" in workerlog1  # the same step, and no checkpoint
    assert "Traceback" not in run.stop_stderr + (out_dir / "launch_log" / "workerlog.0").read_text()
    assert sorted(p.name for p in out_dir.glob(f"{stopped_at}.*")) == [f"{stopped_at}.{s}" for s in CHECKPOINT_FILES]
    assert json.loads(run.resumed.stdout)["final_checkpoint"] == str(out_dir / "model_final")  # rank 0's one document
    assert sorted(p.name for p in (out_dir / "launch_log").glob("workerlog.*")) == ["workerlog.0", "workerlog.1"]


@pytest.mark.slow  # launches processes through paddle.distributed.launch
def test_both_ranks_train_a_data_parallel_model_and_end_with_identical_weights(stopped_then_resumed):
    [(weights0, info0), (weights1, info1)] = stopped_then_resumed.ranks
    assert [info0["world_size"], info1["world_size"]] == [2, 2]
    assert weights0.keys() == weights1.keys()
    for name in weights0:
        np.testing.assert_array_equal(weights0[name], weights1[name], err_msg=name)


@pytest.mark.slow
def test_by_default_rank_0_speaks_for_the_run_and_alone_writes_the_checkpoints(stopped_then_resumed):
    run = stopped_then_resumed
    assert json.loads(run.resumed.stdout)["final_checkpoint"] == str(run.out_dir / "model_final")  # one document
    stop, end = [f"{run.stopped_at}.{s}" for s in CHECKPOINT_FILES], [f"model_final.{s}" for s in CHECKPOINT_FILES]
    assert sorted(p.name for p in run.out_dir.iterdir()) == sorted(["launch_log", "curves.png", *stop, *end])
    logs = run.out_dir / "launch_log"
    assert "nproc_per_node: 2" in (logs / "launch.log").read_text()
    assert '"final_checkpoint": null' in (logs / "workerlog.1").read_text()  # rank 1 trained, wrote nothing


@pytest.mark.slow
def test_the_run_records_its_split_and_says_when_batch_norm_sees_too_few_images(stopped_then_resumed):
    """--json and every checkpoint's .state.json name the processes and each one's batch (to reproduce the run);
    a share below the measured floor of 8 images is said in one line, by rank 0 only, and is all --quiet shows."""
    run = stopped_then_resumed
    result = json.loads(run.resumed.stdout)
    assert (result["processes"], result["batch_per_process"]) == (2, 2)
    for stem in (str(run.stopped_at), "model_final"):
        state = json.loads((run.out_dir / f"{stem}.state.json").read_text())
        assert state["data_parallel"] == {"processes": 2, "batch_per_process": 2}, stem
    [note] = run.resumed.stderr.splitlines()
    assert note.startswith("note: batch norm normalises over 2 image(s) in each of the 2 processes; below 8 ")
    assert run.stop_stderr.count("note: batch norm") == 1


@pytest.mark.slow
def test_two_ranks_of_batch_2_match_one_process_of_batch_4(stopped_then_resumed, alone_b4, tmp_path):
    """Also across the stop: the resumed ranks end where one uninterrupted process of batch 4 does."""
    run = stopped_then_resumed
    [(weights, _), _], (doubled, _) = run.ranks, alone_b4
    halved, _ = _single_process(run.config, 2, run.stopped_at + 1, tmp_path / "b2")  # a rank alone would learn this
    assert doubled.keys() == weights.keys()
    for name in weights:
        np.testing.assert_allclose(weights[name], doubled[name], atol=1e-5, rtol=1e-4, err_msg=name)
    assert max(np.abs(weights[name] - halved[name]).max() for name in weights) > 1e-3


@pytest.mark.slow
def test_by_default_the_run_reports_the_losses_of_one_process(stopped_then_resumed, alone_b4):
    result, (_, alone) = json.loads(stopped_then_resumed.resumed.stdout), alone_b4
    assert result["losses"].keys() == alone["losses"].keys()
    for name, value in result["losses"].items():
        np.testing.assert_allclose(value, alone["losses"][name], atol=1e-5, rtol=1e-4, err_msg=name)
    np.testing.assert_allclose(result["loss_history"], alone["loss_history"], atol=1e-5, rtol=1e-4)


@pytest.mark.slow
def test_a_rank_failing_after_the_checks_is_one_line_naming_its_log(write_tiny_train_config, synthetic_voc, tmp_path):
    config, listing = write_tiny_train_config(tmp_path), tmp_path / "one_gone.txt"
    listing.write_text((synthetic_voc / "trainval.txt").read_text() + "JPEGImages/gone.jpg Annotations/gone.xml\n")
    overrides = [f"TrainReader.dataset.anno_path={listing}", "TrainReader.batch_size=8"]  # 8: no batch-norm note
    run = _slimdet(["train", "-c", str(config), "--nproc", "2", "-o", *overrides])
    assert (run.returncode, run.stdout) == (2, ""), run.stderr
    [line] = run.stderr.splitlines()
    assert line.startswith("error: image ") and "gone.jpg not found" in line, line
    log = Path(line.rsplit("its log: ", 1)[1].rstrip(")"))
    assert log.parent == tmp_path / "output" / "tiny" / "launch_log" and "gone.jpg not found" in log.read_text()
