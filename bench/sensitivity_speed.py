"""Sensitivity analysis: slimdet's way against the naive way, in one run, on the same model and data.

slimdet's way (what `slimdet sensitivity` does): PaddleSlim's pruning graph is traced once; since all
analysed convs are in the head, the backbone features of the eval set are computed once and each trial
re-runs only head → post-processing → VOC mAP on them.
The naive way (the legacy sensitive.py loop, in dygraph): for every trial a new pruner (a new trace), then
a full forward over the eval loader (images decoded again).

slimdet's trials run on ``--backend`` (default auto: on this small eval set, dygraph; ``--backend inference``
shows the compiled graph's cost and its float-rounding differences).

Both start from the same MobileNetV1-YOLOv3 of configs/shapes_yolov3_mobilenet_v1.yml with seeded random
weights (they score a small but non-zero mAP, enough for losses) on a synthetic shapes eval set, and
analyse the 18 yolo_block convs × 9 ratios by default. The run checks that both give the same losses
(max |Δloss| ≤ 1e-6 when both run dygraph kernels; through Paddle Inference, whose fused kernels round
differently, the losses must agree to the 4 decimals `slimdet sensitivity` prints) and prints the time of
each (set-up included) and the speed-up.

Cost: the full grid (162 trials each way, 8 images of 160 px) takes about ten minutes on 2 free cores, most
of it in the naive way; --quick (3 convs × 3 ratios) about half a minute.
"""

from __future__ import annotations

import zlib  # noqa: F401  (before paddle: paddle 2.6.2 exports its own zlib symbols)

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASE_CONFIG = ROOT / "configs" / "shapes_yolov3_mobilenet_v1.yml"
TOLERANCE = 1e-6
PRINTED = 5e-5  # losses are printed with 4 decimals


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=int, default=18, help="analyse the first N of the 18 yolo_block convs")
    parser.add_argument("--ratios", default="0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8 0.9")
    parser.add_argument("--images", type=int, default=8, help="synthetic eval images")
    parser.add_argument("--size", type=int, default=160, help="image and input side (px)")
    parser.add_argument("--quick", action="store_true", help="3 convs (one per level) × 3 ratios")
    parser.add_argument(
        "--backend", "--engine", default="auto", choices=("auto", "inference", "dygraph"), help="slimdet's trials"
    )
    return parser.parse_args(argv)


def write_setup(tmp: Path, images: int, size: int) -> tuple[Path, Path]:
    """A synthetic eval set, the shapes config pointed at it (eval input ``size``) and seeded random weights."""
    import paddle

    from slimdet.config import load_config
    from slimdet.data.synth import write_synthetic_voc
    from slimdet.modeling.build import build_model
    from slimdet.weights import save_weights

    data = tmp / "shapes"
    write_synthetic_voc(data, num_train=1, num_test=images, size=size, seed=0)
    config, weights = tmp / "bench.yml", tmp / "random.pdparams"
    voc = "{dataset_dir: %s, anno_path: %s, use_default_label: false, with_background: false}"
    config.write_text(
        f"""_BASE_: {BASE_CONFIG}
weights: {weights}
TrainReader:
  dataset: !VOCDataSet {voc % (data, "trainval.txt")}
EvalReader:
  dataset: !VOCDataSet {voc % (data, "test.txt")}
  sample_transforms:
    - !DecodeImage {{to_rgb: true}}
    - !ResizeImage {{target_size: {size}, interp: 2}}
    - !NormalizeImage
      {{mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], is_scale: true, is_channel_first: false}}
    - !PadBox {{num_max_boxes: 50}}
    - !Permute {{to_bgr: false, channel_first: true}}
"""
    )
    paddle.seed(0)
    save_weights(build_model(load_config(config).to_dict()), weights)
    return config, weights


def slimdet_way(spec, jobs) -> tuple[dict, float, str]:
    """Losses per job, the set-up time (model, weights, trace, features, base mAP) and the backend used."""
    from slimdet.slim.sensitivity_trials import TrialSession

    started = time.perf_counter()
    session = TrialSession(spec)
    base = session.base_map()
    setup = time.perf_counter() - started
    losses = {(p, r): (base - session.trial_map(p, r)) / base for p, r in jobs}
    session.check_restored()
    print(f"  slimdet's way ran as: {session.mode}")
    return losses, setup, session.backend


def naive_way(config: Path, jobs) -> tuple[dict, float, str]:
    """Losses per job, and the set-up time (model, weights, base mAP)."""
    from slimdet.config import load_config
    from slimdet.data import build_loader
    from slimdet.engine.evaluate import build_evaluator, run_inference
    from slimdet.slim.assemble import build_trained_model
    from slimdet.slim.pruner import TracedPruner
    from slimdet.slim.sensitivity_trials import FirstImages

    started = time.perf_counter()
    cfg = load_config(config)
    data = cfg.to_dict()
    loader = build_loader(data, "eval", workers=0)
    evaluator = build_evaluator(data, loader.dataset)
    model, _ = build_trained_model(data, cfg.weights)
    batches = FirstImages(loader, None)  # read and decoded again on every pass
    base = run_inference(model, batches, evaluator)["mAP"]
    setup = time.perf_counter() - started
    losses = {}
    for param, ratio in jobs:
        with TracedPruner(model, criterion="l1_norm").pruned({param: ratio}):  # a fresh trace every trial
            losses[param, ratio] = (base - run_inference(model, batches, evaluator)["mAP"]) / base
    return losses, setup, "dygraph"


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    from slimdet.commands.sensitivity import parse_ratios
    from slimdet.slim.sensitivity_trials import LEGACY_PARAMS, TrialSpec

    if args.quick:
        params, ratios = LEGACY_PARAMS[::7], (0.2, 0.5, 0.8)
    else:
        params, ratios = LEGACY_PARAMS[: args.params], parse_ratios(args.ratios)
    jobs = [(p, r) for p in params for r in ratios]
    with tempfile.TemporaryDirectory(prefix="slimdet-bench-") as tmp:
        config, _ = write_setup(Path(tmp), args.images, args.size)
        spec = TrialSpec(config=str(config), params=tuple(params), ratios=ratios, data_workers=0, backend=args.backend)
        print(f"{len(params)} convs × {len(ratios)} ratios = {len(jobs)} trials, {args.images} images, {args.size} px")
        timings, results, backends = {}, {}, {}
        for name, run in (("slimdet", lambda: slimdet_way(spec, jobs)), ("naive", lambda: naive_way(config, jobs))):
            started = time.perf_counter()
            results[name], setup, backends[name] = run()
            timings[name] = time.perf_counter() - started
            per_trial = (timings[name] - setup) / len(jobs)
            print(f"  {name:8s} {timings[name]:8.1f} s in all: set-up {setup:.1f} s, then {per_trial:.3f} s per trial")
    worst = max(abs(results["slimdet"][job] - results["naive"][job]) for job in jobs)
    allowed = TOLERANCE if backends["slimdet"] == "dygraph" else PRINTED
    print(f"max |Δloss| = {worst:.3g} (must be ≤ {allowed:g}: slimdet's trials ran {backends['slimdet']})")
    print(f"speed-up (whole run, set-up included): {timings['naive'] / timings['slimdet']:.2f}x")
    return 0 if worst <= allowed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
