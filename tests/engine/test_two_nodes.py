"""Training across two machines, proved on loopback: two ``paddle.distributed.launch`` nodes (``--nnodes 2``,
the master on 127.0.0.1, one process each) run ``slimdet train`` and ``slimdet distill-prune`` as two machines
would, each node with a save_dir of its own (as on two disks). Batch norm is frozen in every process (as in
tests/engine/test_distributed.py), so that the two ranks of B images must compute what one process of 2B
images does, here in the test's own process: the reference that one launcher of two processes is held to in
test_distributed.py as well. Not covered here: GPUs, real networks (latency, a peer that vanishes without
closing its sockets), checkpoints that are not on a file system both nodes see."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import TEACHER_CONFIG
from tests.engine.frozen_norm import keeping_trainers
from tests.processes import descendants, wait_for

SLIMDET = Path(sys.executable).with_name("slimdet")
PLAN = ["--pruned_params", "yolo_block.0.0.0.conv.weights", "--pruned_ratios", "0.5"]
PEER_GONE_WITHIN = 60  # seconds: how long the surviving node may take to end once its peer is killed


FROZEN_BN = Path(__file__).with_name("frozen_bn")  # its sitecustomize.py freezes batch norm in each process


def _env() -> dict[str, str]:
    """One thread per process, batch norm frozen, no --nproc inside the launched ranks, no empty GPU list (see
    slimdet.launcher)."""
    env = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES", "SLIMDET_NPROC")}
    path = os.pathsep.join([str(FROZEN_BN), str(Path(__file__).parents[2]), env.get("PYTHONPATH", "")])
    return {**env, "OMP_NUM_THREADS": "1", "PYTHONPATH": path}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Node:
    """One launcher as one machine: its process, its log folder (the rank's ``workerlog.0``), its save_dir."""

    process: subprocess.Popen
    logs: Path
    save_dir: Path

    def rank_log(self) -> str:
        path = self.logs / "workerlog.0"
        return path.read_text() if path.is_file() else ""


def _start_pair(folder: Path, command: list[str], overrides: list[str]) -> list[Node]:
    """Nodes 0 and 1 of one job; ``command`` (config and flags) with ``-o overrides`` plus each node's save_dir."""
    port, nodes = _free_port(), []
    folder.mkdir(parents=True)
    for rank in (0, 1):
        logs, save_dir = folder / f"node{rank}" / "logs", folder / f"node{rank}" / "output"
        launch = [sys.executable, "-m", "paddle.distributed.launch", "--master", f"127.0.0.1:{port}", "--nnodes",
                  "2", "--rank", str(rank), "--nproc_per_node", "1", "--log_dir", str(logs)]  # fmt: skip
        args = [*launch, str(SLIMDET), *command, "-o", *overrides, f"save_dir={save_dir}"]
        with open(folder / f"node{rank}.out", "w") as out:  # the launcher's own lines and its echo of the rank's
            process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=_env(), start_new_session=True)
        nodes.append(Node(process, logs, save_dir))
    return nodes


def _pair(folder: Path, command: list[str], overrides: list[str]) -> list[Node]:
    nodes = _start_pair(folder, command, overrides)
    for node in nodes:
        assert node.process.wait(timeout=300) == 0, node.rank_log()[-3000:]
    return nodes


def _one_process(folder: Path, command: list[str], overrides: list[str]) -> Path:
    """The same job in this process with the two ranks' images in one batch of 4 (frozen batch norm); its
    checkpoints' folder."""
    from typer.testing import CliRunner

    from slimdet.cli import app

    save_dir = folder / "output"
    with keeping_trainers():
        run = CliRunner().invoke(app, [*command, "--nproc", "1", "--quiet", "-o", *overrides,
                                       "TrainReader.batch_size=4", f"save_dir={save_dir}"])  # fmt: skip
    assert run.exit_code == 0, run.output
    return save_dir / "tiny"


def _checkpoint(stem: Path) -> tuple[dict[str, np.ndarray], list]:
    """(weights, loss curve) of a checkpoint: its .pdparams and the loss history its .state.json carries."""
    import paddle

    weights = {name: np.asarray(value) for name, value in paddle.load(f"{stem}.pdparams").items()}
    return weights, json.loads(Path(f"{stem}.state.json").read_text())["hooks"]["LossHistory"]["points"]


@dataclass(frozen=True)
class TwoNodes:
    train_pair: list[Node]
    train_one: Path  # the one process's checkpoint folder
    distill_one: Path
    killed: list[Node]  # distill-prune on two nodes, node 1 killed (all its processes) after iteration 3
    survivor_seconds: float  # from the kill to node 0's launcher ending
    resumed: list[Node]  # that pair started again with --resume from node 0's snapshot of iteration 2


@pytest.fixture(scope="module")
def two_nodes(write_tiny_train_config, shapes_teacher_weights, tmp_path_factory) -> TwoNodes:
    root = tmp_path_factory.mktemp("two_nodes")
    config = str(write_tiny_train_config(root))
    train = ["train", "-c", config]
    short = ["max_iters=3", "snapshot_iter=100"]
    train_pair = _pair(root / "train_pair", train, [*short, "TrainReader.batch_size=2"])
    train_one = _one_process(root / "train_one", train, short)

    teacher = ["-t", str(TEACHER_CONFIG), "--teacher_pretrained", str(shapes_teacher_weights), "--teacher-backend",
               "dygraph"]  # fmt: skip  # exact across a resume
    distill = ["distill-prune", "-c", config, *teacher, *PLAN]
    distill_one = _one_process(root / "distill_one", distill, ["max_iters=4", "snapshot_iter=2"])
    every_2 = ["snapshot_iter=2", "TrainReader.batch_size=2"]

    killed = _start_pair(root / "killed", distill, ["max_iters=500", *every_2])
    assert wait_for(lambda: "iter 3/" in killed[0].rank_log(), timeout=240), killed[0].rank_log()[-3000:]
    machine = {killed[1].process.pid, *descendants(killed[1].process.pid)}  # node 1 as a machine that dies
    for pid in machine:
        os.kill(pid, signal.SIGKILL)
    started = time.monotonic()
    killed[0].process.wait(timeout=PEER_GONE_WITHIN + 30)
    survivor_seconds = time.monotonic() - started
    killed[1].process.wait(timeout=30)

    snapshot = killed[0].save_dir / "tiny" / "2"
    resumed = _pair(root / "resumed", [*distill, "--resume", str(snapshot)], ["max_iters=4", *every_2])
    return TwoNodes(train_pair, train_one, distill_one, killed, survivor_seconds, resumed)


def _assert_same_run(stem: Path, reference: Path) -> None:
    """Same weights and loss curve, up to the order in which the ranks' gradients and losses are summed."""
    (weights, curve), (expected, expected_curve) = _checkpoint(stem), _checkpoint(reference)
    assert weights.keys() == expected.keys()
    for name in weights:
        np.testing.assert_allclose(weights[name], expected[name], rtol=1e-5, atol=1e-6, err_msg=name)
    np.testing.assert_allclose(curve, expected_curve, rtol=1e-5)


@pytest.mark.slow
def test_two_nodes_train_the_model_one_process_of_the_whole_batch_trains(two_nodes):
    node0, node1 = two_nodes.train_pair
    _assert_same_run(node0.save_dir / "tiny" / "model_final", two_nodes.train_one / "model_final")
    assert not node1.save_dir.exists()  # node 1 (rank 1) trained and wrote nothing


@pytest.mark.slow
def test_a_node_whose_peer_dies_ends_within_a_minute_with_one_line_naming_it(two_nodes):
    node0, node1 = two_nodes.killed
    assert two_nodes.survivor_seconds < PEER_GONE_WITHIN and node0.process.returncode != 0
    log = node0.rank_log()
    last = log.strip().splitlines()[-1]
    assert last.startswith("error: lost rank 1 (127.0.0.1:") and " of this 2-process run (gloo: " in last, last
    assert last.endswith("start every node again with --resume from the last checkpoint")
    assert "Traceback" not in log  # neither Python's nor paddle's "C++ Traceback"
    assert not node1.save_dir.exists()


@pytest.mark.slow
def test_distill_prune_on_two_nodes_matches_one_process_and_resumes_exactly_after_losing_a_node(two_nodes):
    """Up to the kill, the pair logged the losses of one process of the whole batch; started again from node 0's
    snapshot, it ends where that process's uninterrupted run ends."""
    (_, logged), (_, reference) = (
        _checkpoint(two_nodes.killed[0].save_dir / "tiny" / "2"),
        _checkpoint(two_nodes.distill_one / "model_final"),
    )
    np.testing.assert_allclose(logged, reference[:2], rtol=1e-5)
    node0, node1 = two_nodes.resumed
    _assert_same_run(node0.save_dir / "tiny" / "model_final", two_nodes.distill_one / "model_final")
    assert not node1.save_dir.exists()
