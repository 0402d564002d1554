"""Does pruning make the deployed detector faster? Unpruned vs r578-pruned MobileNetV1-YOLOv3, side by side.

Both models come from configs/yolov3_mobilenet_v1_voc.yml (20 classes) with random weights, the second
pruned with the slim model zoo's r578 ratios (docs/legacy.md, "Pruning and r578"). Each is exported by slimdet
at every input size and timed through Paddle Inference on the CPU, batch 1, at each thread count; the two models
alternate run by run so that both see the same machine load. Printed next to the latency ratio: the conv
FLOPs ratio (the most pruning can give, if only convolutions cost time) and the on-disk size ratio.

NMS cost is the same for both models and depends on how many boxes pass the 0.01 score threshold. Random
weights decide that by accident (all boxes or none), so the objectness bias of each output level is set:
--nms-load coarse (default) lets the boxes of the coarsest level through (300 at 320 px, 1083 at 608), the
order of what a trained model passes at that threshold; `none` gives the pure network cost, `all` the
worst case (every box of every level, 20 classes).

Cost: a full run (320 and 608, 1 and 2 threads, 30 timed runs each) takes about two minutes on 2 cores;
--quick (320 only, 5 runs) about twenty seconds.
"""

from __future__ import annotations

import zlib  # noqa: F401  (before paddle: paddle 2.6.2 exports its own zlib symbols)

import argparse
import copy
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "yolov3_mobilenet_v1_voc.yml"
LEVEL_CONVS = ("0.0", "0.1", "1.0", "1.1", "2", "tip")  # the six detection-block convs of each level
# objectness logit bias per output level (coarsest first): 0 lets every box through, -10 none
NMS_LOADS = {"none": (-10.0, -10.0, -10.0), "coarse": (0.0, -10.0, -10.0), "all": (0.0, 0.0, 0.0)}
R578 = {
    f"yolo_block.{level}.{conv}.conv.weights": ratio
    for level, ratio in ((0, 0.5), (1, 0.7), (2, 0.8))
    for conv in LEVEL_CONVS
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[320, 608])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument(
        "--nms-load", choices=sorted(NMS_LOADS), default="coarse", help="boxes reaching NMS (see above)"
    )
    parser.add_argument("--quick", action="store_true", help="320 only, 2 warm-up and 5 timed runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.warmup, args.repeats = [320], 2, 5
    return args


def with_input_size(cfg: dict, size: int) -> dict:
    """A copy of the merged config whose EvalReader resizes to ``size`` (export takes its input size there)."""
    out = copy.deepcopy(cfg)
    for step in out["EvalReader"]["sample_transforms"]:
        if step.get("type") == "ResizeImage":
            step["target_size"] = size
    return out


def set_objectness(model, level_bias: tuple[float, ...]) -> None:
    """Set the objectness logit bias of each output level (per anchor: x, y, w, h, obj, classes...)."""
    import paddle

    stride = 5 + model.num_classes
    for level, bias in enumerate(level_bias):
        param = next(p for p in model.parameters() if p.name == f"yolo_output.{level}.conv.bias")
        values = param.numpy()
        values[4::stride] = bias
        param.set_value(paddle.to_tensor(values))


def build_models(cfg: dict, level_bias: tuple[float, ...]):
    """(unpruned, r578-pruned, plan): two models with the same random weights before pruning."""
    import paddle

    from slimdet.modeling.build import build_model
    from slimdet.slim.plan import PruningPlan

    paddle.seed(0)
    base = build_model(cfg)
    set_objectness(base, level_bias)
    pruned = build_model(cfg)
    pruned.set_state_dict(base.state_dict())
    plan = PruningPlan(ratios=R578)
    plan.prune(pruned)
    return base, pruned, plan


def time_pair(dirs: tuple[Path, Path], size: int, threads: int, warmup: int, repeats: int) -> tuple[float, float]:
    """Median milliseconds per batch-1 run of each exported model, runs interleaved."""
    from slimdet.deploy.predictor import PaddlePredictor

    predictors = [PaddlePredictor(d, threads=threads) for d in dirs]
    rng = np.random.default_rng(0)
    image = rng.standard_normal((1, 3, size, size)).astype(np.float32)
    im_size = np.array([[size, size]], np.int32)
    for _ in range(warmup):
        for predictor in predictors:
            predictor(image, im_size)
    times: list[list[float]] = [[], []]
    for _ in range(repeats):
        for k, predictor in enumerate(predictors):
            start = time.perf_counter()
            predictor(image, im_size)
            times[k].append((time.perf_counter() - start) * 1000)
    return statistics.median(times[0]), statistics.median(times[1])


def main(argv: list[str]) -> int:
    from slimdet.config import load_config
    from slimdet.data.datasets import VOC_CLASSES
    from slimdet.deploy.export import export_model
    from slimdet.deploy.predictor import PARAMS_FILE

    args = parse_args(argv)
    cfg = load_config(CONFIG).to_dict()
    base, pruned, plan = build_models(cfg, NMS_LOADS[args.nms_load])
    print(f"# {CONFIG.name}, random weights, NMS load '{args.nms_load}', r578 plan, Paddle Inference CPU, batch 1")
    header = f"{'size':>5} {'threads':>7} {'unpruned ms':>12} {'r578 ms':>8} {'latency':>8} {'FLOPs':>6} {'disk':>6}"
    print(header)
    with tempfile.TemporaryDirectory(prefix="slimdet-bench-") as tmp:
        for size in args.sizes:
            sized = with_input_size(cfg, size)
            exports = [
                export_model(model, sized, model_plan, Path(tmp) / f"{name}_{size}", label_list=VOC_CLASSES)
                for name, model, model_plan in (("base", base, None), ("r578", pruned, plan))
            ]
            flops_ratio = exports[1].gflops / exports[0].gflops
            disk_ratio = exports[1].files[PARAMS_FILE] / exports[0].files[PARAMS_FILE]
            dirs = (Path(exports[0].out_dir), Path(exports[1].out_dir))
            for threads in args.threads:
                base_ms, pruned_ms = time_pair(dirs, size, threads, args.warmup, args.repeats)
                print(
                    f"{size:>5} {threads:>7} {base_ms:>12.1f} {pruned_ms:>8.1f} {pruned_ms / base_ms:>8.2f} "
                    f"{flops_ratio:>6.2f} {disk_ratio:>6.2f}",
                    flush=True,
                )
    print("# ratios are r578 / unpruned (lower is better); FLOPs = conv MACs, disk = model.pdiparams bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
