"""slimdet vs PaddleDetection 2.6, side by side in one run: seconds per training step (YOLOv3-MobileNetV1,
as ``slimdet train`` runs by default and with ``--nproc 1``; and distill-prune: r578-pruned student + frozen
R34 teacher, likewise), eval images/s, peak RSS; printed as slimdet/ppdet ratios (below 1: slimdet is faster /
smaller) against two ppdet columns: as installed, and like with like (given slimdet's MKL setting).

Both sides see the same synthetic shapes images, input size and batch, on the CPU, with no augmentation
(decode → resize → normalise → YOLO targets) and random initial weights (timing does not depend on them).
Each measurement runs in its own fresh process (peak RSS is that process's), slimdet's with this
interpreter, ppdet's with ``--ppdet-python``. Each side gets the environment a user would give it: ppdet
the one this script started with (plus any ``--ppdet-env``), slimdet that plus what ``import slimdet`` sets,
which on AMD CPUs includes ``MKL_DEBUG_CPU_TYPE=5`` (see ``slimdet.runtime.default_mkl_code_path``).
ppdet runs twice: as installed, and with whatever MKL variable slimdet set (the same MKL kernels: like
with like); on a CPU where slimdet sets none, the two columns are one measurement.

slimdet runs as its commands do on a CPU: eval and the teacher through Paddle Inference (eval's one-off
compile is timed apart, as ``compile_s``; the teacher's graph is built in a short-lived child process, whose
peak RSS is shown apart, as ``compile_child_rss_mib``). The ``plain`` and ``distill`` rows train as the
commands do by default on a CPU (``--nproc auto``: one single-threaded process per core, the batch shared
out; their peak RSS is rank 0's), the ``plain_nproc1`` and ``distill_nproc1`` rows in one process
(``--nproc 1``); both are compared with ppdet's one process.

paddledet 2.6.0 cannot live in slimdet's environment: it requires opencv-python<=4.6.0 and numpy<1.24,
while paddleslim 2.6.0 pins opencv-python==4.6.0.66 (and it imports sklearn without declaring it). So it
gets its own venv, made once:

    python3.11 -m venv .venv-ppdet
    .venv-ppdet/bin/pip install paddlepaddle==2.6.2 paddledet==2.6.0 "numpy<1.24" "scikit-learn<1.6"
    .venv/bin/python bench/vs_ppdet.py --ppdet-python .venv-ppdet/bin/python

Cost: about (warm-up + --steps) training steps per task per side; ~10 s a step at 320 px batch 8 on
2 cores, so the default (160 px, 2 timed steps) takes a few minutes.
"""

from __future__ import annotations

import zlib  # noqa: F401  (before paddle in every process that imports it)

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STARTING_ENV = dict(os.environ)  # before anything imports slimdet, which adds its own defaults
CONFIGS = ROOT / "configs"
LEVEL_CONVS = ("0.0", "0.1", "1.0", "1.1", "2", "tip")
R578 = {f"yolo_block.{lv}.{conv}.conv.weights": r for lv, r in ((0, 0.5), (1, 0.7), (2, 0.8)) for conv in LEVEL_CONVS}
ANCHORS = "[[10, 13], [16, 30], [33, 23], [30, 61], [62, 45], [59, 119], [116, 90], [156, 198], [373, 326]]"
MASKS = "[[6, 7, 8], [3, 4, 5], [0, 1, 2]]"
NORM = "{mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], is_scale: true}"
TASKS = ("plain", "plain_nproc1", "distill", "distill_nproc1", "eval")
DEFAULT_NPROC = ("plain", "distill")  # slimdet's rows that train as its commands do by default: --nproc auto
# One schedule for both sides (a constant 0.001), so that their losses can be compared step for step.
LEARNING_RATE = """LearningRate:
  base_lr: 0.001
  schedulers: [!PiecewiseDecay {gamma: 0.1, milestones: [1000]}, !LinearWarmup {start_factor: 1., steps: 1}]"""
# ppdet's child saves its initial weights here and slimdet's starts from them (see load_start).
START = {"plain": "ppdet_start_plain.npz", "distill": "ppdet_start_distill.npz", "teacher": "ppdet_start_teacher.npz"}
TEACHER_WEIGHTS = "slimdet_teacher.pdparams"  # ppdet's starting teacher as a weights file (see child_slimdet)
# the ppdet measurement a slimdet row is compared with
PPDET_TASK = {"plain_nproc1": "plain", "distill_nproc1": "distill"}
MKL_VARIABLE = "MKL_DEBUG_CPU_TYPE"


# ---------------------------------------------------------------- configs, one per side


def slimdet_yaml(base: str, data: Path, size: int, batch: int) -> str:
    norm = NORM[:-1] + ", is_channel_first: false}"
    dataset = "!VOCDataSet {dataset_dir: %s, anno_path: %s, use_default_label: false, label_list: label_list.txt, with_background: false}"
    return f"""_BASE_: {CONFIGS / base}
{LEARNING_RATE}
TrainReader:
  dataset: {dataset % (data, "trainval.txt")}
  sample_transforms:
    - !DecodeImage {{to_rgb: true}}
    - !NormalizeBox {{}}
    - !PadBox {{num_max_boxes: 50}}
    - !BboxXYXY2XYWH {{}}
  batch_transforms:
    - !RandomShape {{sizes: [{size}], random_inter: false}}
    - !NormalizeImage {norm}
    - !Permute {{to_bgr: false, channel_first: true}}
    - !Gt2YoloTarget {{anchor_masks: {MASKS}, anchors: {ANCHORS}, downsample_ratios: [32, 16, 8]}}
  batch_size: {batch}
  shuffle: false  # ppdet's order, so that both sides see the same batches
  worker_num: 0
EvalReader:
  dataset: {dataset % (data, "test.txt")}
  sample_transforms:
    - !DecodeImage {{to_rgb: true}}
    - !ResizeImage {{target_size: {size}, interp: 2}}
    - !NormalizeImage {norm}
    - !PadBox {{num_max_boxes: 50}}
    - !Permute {{to_bgr: false, channel_first: true}}
  batch_size: {batch}
  worker_num: 0
"""


def ppdet_yaml(backbone: str, data: Path, size: int, batch: int) -> str:
    """PaddleDetection 2.6's YOLOv3 (MobileNetV1 or ResNet34) on the shapes set, written for this bench."""
    backbones = {
        "MobileNet": "MobileNet: {scale: 1, feature_maps: [4, 6, 13], with_extra_blocks: false, extra_block_filters: []}",
        "ResNet": "ResNet: {depth: 34, variant: b, return_idx: [1, 2, 3], freeze_at: -1, freeze_norm: false, norm_decay: 0.}",
    }
    dataset = "!VOCDataSet {dataset_dir: %s, anno_path: %s, label_list: label_list.txt, data_fields: [image, gt_bbox, gt_class, difficult]}"
    return f"""architecture: YOLOv3
metric: VOC
map_type: 11point
num_classes: 3
use_gpu: false
log_iter: 1000
save_dir: output
snapshot_epoch: 1000
norm_type: bn
worker_num: 0
YOLOv3: {{backbone: {backbone}, neck: YOLOv3FPN, yolo_head: YOLOv3Head, post_process: BBoxPostProcess}}
{backbones[backbone]}
YOLOv3Head: {{anchors: {ANCHORS}, anchor_masks: {MASKS}, loss: YOLOv3Loss}}
YOLOv3Loss: {{ignore_thresh: 0.7, downsample: [32, 16, 8], label_smooth: false}}
BBoxPostProcess:
  decode: {{name: YOLOBox, conf_thresh: 0.005, downsample_ratio: 32, clip_bbox: true}}
  nms: {{name: MultiClassNMS, keep_top_k: 100, score_threshold: 0.01, nms_threshold: 0.45, nms_top_k: 1000}}
{LEARNING_RATE}
OptimizerBuilder:
  optimizer: {{momentum: 0.9, type: Momentum}}
  regularizer: {{factor: 0.0005, type: L2}}
TrainDataset: {dataset % (data, "trainval.txt")}
EvalDataset: {dataset % (data, "test.txt")}
TrainReader:
  inputs_def: {{num_max_boxes: 50}}
  sample_transforms: [Decode: {{}}]
  batch_transforms:
    - BatchRandomResize: {{target_size: [{size}, {size}], random_size: false, random_interp: false, keep_ratio: false}}
    - NormalizeBox: {{}}
    - PadBox: {{num_max_boxes: 50}}
    - BboxXYXY2XYWH: {{}}
    - NormalizeImage: {NORM}
    - Permute: {{}}
    - Gt2YoloTarget: {{anchor_masks: {MASKS}, anchors: {ANCHORS}, downsample_ratios: [32, 16, 8]}}
  batch_size: {batch}
  shuffle: false
  drop_last: true
  use_shared_memory: false
EvalReader:
  sample_transforms:
    - Decode: {{}}
    - Resize: {{target_size: [{size}, {size}], keep_ratio: false, interp: 2}}
    - NormalizeImage: {NORM}
    - PadBox: {{num_max_boxes: 50}}
    - Permute: {{}}
  batch_size: {batch}
"""


# The same 18 convs under PaddleDetection 2.x's automatic names (the student is built first in a fresh
# process: MobileNetV1 takes conv2d_0..26, the FPN's detection blocks follow, one transition conv apart).
PPDET_R578_NAMES = [f"conv2d_{i}.w_0" for start in (27, 34, 41) for i in range(start, start + 6)]


def ppdet_slim_yaml(teacher_yml: Path) -> str:
    params = ", ".join(f"'{name}'" for name in PPDET_R578_NAMES)
    ratios = ", ".join(str(r) for r in R578.values())
    return f"""_BASE_: [{teacher_yml}]
slim: DistillPrune
distill_loss: DistillYOLOv3Loss
DistillYOLOv3Loss: {{weight: 1000}}
pruner: Pruner
Pruner: {{criterion: l1_norm, pruned_params: [{params}], pruned_ratios: [{ratios}], print_params: false}}
"""


# ---------------------------------------------------------------- the same starting weights on both sides

_BN_LEAF = {"weight": "scale", "bias": "offset", "_mean": "mean", "_variance": "variance"}
_BLOCK_CONV = {"conv0": "0.0", "conv1": "0.1", "conv2": "1.0", "conv3": "1.1", "route": "2", "tip": "tip"}


def legacy_name(key: str) -> str:
    """PaddleDetection 2.6's state-dict key → the 0.x name slimdet gives the same tensor.

    So that both sides can start from one set of weights: ppdet's child saves its initial state,
    slimdet's loads it, and the first step's losses can be compared number for number.
    """
    parts = key.split(".")
    leaf = parts[-1]
    if parts[0] == "yolo_head":  # yolo_head.yolo_output.<i>.weight|bias
        return f"yolo_output.{parts[2]}.conv.{'weights' if leaf == 'weight' else 'bias'}"
    if parts[0] == "neck":  # neck.yolo_transition.<i>.… | neck.yolo_block.<i>[.conv_module].<conv>.…
        unit = (
            f"yolo_transition.{parts[2]}"
            if parts[1] == "yolo_transition"
            else f"yolo_block.{parts[2]}.{_BLOCK_CONV[parts[-3]]}"
        )
        return (
            f"{unit}.conv.weights" if parts[-2] == "conv" else f"{unit}.bn.{_BN_LEAF[leaf].replace('variance', 'var')}"
        )
    if parts[1].startswith("res"):  # backbone.res2.res2a.<branch2a|branch2b|short>.<conv|norm>.<leaf>
        branch = parts[3].replace("short", "branch1")
        weight, bn = f"{parts[2]}_{branch}", f"bn{parts[2][3:]}_{branch}"
    elif parts[1:3] == ["conv1", "conv1"]:  # the ResNet stem
        weight, bn = "conv1", "bn_conv1"
    else:  # MobileNetV1: backbone.conv1._conv.weight, backbone.conv2_1._depthwise_conv._batch_norm._mean, …
        weight = parts[1] + {"_depthwise_conv": "_dw", "_pointwise_conv": "_sep"}.get(parts[2], "")
        bn = f"{weight}_bn"
    return f"{weight}_weights" if parts[-2] in ("conv", "_conv") else f"{bn}_{_BN_LEAF[leaf]}"


def save_start(model, path: Path) -> None:
    import numpy as np

    # PaddleSlim's pruner keeps each pruned tensor's original as a '…_backup' buffer: not a weight
    state = {key: value.numpy() for key, value in model.state_dict().items() if not key.endswith("_backup")}
    np.savez(path, **state)


def load_start(model, path: Path, prefix: str = "") -> None:
    """Give ``model`` the weights ppdet's child saved; every tensor must be matched, shape for shape."""
    import numpy as np

    saved = np.load(path)
    ours = {tensor.name: tensor for tensor in model.state_dict().values()}
    theirs = {prefix + legacy_name(key): key for key in saved.files}
    if set(ours) != set(theirs):
        raise SystemExit(f"{path.name}: names differ: {sorted(set(ours) ^ set(theirs))[:6]}")
    for name, tensor in ours.items():
        value = saved[theirs[name]]
        if list(value.shape) != list(tensor.shape):
            raise SystemExit(f"{path.name}: {name} is {list(value.shape)} in ppdet, {list(tensor.shape)} here")
        tensor.set_value(value)


# ---------------------------------------------------------------- children: one measurement each


def _peak_rss_mib(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def _time_steps(step, steps: int, warmup: int) -> dict:
    """Seconds per ``step()`` after ``warmup`` untimed ones, and the loss of the first and the last."""
    losses = [step() for _ in range(warmup)]
    started = time.perf_counter()
    losses += [step() for _ in range(steps)]
    seconds = (time.perf_counter() - started) / steps
    return {"seconds_per_step": seconds, "first_loss": losses[0], "loss": losses[-1], "peak_rss_mib": _peak_rss_mib()}


def child_slimdet(task: str, work: Path, steps: int, warmup: int) -> dict:
    import paddle

    from slimdet.config import load_config
    from slimdet.data import build_loader
    from slimdet.engine.optim import build_optimizer
    from slimdet.modeling.build import build_model
    from slimdet.slim.plan import PruningPlan

    paddle.seed(0)
    student = load_config(work / "slimdet_student.yml").to_dict()
    teacher_cfg = {**load_config(work / "slimdet_teacher.yml").to_dict(), "use_fine_grained_loss": True}
    if task == "teacher_weights":  # run apart, so that the measured process never holds the dygraph teacher
        from slimdet.weights import save_weights

        teacher_model = build_model(teacher_cfg, name_prefix="teacher_")
        if (work / START["teacher"]).is_file():
            load_start(teacher_model, work / START["teacher"], prefix="teacher_")
        save_weights(teacher_model, work / TEACHER_WEIGHTS)
        return {}
    if task == "eval":
        from slimdet.engine.evaluate import build_evaluator, detector_for

        model = build_model(student)
        model.eval()
        loader = build_loader(student, "eval")
        evaluator = build_evaluator(student, loader.dataset)
        started = time.perf_counter()
        detect = detector_for(model, "inference")  # what `slimdet eval` runs on a CPU (--engine auto)
        compile_s = time.perf_counter() - started

        def one_pass() -> None:
            evaluator.reset()
            for batch in loader:
                evaluator.process(batch, detect(batch["image"], batch["im_size"]))
            evaluator.evaluate()

        with loader:
            one_pass()  # warm-up pass
            started = time.perf_counter()
            one_pass()
        images_per_s = len(loader.dataset) / (time.perf_counter() - started)
        return {"images_per_s": images_per_s, "compile_s": compile_s, "peak_rss_mib": _peak_rss_mib()}
    world_size = paddle.distributed.get_world_size()
    if world_size > 1:  # one of --nproc auto's processes: its share of every batch
        paddle.distributed.init_parallel_env()
        student["TrainReader"]["batch_size"] //= world_size
    model = build_model(student)
    if task.startswith("distill"):
        PruningPlan(ratios=R578).apply(model, input_size=int(os.environ["BENCH_SIZE"]))
    if (work / START[PPDET_TASK.get(task, task)]).is_file():
        load_start(model, work / START[PPDET_TASK.get(task, task)])
    loader = build_loader(student, "train", seed=0, rank=paddle.distributed.get_rank(), world_size=world_size)
    from slimdet.engine.trainer import Trainer

    if task.startswith("plain"):
        optimizer, scheduler = build_optimizer(student, model)
        net = paddle.DataParallel(model) if world_size > 1 else model
        trainer = Trainer(net, optimizer, scheduler, loader.forever)
    else:
        from slimdet.slim.distill import FrozenTeacher
        from slimdet.slim.distill_settings import DistillSettings
        from slimdet.slim.distill_step import DistillStep

        optimizer, scheduler = build_optimizer(student, model)
        # compiled: what `slimdet distill-prune` runs on a CPU (--teacher-engine auto)
        teacher = FrozenTeacher.compiled_from(teacher_cfg, str(work / TEACHER_WEIGHTS), prefix="teacher_")
        net = paddle.DataParallel(model) if world_size > 1 else model
        # teacher_loss_every=1: the teacher's own loss every step, as ppdet computes it; the legacy balance:
        # ppdet applies its weight 1000 unscaled, so the two losses compare number for number
        step = DistillStep(teacher, DistillSettings(balance="legacy"), teacher_loss_every=1)
        trainer = Trainer(net, optimizer, scheduler, loader.forever, step=step)
    trainer.max_iter = steps + warmup
    trainer.data = loader.forever(0)
    with loader:
        timed = _time_steps(lambda: trainer.run_step()["loss"], steps, warmup)
    if task.startswith("distill"):
        timed["compile_child_rss_mib"] = _peak_rss_mib(resource.RUSAGE_CHILDREN)
    return timed


def child_ppdet(task: str, work: Path, steps: int, warmup: int) -> dict:
    import paddle
    from ppdet.core.workspace import create, load_config

    paddle.set_device("cpu")
    paddle.seed(0)
    if task == "distill":
        from ppdet.slim import build_slim_model

        cfg = load_config(str(work / "ppdet_student.yml"))
        cfg = build_slim_model(cfg, str(work / "ppdet_slim.yml"), mode="train")
        load_config(str(work / "ppdet_student.yml"))  # the slim config merged the teacher's sections in
        model = cfg["model"]
        save_start(model.student_model, work / START["distill"])
        save_start(model.teacher_model, work / START["teacher"])
    else:
        cfg = load_config(str(work / "ppdet_student.yml"))
        model = create(cfg.architecture)
        save_start(model, work / START["plain"])
    if task == "eval":
        from ppdet.metrics import VOCMetric

        dataset = cfg["EvalDataset"]
        loader = create("EvalReader")(dataset, 0)
        model.eval()
        metric = VOCMetric(label_list=dataset.get_label_list(), class_num=3, map_type="11point")

        def one_pass() -> int:
            images = 0
            with paddle.no_grad():
                for batch in loader:
                    metric.update(batch, {k: v.numpy() for k, v in model(batch).items()})
                    images += batch["image"].shape[0]
            return images

        one_pass()
        started = time.perf_counter()
        images = one_pass()
        return {"images_per_s": images / (time.perf_counter() - started), "peak_rss_mib": _peak_rss_mib()}
    loader = create("TrainReader")(cfg["TrainDataset"], 0)
    lr = create("LearningRate")(len(loader))
    optimizer = create("OptimizerBuilder")(lr, model)
    model.train()  # as ppdet's Trainer does
    if task == "distill":
        # ppdet's Trainer puts the teacher back in train mode with the rest (it must be: only then does
        # its head fill the pairs the distillation loss reads), so its BN normalises with batch
        # statistics and keeps updating its running ones. A frozen teacher's BN uses its running
        # statistics (as in 0.x, whose teacher program was cloned for test, and in slimdet): the same
        # here, so that both sides compute the same distillation targets. Timing hardly depends on it.
        for layer in model.teacher_model.sublayers():
            if isinstance(layer, paddle.nn.layer.norm._BatchNormBase):
                layer.eval()
    batches = iter(loader)

    def step() -> float:
        nonlocal batches
        try:
            batch = next(batches)
        except StopIteration:
            batches = iter(loader)
            batch = next(batches)
        outputs = model(batch)
        outputs["loss"].backward()
        optimizer.step()
        optimizer.clear_grad()
        return float(outputs["loss"])

    return _time_steps(step, steps, warmup)


# ---------------------------------------------------------------- the parent: prepare, run, compare


def prepare(work: Path, size: int, batch: int, images: int) -> None:
    from slimdet.data.synth import write_synthetic_voc

    data = work / "shapes"
    if not (data / "label_list.txt").is_file():
        write_synthetic_voc(data, num_train=images, num_test=images, size=size, seed=0, overwrite=True)
    (work / "slimdet_student.yml").write_text(slimdet_yaml("shapes_yolov3_mobilenet_v1.yml", data, size, batch))
    (work / "slimdet_teacher.yml").write_text(slimdet_yaml("shapes_yolov3_r34.yml", data, size, batch))
    (work / "ppdet_student.yml").write_text(ppdet_yaml("MobileNet", data, size, batch))
    (work / "ppdet_teacher.yml").write_text(ppdet_yaml("ResNet", data, size, batch))
    (work / "ppdet_slim.yml").write_text(ppdet_slim_yaml(work / "ppdet_teacher.yml"))


def ppdet_envs(extra: list[str]) -> dict[str, dict[str, str]]:
    """ppdet's two environments: as the script started (plus ``--ppdet-env``), and that plus slimdet's MKL setting."""
    installed = {**STARTING_ENV, **dict(pair.split("=", 1) for pair in extra)}
    same_mkl = dict(installed)
    if MKL_VARIABLE in os.environ:  # set by `import slimdet` (AMD with AVX2) or by the user
        same_mkl[MKL_VARIABLE] = os.environ[MKL_VARIABLE]
    return {"as installed": installed, "like with like": same_mkl}


def measure(python: str, side: str, task: str, args: argparse.Namespace, base: dict[str, str]) -> dict:
    script = [str(Path(__file__).resolve()), "--child", side, task, "--work", str(args.work),
              "--steps", str(args.steps), "--warmup", str(args.warmup)]  # fmt: skip
    env = {**base, "BENCH_SIZE": str(args.size), "PYTHONPATH": str(ROOT)}
    env.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
    command = [python, *script]
    nproc = 1
    if side == "slimdet" and task in DEFAULT_NPROC:  # as `slimdet train` (--nproc auto) starts it
        from slimdet.engine.distributed import auto_processes

        nproc = auto_processes(args.batch, int(env["OMP_NUM_THREADS"]))
    if nproc > 1:
        from slimdet.engine.distributed import launch_env

        env = launch_env(nproc, env)
        command = [python, "-m", "paddle.distributed.launch", "--nproc_per_node", str(nproc),
                   "--log_dir", str(args.work / "launch_log"), *script]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"no result within {args.timeout} s"}
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        return {"error": f"exit {done.returncode}: {tail}"}
    return json.loads([line for line in done.stdout.splitlines() if line.startswith("{")][-1])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=160, help="input side (the issue's reference: 320)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=2, help="timed training steps per task and side")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--images", type=int, default=16, help="synthetic train and test images")
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per measurement before giving up")
    parser.add_argument("--work", type=Path, default=ROOT / "output" / "bench_vs_ppdet")
    parser.add_argument("--ppdet-python", default=os.environ.get("PPDET_PYTHON", str(ROOT / ".venv-ppdet/bin/python")))
    parser.add_argument(
        "--ppdet-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for ppdet's processes (repeatable), e.g. MKL_DEBUG_CPU_TYPE=5",
    )
    parser.add_argument("--child", nargs=2, metavar=("SIDE", "TASK"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if any("=" not in pair for pair in args.ppdet_env):
        parser.error("--ppdet-env takes KEY=VALUE")
    if args.child:
        side, task = args.child
        run = child_slimdet if side == "slimdet" else child_ppdet
        print(json.dumps(run(task, args.work, args.steps, args.warmup)))
        return 0
    args.work.mkdir(parents=True, exist_ok=True)
    prepare(args.work, args.size, args.batch, args.images)
    if not Path(args.ppdet_python).is_file():
        print(f"no ppdet interpreter at {args.ppdet_python}: see this script's docstring", file=sys.stderr)
        return 1
    envs = ppdet_envs(args.ppdet_env)
    extra = {key: value for key, value in envs["like with like"].items() if envs["as installed"].get(key) != value}
    print(f"# {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPU threads, {args.size} px, batch {args.batch}, "
          f"{args.steps} timed steps after {args.warmup} warm-up; ppdet as installed: {' '.join(args.ppdet_env) or 'as started'}; "
          f"like with like adds: {' '.join(f'{k}={v}' for k, v in extra.items()) or 'nothing (same run)'}")  # fmt: skip
    print(f"{'task':<14} {'metric':<18} {'slimdet':>10} {'ppdet':>10} {'ratio':>7} {'ppdet l.w.l.':>12} {'ratio':>7}")
    failed = False
    theirs: dict[str, dict[str, dict]] = {}
    for task in args.tasks.split(","):
        ppdet_task = PPDET_TASK.get(task, task)
        if ppdet_task not in theirs:
            for name in START.values():
                (args.work / name).unlink(missing_ok=True)
            # ppdet first: it writes the starting weights
            installed = measure(args.ppdet_python, "ppdet", ppdet_task, args, envs["as installed"])
            same = measure(args.ppdet_python, "ppdet", ppdet_task, args, envs["like with like"]) if extra else installed
            theirs[ppdet_task] = {"as installed": installed, "like with like": same}
        if ppdet_task == "distill":
            prepared = measure(sys.executable, "slimdet", "teacher_weights", args, dict(os.environ))
            if "error" in prepared:
                print(f"{task:<14} slimdet failed: {prepared['error']}")
                failed = True
                continue
        ours = measure(sys.executable, "slimdet", task, args, dict(os.environ))
        results = {"slimdet": ours, **{f"ppdet {k}": v for k, v in theirs[ppdet_task].items()}}
        for side, result in results.items():
            if "error" in result:
                print(f"{task:<14} {side} failed: {result['error']}")
                failed = True
        if any("error" in result for result in results.values()):
            continue
        a_side, b_side = theirs[ppdet_task]["as installed"], theirs[ppdet_task]["like with like"]
        key = "images_per_s" if task == "eval" else "seconds_per_step"
        for metric in (key, "peak_rss_mib", *(["first_loss", "loss"] if task != "eval" else [])):
            a, b, c = ours[metric], a_side[metric], b_side[metric]
            print(f"{task:<14} {metric:<18} {a:>10.3f} {b:>10.3f} {a / b:>7.2f} {c:>12.3f} {a / c:>7.2f}")
        for extra_metric in ("compile_s", "compile_child_rss_mib"):
            if extra_metric in ours:
                print(f"{task:<14} {extra_metric:<18} {ours[extra_metric]:>10.3f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
