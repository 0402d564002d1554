"""Shared fixtures. Tests use tiny real data made on the fly in tmp_path, with fixed seeds."""

import zlib  # noqa: F401  (before paddle, see slimdet/__init__.py)

import os
import shutil
import signal
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

# Commands that train run in one process in tests (``--nproc auto`` would launch one per core); the tests
# of data-parallel runs ask for their processes explicitly.
os.environ["SLIMDET_NPROC"] = "1"
if "PYTEST_XDIST_WORKER_COUNT" in os.environ:
    # pytest-xdist workers run side by side: each takes its share of the cores (paddle reads this at import),
    # or two 2-thread workers on 2 cores would fight over them.
    _share = max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    os.environ["OMP_NUM_THREADS"] = os.environ["FLAGS_paddle_num_threads"] = str(
        min(_share, int(os.environ.get("OMP_NUM_THREADS") or _share))
    )

import cv2
import pytest

# Tests act as a command run in a terminal's foreground, where Ctrl-C reaches it. A shell without job control
# starts background jobs (`make test &`) with SIGINT ignored, which slimdet respects (slimdet/interrupts.py),
# and the processes the tests start would inherit; tests/test_interrupts.py covers that case explicitly.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# The longest modules, longest first (as --durations showed them). pytest-xdist hands whole modules to its
# workers in collection order when told --no-loadscope-reorder (make test does), so these start first and the
# short ones fill in around them: a long module started last would leave the other worker idle meanwhile.
LONGEST_MODULES = (
    "tests/engine/test_two_nodes.py",
    "tests/cli/test_train.py",
    "tests/engine/test_distributed.py",
    "tests/cli/test_distill_prune.py",  # training the shared overfit model (tests/conftest.py)
    "tests/cli/test_demo.py",
    "tests/cli/test_quant_aware.py",
    "tests/cli/test_quantize.py",
    "tests/commands/test_distill.py",
    "tests/commands/test_sensitivity.py",
    "tests/test_notebook.py",
    "tests/deploy/test_export.py",
    "tests/cli/test_export.py",
    "tests/cli/test_app.py",
    "tests/commands/test_train.py",
)  # 54, 44, 36, 27, 24, 20, 20, 20, 16, 14, 12, 10, 9, 8 s on an idle 2-core machine (870 tests, 2026-12-08)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist, the ``LONGEST_MODULES`` first (in every worker alike: their collections must agree)."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return
    rank = {module: place for place, module in enumerate(LONGEST_MODULES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))  # stable: the rest keep order


@pytest.fixture(scope="session")
def synthetic_voc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny synthetic VOC dataset (16 train / 8 test images of 96 px, seed 0), shared by the session.

    Tests must not modify it: copy it first (shutil.copytree) when a test needs to break files.
    """
    from slimdet.data.synth import write_synthetic_voc

    root = tmp_path_factory.mktemp("synthetic_voc") / "shapes"
    write_synthetic_voc(root, num_train=16, num_test=8, size=96, seed=0)
    return root


SHAPES_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "shapes_yolov3_mobilenet_v1.yml"
SMALL_INPUT = 96  # the synthetic images' own size: the graph and the data agree
# The slim model zoo's r578 ratios per level (docs/legacy.md, "Pruning and r578") on the convs of the small
# head (conv_block_num 1) of the small and tiny configs below, in model order.
R578_LIKE = {
    f"yolo_block.{level}.{conv}.conv.weights": ratio
    for level, ratio in ((0, 0.5), (1, 0.7), (2, 0.8))
    for conv in ("0.0", "0.1", "2", "tip")
}


def _small_shapes_yaml(dataset: Path, weights: Path) -> str:
    """The shapes demo config pointed at ``dataset`` and ``weights``, its eval/test input cut to 96 px, its head
    as small as the tiny training config's (legacy ``conv_block_num: 1``)."""
    steps = f"""
    - !DecodeImage {{to_rgb: true}}
    - !ResizeImage {{target_size: {SMALL_INPUT}, interp: 2}}
    - !NormalizeImage {{mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], is_scale: true, is_channel_first: false}}"""
    return f"""_BASE_: {SHAPES_CONFIG}
weights: {weights}
YOLOv3Head:
  conv_block_num: 1
TrainReader:
  dataset: !VOCDataSet {{dataset_dir: {dataset}, anno_path: trainval.txt, use_default_label: false, with_background: false}}
EvalReader:
  dataset: !VOCDataSet {{dataset_dir: {dataset}, anno_path: test.txt, use_default_label: false, with_background: false}}
  sample_transforms:{steps}
    - !PadBox {{num_max_boxes: 50}}
    - !Permute {{to_bgr: false, channel_first: true}}
TestReader:
  dataset: !ImageFolder {{dataset_dir: {dataset}, image_dir: JPEGImages, use_default_label: false, with_background: false}}
  sample_transforms:{steps}
    - !Permute {{to_bgr: false, channel_first: true}}
"""


@pytest.fixture(scope="session")
def small_shapes_checkpoint(synthetic_voc: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(config, weights): the 3-class shapes MobileNetV1-YOLOv3 at 96 px with seeded random weights.

    Random weights give every image plenty of detections above the 0.01 score threshold (objectness and
    class sigmoids sit near 0.5), which is what parity tests need. Read-only: copy before changing.
    """
    import paddle

    from slimdet.config import load_config
    from slimdet.modeling.build import build_model
    from slimdet.weights import save_weights

    root = tmp_path_factory.mktemp("small_shapes")
    config, weights = root / "shapes_small.yml", root / "random.pdparams"
    config.write_text(_small_shapes_yaml(synthetic_voc, weights))
    paddle.seed(0)
    save_weights(build_model(load_config(config).to_dict()), weights)
    return config, weights


TINY_TRAIN_SIZE = 64


def _tiny_train_yaml(
    dataset: Path, save_dir: Path, train_list: str = "trainval.txt", eval_list: str = "test.txt"
) -> str:
    """The shapes demo config trained at 64 px for a few steps: deterministic readers (no crop, flip or
    colour jitter), batch 4, no worker processes, so a test run is quick and repeatable. Its head repeats
    1x1 → 3x3 once (legacy ``conv_block_num: 1``, not 2): 17.3 million parameters instead of 24.2, and a
    training step costs a quarter less, in every test that trains."""
    normalize = "!NormalizeImage {mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], is_scale: true, is_channel_first: false}"
    return f"""_BASE_: {SHAPES_CONFIG}
max_iters: 6
snapshot_iter: 3
log_iter: 1
save_dir: {save_dir}
weights: {save_dir}/tiny/model_final
YOLOv3Head:
  conv_block_num: 1
LearningRate:
  base_lr: 0.001
  schedulers: []
TrainReader:
  dataset: !VOCDataSet {{dataset_dir: {dataset}, anno_path: {train_list}, use_default_label: false, with_background: false}}
  sample_transforms:
    - !DecodeImage {{to_rgb: true}}
    - !NormalizeBox {{}}
    - !PadBox {{num_max_boxes: 50}}
    - !BboxXYXY2XYWH {{}}
  batch_transforms:
    - !RandomShape {{sizes: [{TINY_TRAIN_SIZE}], random_inter: false}}
    - {normalize}
    - !Permute {{to_bgr: false, channel_first: true}}
    - !Gt2YoloTarget
      anchor_masks: [[6, 7, 8], [3, 4, 5], [0, 1, 2]]
      anchors: [[10, 13], [16, 30], [33, 23], [30, 61], [62, 45], [59, 119], [116, 90], [156, 198], [373, 326]]
      downsample_ratios: [32, 16, 8]
  batch_size: 4
  worker_num: 0
EvalReader:
  dataset: !VOCDataSet {{dataset_dir: {dataset}, anno_path: {eval_list}, use_default_label: false, with_background: false}}
  sample_transforms:
    - !DecodeImage {{to_rgb: true}}
    - !ResizeImage {{target_size: {TINY_TRAIN_SIZE}, interp: 2}}
    - {normalize}
    - !PadBox {{num_max_boxes: 50}}
    - !Permute {{to_bgr: false, channel_first: true}}
  batch_size: 4
  worker_num: 0
"""


@pytest.fixture
def tiny_train_config(synthetic_voc: Path, tmp_path: Path) -> Path:
    """``tmp_path/tiny.yml``: MobileNetV1-YOLOv3 (fine-grained loss) on the synthetic set at 64 px, 6 steps
    of batch 4, a snapshot every 3, checkpoints under ``tmp_path/output/tiny``. About 0.2 s per step on one
    core."""
    config = tmp_path / "tiny.yml"
    config.write_text(_tiny_train_yaml(synthetic_voc, tmp_path / "output"))
    return config


@pytest.fixture(scope="session")
def write_tiny_train_config(synthetic_voc: Path):
    """``write(folder) -> folder/tiny.yml``: the ``tiny_train_config`` set-up (checkpoints under
    ``folder/output/tiny``) for fixtures wider than one test, which cannot use ``tmp_path``."""

    def write(folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        config = folder / "tiny.yml"
        config.write_text(_tiny_train_yaml(synthetic_voc, folder / "output"))
        return config

    return write


@dataclass(frozen=True)
class OverfitModel:
    """A trained tiny model: ``config`` trains on and evaluates the same 4 images; ``weights`` is its
    ``model_final.pdparams``, whose mAP the training run's last evaluation recorded as ``metrics``;
    ``loss_history`` is the run's mean loss every 2 steps, ``losses`` its last step's loss terms."""

    config: Path
    weights: Path
    metrics: dict
    loss_history: tuple[tuple[int, float], ...]
    losses: dict


OVERFIT_STEPS = 40  # mAP 0.68 on its 4 images (0.14 after 30 steps)


def _made_once_per_run(tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], dict]) -> dict:
    """What ``make(folder)`` returned, made once per test run and shared by pytest-xdist's workers: the first
    worker to ask makes it, under a lock; the others wait, then read what it recorded."""
    import fcntl
    import json

    shared = tmp_path_factory.getbasetemp()
    if "PYTEST_XDIST_WORKER" in os.environ:  # the workers' temp folders share the session's parent
        shared = shared.parent
    folder = shared / name
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = folder / "made.json"
        if not done.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            done.write_text(json.dumps(make(folder)))
    return json.loads(done.read_text())


@pytest.fixture(scope="session")
def overfit_tiny(synthetic_voc: Path, tmp_path_factory: pytest.TempPathFactory) -> OverfitModel:
    """The tiny model overfit on 4 training images, for tests that compare mAPs: an mAP that is clearly not 0
    makes "the same mAP" mean something. Trained once per run. Read-only: its output folder must stay."""
    recorded = _made_once_per_run(
        tmp_path_factory, "overfit_tiny", lambda folder: _train_overfit_model(synthetic_voc, folder)
    )
    history = tuple((iteration, loss) for iteration, loss in recorded["loss_history"])
    return OverfitModel(
        Path(recorded["config"]), Path(recorded["weights"]), recorded["metrics"], history, recorded["losses"]
    )


def _train_overfit_model(dataset: Path, folder: Path) -> dict:
    from slimdet.commands.train import TrainRequest, train_from_config
    from slimdet.config import load_config

    handful = folder / "handful.txt"
    handful.write_text("".join((dataset / "trainval.txt").read_text().splitlines(keepends=True)[:4]))
    config = folder / "overfit.yml"
    config.write_text(_tiny_train_yaml(dataset, folder / "output", str(handful), str(handful)))
    steps = [f"max_iters={OVERFIT_STEPS}", f"snapshot_iter={OVERFIT_STEPS}", "log_iter=2"]
    result = train_from_config(TrainRequest(load_config(config, steps), eval=True), quiet=True)
    assert result.evals[-1].metrics["mAP"] > 0.3, result.evals  # the point of this fixture
    weights = Path(result.final_checkpoint).with_suffix(".pdparams")
    return {
        "config": str(config),
        "weights": str(weights),
        "metrics": dict(result.evals[-1].metrics),
        "loss_history": result.loss_history,
        "losses": dict(result.losses),
    }


TEACHER_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "shapes_yolov3_r34.yml"


@pytest.fixture(scope="session")
def shapes_teacher_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A teacher for distillation tests: the shapes YOLOv3-ResNet34 (3 classes, configs/shapes_yolov3_r34.yml)
    with seeded random weights, saved as .pdparams. Made once per run. Read-only."""
    recorded = _made_once_per_run(tmp_path_factory, "shapes_teacher", _save_random_teacher)
    return Path(recorded["weights"])


def _save_random_teacher(folder: Path) -> dict:
    import paddle

    from slimdet.config import load_config
    from slimdet.modeling.build import build_model
    from slimdet.weights import save_weights

    path = folder / "shapes_r34.pdparams"
    paddle.seed(1)
    save_weights(build_model(load_config(TEACHER_CONFIG).to_dict()), path)
    return {"weights": str(path)}


# The small shapes model, once exported, and a few real pictures to run it on (deploy and command tests).


@pytest.fixture(scope="session")
def shapes_cfg(small_shapes_checkpoint) -> dict:
    from slimdet.config import load_config

    return load_config(small_shapes_checkpoint[0]).to_dict()


@pytest.fixture(scope="session")
def shapes_labels(synthetic_voc) -> list[str]:
    return (synthetic_voc / "label_list.txt").read_text().split()


@pytest.fixture(scope="session")
def shapes_model(small_shapes_checkpoint, shapes_cfg):
    """The checkpoint rebuilt the way every command does it (eval mode, weights loaded strictly)."""
    from slimdet.slim.assemble import build_trained_model

    model, plan = build_trained_model(shapes_cfg, small_shapes_checkpoint[1])
    assert plan is None
    return model


@pytest.fixture(scope="session")
def exported(shapes_model, shapes_cfg, shapes_labels, tmp_path_factory):
    """ExportResult of the unpruned shapes model (with ONNX when the extra is installed)."""
    from slimdet.deploy.export import export_model
    from slimdet.deploy.predictor import import_onnx_tools
    from slimdet.errors import SlimdetError

    try:
        import_onnx_tools()
        onnx = True
    except SlimdetError:
        onnx = False
    out = tmp_path_factory.mktemp("export") / "shapes_small"
    return export_model(shapes_model, shapes_cfg, None, out, label_list=shapes_labels, onnx=onnx)


@pytest.fixture(scope="session")
def test_images(synthetic_voc, tmp_path_factory) -> list[Path]:
    """Three synthetic test pictures plus a stretched, non-square copy (so boxes must map back to 150×80)."""
    images = sorted((synthetic_voc / "JPEGImages").glob("test_*.jpg"))[:3]
    wide = tmp_path_factory.mktemp("wide") / "wide.png"
    cv2.imwrite(str(wide), cv2.resize(cv2.imread(str(images[0])), (150, 80)))
    return [*images, wide]


CLONE = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class WheelInstall:
    """slimdet as ``pip install`` of a wheel leaves it: the wheel built from this clone, unpacked.

    The wheel is pure Python, so unpacking it is installing it (entry points aside).
    """

    wheel: Path
    site: Path  # the unpacked wheel, as site-packages would hold it

    def python(self, *args: str, cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
        """``python ARGS`` importing slimdet from this install, in ``cwd``: run it in an empty folder, and no
        file of the clone can be found (neither the package nor its ``configs/`` link)."""
        return subprocess.run(
            [sys.executable, *args],
            cwd=cwd,
            env={**os.environ, "PYTHONPATH": str(self.site)},  # before the venv's editable install of the clone
            capture_output=True,
            text=True,
            timeout=timeout,
        )


@pytest.fixture(scope="session")
def wheel_install(tmp_path_factory: pytest.TempPathFactory) -> WheelInstall:
    """The wheel of this clone's package and pyproject.toml, built once per run and unpacked. Read-only."""
    made = _made_once_per_run(tmp_path_factory, "wheel", _build_and_unpack_wheel)
    return WheelInstall(wheel=Path(made["wheel"]), site=Path(made["site"]))


def _build_and_unpack_wheel(folder: Path) -> dict:
    source = folder / "src"
    shutil.copytree(CLONE / "slimdet", source / "slimdet", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(CLONE / name, source / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(folder / "dist"), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    [wheel] = (folder / "dist").glob("slimdet-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(folder / "site")
    return {"wheel": str(wheel), "site": str(folder / "site")}


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A folder on a file system that refuses writes, as a full disk or a read-only mount does.

    Where this process may mount (root in a container, as here), a 64 KiB tmpfs filled up: a file can be
    created, but writing into it fails with "No space left on device". Elsewhere ``/sys``, where creating a
    file is refused even to root. Holds only ``filler``, if anything.
    """
    mount_point = tmp_path / "full"
    mount_point.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=64k,mode=0777", "tmpfs", str(mount_point)]
    if subprocess.run(mount, capture_output=True, check=False).returncode != 0:
        yield Path("/sys")
        return
    try:
        stats = os.statvfs(mount_point)
        (mount_point / "filler").write_bytes(b"\0" * stats.f_bavail * stats.f_frsize)
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)
