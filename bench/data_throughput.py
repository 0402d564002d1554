"""Is the data pipeline fast enough? Training-pipeline images/s at 320 and 608 px with 0, 1, 2 workers.

The pipeline is the legacy YOLOv3 TrainReader of configs/yolov3_mobilenet_v1_voc.yml (mixup, colour
distortion, expand, crop, flip, RandomShape, normalise, Gt2YoloTarget: use_fine_grained_loss is switched
on, the heavier path), pointed at synthetic shapes written to a temporary folder (416 px images, about
the size of a VOC photo). RandomShape is pinned to the measured size. The first batch of each loader is
not timed (it includes starting the worker processes); its time is printed separately.

With --train-step the same table gets the images/s of one MobileNetV1-YOLOv3 training step (forward,
backward, SGD update, batch 8) at each size, measured in the same run, and the ratio pipeline/model: above
1 means the pipeline keeps up with training.

Cost: about 40 s on 2 shared cores (8 timed batches per cell); --train-step adds about 10 s per step at
320 and 35 s at 608 (2 timed steps per size).
"""

from __future__ import annotations

import zlib  # noqa: F401  (before paddle: paddle 2.6.2 exports its own zlib symbols)

import argparse
import copy
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "yolov3_mobilenet_v1_voc.yml"
BATCH_SIZE = 8


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[320, 608])
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--batches", type=int, default=20, help="timed batches per cell")
    parser.add_argument("--images", type=int, default=64, help="synthetic training images")
    parser.add_argument("--image-size", type=int, default=416, help="side of the synthetic images")
    parser.add_argument("--train-step", action="store_true", help="also time a MobileNetV1-YOLOv3 training step")
    return parser.parse_args(argv)


def pipeline_config(base: dict[str, Any], dataset_dir: Path, size: int) -> dict[str, Any]:
    """The VOC config's TrainReader on the synthetic set, fine-grained targets on, one RandomShape size."""
    cfg = copy.deepcopy(base)
    cfg["num_classes"] = 3
    cfg["use_fine_grained_loss"] = True
    reader = cfg["TrainReader"]
    reader["batch_size"] = BATCH_SIZE
    reader["dataset"] = {
        "type": "VOCDataSet",
        "dataset_dir": str(dataset_dir),
        "anno_path": "trainval.txt",
        "use_default_label": False,
        "with_background": False,
    }
    for step in reader["batch_transforms"]:
        if step.get("type") == "RandomShape":
            step["sizes"] = [size]
    return cfg


def time_pipeline(cfg: dict[str, Any], workers: int, batches: int) -> tuple[float, float]:
    """(images/s over ``batches`` batches, seconds to the first batch) of one loader."""
    from slimdet.data import build_loader

    with build_loader(cfg, "train", seed=0, workers=workers) as loader:
        stream = loader.forever()
        start = time.perf_counter()
        next(stream)
        first = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(batches):
            next(stream)
        return batches * BATCH_SIZE / (time.perf_counter() - start), first


def time_train_step(cfg: dict[str, Any], steps: int = 2) -> float:
    """Images/s of MobileNetV1-YOLOv3 training steps (after one untimed step) on pipeline batches."""
    import paddle

    from slimdet.data import build_loader
    from slimdet.modeling.build import build_model

    model = build_model(cfg)
    model.train()
    optimizer = paddle.optimizer.SGD(learning_rate=1e-4, parameters=model.parameters())
    with build_loader(cfg, "train", seed=0, workers=0) as loader:
        stream = loader.forever()
        batches = [next(stream) for _ in range(steps + 1)]
    elapsed = 0.0
    for k, batch in enumerate(batches):
        start = time.perf_counter()
        tensors = {key: paddle.to_tensor(value) for key, value in batch.items()}
        image = tensors.pop("image")
        losses = model(image, gt=tensors)
        losses["loss"].backward()
        optimizer.step()
        optimizer.clear_grad()
        if k:
            elapsed += time.perf_counter() - start
    return steps * BATCH_SIZE / elapsed


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    from slimdet.config import load_config
    from slimdet.data.synth import write_synthetic_voc

    base = load_config(CONFIG).to_dict()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        dataset_dir = Path(tmp) / "shapes"
        write_synthetic_voc(dataset_dir, num_train=args.images, num_test=1, size=args.image_size, seed=0)
        for size in args.sizes:
            cfg = pipeline_config(base, dataset_dir, size)
            cells = [time_pipeline(cfg, workers, args.batches) for workers in args.workers]
            model_ips = time_train_step(cfg) if args.train_step else None
            rows.append((size, cells, model_ips))
            print(f"size {size}: done", file=sys.stderr, flush=True)

    header = ["size"] + [f"{w} workers img/s (first batch s)" for w in args.workers]
    if args.train_step:
        header += ["train step img/s", "best pipeline / step"]
    print(
        f"training pipeline throughput, batch {BATCH_SIZE}, {args.batches} timed batches, {args.image_size} px sources"
    )
    print(" | ".join(header))
    for size, cells, model_ips in rows:
        line = [str(size)] + [f"{ips:7.1f} ({first:.2f})" for ips, first in cells]
        if model_ips is not None:
            line += [f"{model_ips:.2f}", f"{max(ips for ips, _ in cells) / model_ips:.0f}x"]
        print(" | ".join(line))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
