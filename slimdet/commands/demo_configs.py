"""The demo's sizes and the configs it writes: the shipped shapes configs, cut down to fit a CPU budget.

The configs are written as files under ``<out>/configs/`` (``_BASE_`` on the shipped ones) so that every
stage the demo runs can be re-run by hand with the ordinary commands.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from slimdet.config.shipped import SHIPPED_DIR
from slimdet.errors import ConfigError

TEACHER_BASE = "shapes_yolov3_r34.yml"
STUDENT_BASE = "shapes_yolov3_mobilenet_v1.yml"
NORMALIZE = (
    "!NormalizeImage {mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], is_scale: true, is_channel_first: false}"
)
ANCHORS = "[[10, 13], [16, 30], [33, 23], [30, 61], [62, 45], [59, 119], [116, 90], [156, 198], [373, 326]]"


@dataclass(frozen=True)
class DemoSize:
    """How big every stage of the demo is (``FULL`` fits 25 minutes on a slow 2-core machine, ``FAST`` 3)."""

    num_train: int  # synthetic images
    num_test: int
    image_size: int  # synthetic image side
    input_size: int  # train / eval / export input side
    batch_size: int
    teacher_iters: int  # several times the students': the teacher must be clearly stronger
    student_iters: int  # the student from scratch: sensitivity analyses it, all three fine-tunings start from it
    # Fine-tuning from that student, the same for all three: unpruned (the baseline of the table, so that it
    # trains as many iterations as the pruned models), prune-only and distill-prune.
    finetune_iters: int
    base_lr: float
    # --distill-weight as meant at 608 px; the input-size balance scales it by (size/608)² per batch. 4000
    # gives 100 at 96 px, which beat both 1000 and 25 there in earlier demo runs (docs/benchmarks.md, "The
    # demo's size").
    distill_weight: float
    sensitivity_params: tuple[str, ...]
    sensitivity_ratios: tuple[float, ...]
    sensitivity_images: int
    target_flops: float  # share of conv FLOPs the derived ratios remove
    infer_images: int


def _block(levels: range) -> tuple[str, ...]:
    return tuple(
        f"yolo_block.{level}.{conv}.conv.weights" for level in levels for conv in ("0.0", "0.1", "1.0", "1.1", "2")
    )


FULL = DemoSize(
    num_train=512, num_test=128, image_size=128, input_size=96, batch_size=8,
    teacher_iters=500, student_iters=150, finetune_iters=70, base_lr=0.001, distill_weight=4000,
    sensitivity_params=_block(range(3)), sensitivity_ratios=(0.3, 0.5, 0.7), sensitivity_images=16,
    target_flops=0.55, infer_images=4,
)  # fmt: skip
FAST = DemoSize(
    num_train=16, num_test=8, image_size=64, input_size=64, batch_size=4,
    teacher_iters=3, student_iters=3, finetune_iters=2, base_lr=0.001, distill_weight=4000,
    sensitivity_params=_block(range(1)), sensitivity_ratios=(0.3, 0.6), sensitivity_images=4,
    target_flops=0.1, infer_images=2,
)  # fmt: skip


# Training is nearly all of a demo's time, so FULL is budgeted in iterations, at the seconds per iteration (96 px,
# batch 8) of the slowest 2-core machine seen, from its stage timings (46 min for 1200/300/200/200 iterations);
# everything else (data, sensitivity, eval, export, infer) took it under 1.5 minutes.
SLOW_SECONDS_PER_ITER = {"teacher": 1.54, "student": 1.46, "prune_only": 0.89, "distill_prune": 1.19}
SLOW_OTHER_SECONDS = 90.0


def estimated_seconds(size: DemoSize) -> float:
    """A demo's time on the slow machine (the baseline's fine-tuning steps cost what the student's do)."""
    cost = SLOW_SECONDS_PER_ITER
    training = (
        size.teacher_iters * cost["teacher"]
        + (size.student_iters + size.finetune_iters) * cost["student"]
        + size.finetune_iters * (cost["prune_only"] + cost["distill_prune"])
    )
    return training + SLOW_OTHER_SECONDS


def shipped_configs() -> Path:
    """The package's ``configs/`` folder (package data: there in a clone and in a wheel install alike)."""
    if not (SHIPPED_DIR / STUDENT_BASE).is_file():
        raise ConfigError(f"the shipped configs are not at {SHIPPED_DIR}: reinstall slimdet (pip install slimdet)")
    return SHIPPED_DIR


def demo_config(
    base: Path,
    size: DemoSize,
    *,
    dataset: Path,
    save_dir: Path,
    name: str,
    iters: int,
    pretrain: Path | None = None,
    tail: int = 0,
) -> str:
    """A shapes config (``base``) retargeted at ``dataset`` and ``size``; its checkpoints in ``save_dir/name``;
    ``pretrain``: the weights it starts from (partial load, as pretrain_weights always is). The schedule (warm-up,
    decays at 80% and 90%) spans ``iters``; ``tail`` more iterations follow at its final learning rate, so that
    a curve can show whether training has levelled off after the last decay."""
    s = size.input_size
    warmup = max(1, iters // 10)
    first = max(1, int(iters * 0.8))
    milestones = [first, max(first + 1, int(iters * 0.9))]  # strictly increasing, as the optimizer demands
    dataset_tag = f"!VOCDataSet {{dataset_dir: {dataset}, anno_path: %s, use_default_label: false, label_list: label_list.txt, with_background: false}}"
    total = iters + tail
    return f"""# Written by `slimdet demo`: {base.name} at {s} px, {total} iterations.
_BASE_: {base}
max_iters: {total}
snapshot_iter: {total}
log_iter: {max(1, total // 10)}
save_dir: {save_dir}
weights: {save_dir}/{name}/model_final
pretrain_weights: {pretrain if pretrain is not None else "null"}
LearningRate:
  base_lr: {size.base_lr}
  schedulers:
  - !PiecewiseDecay {{gamma: 0.1, milestones: {milestones}}}
  - !LinearWarmup {{start_factor: 0., steps: {warmup}}}
TrainReader:
  dataset: {dataset_tag % "trainval.txt"}
  batch_transforms:
    - !RandomShape {{sizes: [{s}], random_inter: false}}
    - {NORMALIZE}
    - !Permute {{to_bgr: false, channel_first: true}}
    - !Gt2YoloTarget {{anchor_masks: [[6, 7, 8], [3, 4, 5], [0, 1, 2]], anchors: {ANCHORS}, downsample_ratios: [32, 16, 8]}}
  batch_size: {size.batch_size}
  worker_num: 0
EvalReader:
  dataset: {dataset_tag % "test.txt"}
  sample_transforms:
    - !DecodeImage {{to_rgb: true}}
    - !ResizeImage {{target_size: {s}, interp: 2}}
    - {NORMALIZE}
    - !PadBox {{num_max_boxes: 50}}
    - !Permute {{to_bgr: false, channel_first: true}}
  batch_size: 8
  worker_num: 0
TestReader:
  inputs_def: {{image_shape: [3, {s}, {s}], fields: ['image', 'im_size', 'im_id']}}
  dataset: !ImageFolder {{dataset_dir: {dataset}, image_dir: JPEGImages, use_default_label: false, label_list: label_list.txt, with_background: false}}
  sample_transforms:
    - !DecodeImage {{to_rgb: true}}
    - !ResizeImage {{target_size: {s}, interp: 2}}
    - {NORMALIZE}
    - !Permute {{to_bgr: false, channel_first: true}}
"""
