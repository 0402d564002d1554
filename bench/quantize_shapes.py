"""Does post-training int8 keep the accuracy and buy speed? Float vs int8 of the trained shapes models.

Models: (a) the unpruned YOLOv3-MobileNetV1, (b) r578 prune-only, (c) r578 distill-pruned, as trained by
bench/distill_prune_shapes.py (its ``--out`` layout; the script is run here when checkpoints are missing,
with ``--iters``/``--finetune-iters``) or given with ``--baseline``/``--pruned``/``--distilled``.

Each model is exported by slimdet (ONNX too) twice and quantized by ``slimdet quantize``'s core (same
calibration images, ``--calib-images`` from the TrainReader): at the config's eval size (128 px), where
``quantize`` scores float and int8 on the 128 test images per backend (Paddle Inference, ONNX Runtime); and
at ``--size`` (320 px), where all twelve graphs (3 models × 2 backends × float/int8) are timed at batch 1 on
one test image, taking turns run by run so that each sees the same machine load, at 1 and 2 threads.
The ONNX models are scored only with ``--score-onnx``: the ONNX graph paddle2onnx 1.2 writes for NMS fails
(float or int8 alike) on an image where exactly one box survives, which a trained pruned model meets.

Cost: with the checkpoints at hand, about 5 minutes on 2 idle cores. Training them small here
(``--iters 300 --finetune-iters 100``) adds about 25 minutes; the default schedules take more than an hour.
"""

from __future__ import annotations

import zlib  # noqa: F401  (before paddle: paddle 2.6.2 exports its own zlib symbols)

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from infer_latency import with_input_size  # bench/ is on sys.path when this script runs

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "shapes_yolov3_mobilenet_v1.yml"
READERS = ("TrainReader", "EvalReader", "TestReader")
MODELS = ("unpruned", "r578", "r578+distill")
LAYOUT = {"unpruned": "baselines", "r578": "r578", "r578+distill": "r578_distill"}  # distill_prune_shapes.py's
MIB = 1024 * 1024


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "output" / "bench_quantize", help="exports and results")
    parser.add_argument("--train-out", type=Path, help="distill_prune_shapes.py --out (default: --out/train)")
    parser.add_argument("--baseline", help="trained shapes MobileNetV1 checkpoint (a)")
    parser.add_argument("--pruned", help="r578 prune-only checkpoint (b)")
    parser.add_argument("--distilled", help="r578 distill-pruned checkpoint (c)")
    parser.add_argument("--iters", type=int, help="baseline iterations when trained here (default: the configs')")
    parser.add_argument("--finetune-iters", type=int, default=300, help="(b) and (c) iterations when trained here")
    parser.add_argument("--calib-images", type=int, default=32)
    parser.add_argument("--algo", default="hist")
    parser.add_argument("--size", type=int, default=320, help="input size of the latency runs")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument(
        "--score-onnx",
        action="store_true",
        help="also score the ONNX models (paddle2onnx's NMS fails on an image where one box survives)",
    )
    return parser.parse_args(argv)


def checkpoints(args: argparse.Namespace, train_out: Path) -> dict[str, str]:
    """The three checkpoints: given, left by an earlier run of distill_prune_shapes.py, or trained now."""
    given = {"unpruned": args.baseline, "r578": args.pruned, "r578+distill": args.distilled}
    found = {name: given[name] or str(train_out / LAYOUT[name] / CONFIG.stem / "model_final") for name in MODELS}
    if any(not Path(path).with_suffix(".pdparams").is_file() for path in found.values()):
        command = [sys.executable, str(ROOT / "bench" / "distill_prune_shapes.py"), "--out", str(train_out),
                   "--finetune-iters", str(args.finetune_iters), *(["--iters", str(args.iters)] if args.iters else [])]  # fmt: skip
        if args.baseline:
            command += ["--student", args.baseline]
        subprocess.run(command, check=True)
    return found


def export_and_quantize(name: str, weights: str, size: int, overrides: list[str], args: argparse.Namespace, *,
                        measure: bool):  # fmt: skip
    """Export ``weights`` at ``size`` px (with ONNX) into --out and quantize it: (float dir, int8 dir, the
    QuantizeResult when ``measure``, which scores both on the test images; else only the int8 folder)."""
    from slimdet.commands.quantize import quantize_export
    from slimdet.config import load_config
    from slimdet.data import build_dataset
    from slimdet.deploy.calibration import calibration_feeds, calibration_images
    from slimdet.deploy.export import export_model
    from slimdet.deploy.infer_cfg import InferConfig
    from slimdet.deploy.quantize import write_int8
    from slimdet.slim.assemble import build_trained_model

    cfg = load_config(CONFIG, overrides).to_dict()
    model, plan = build_trained_model(cfg, weights)
    float_dir, int8_dir = args.out / f"{name}_{size}", args.out / f"{name}_{size}_int8"
    labels = build_dataset(cfg, "eval").class_names
    export_model(model, with_input_size(cfg, size), plan, float_dir, label_list=labels, onnx=True)
    if measure:
        result = quantize_export(float_dir, CONFIG, overrides, output_dir=int8_dir, calib_images=args.calib_images,
                                 algo=args.algo, onnx=args.score_onnx, force=True)  # fmt: skip
        return float_dir, int8_dir, result
    infer_cfg = InferConfig.read(float_dir)
    feeds = calibration_feeds(calibration_images(cfg, args.calib_images), infer_cfg)
    write_int8(float_dir, infer_cfg, int8_dir, feeds, args.algo, onnx=True)
    return float_dir, int8_dir, None


def time_all(folders: dict[str, tuple[Path, Path]], size: int, threads: int, args: argparse.Namespace) -> dict:
    """Median batch-1 ms of every (model, backend, precision), all taking turns on one real test image."""
    from slimdet.deploy.infer_cfg import InferConfig
    from slimdet.deploy.latency import median_latency_ms
    from slimdet.deploy.predictor import ONNX_FILE, OnnxPredictor, PaddlePredictor
    from slimdet.deploy.preprocess import Preprocessor

    keys, detectors = [], []
    for name, (float_dir, int8_dir) in folders.items():
        for backend in ("paddle_inference", "onnxruntime"):
            for precision, folder in (("float32", float_dir), ("int8", int8_dir)):
                keys.append((name, backend, precision))
                detectors.append(
                    OnnxPredictor(folder / ONNX_FILE, threads=threads) if backend == "onnxruntime"
                    else PaddlePredictor(folder, threads=threads, int8=precision == "int8")
                )  # fmt: skip
    first_float = next(iter(folders.values()))[0]
    preprocessor = Preprocessor(InferConfig.read(first_float).preprocess)
    for image in sorted((args.dataset / "JPEGImages").glob("test_*.jpg")):  # the first one every graph runs
        _, batch, im_size = preprocessor.prepare(image)
        try:
            for detector in detectors:
                detector(batch, im_size)
            break
        except Exception as err:
            print(f"# {image.name} skipped for timing: {' '.join(str(err).split())[:120]}", file=sys.stderr)
    assert batch.shape[-1] == size
    latencies = median_latency_ms(detectors, batch, im_size, warmup=args.warmup, repeats=args.repeats)
    return dict(zip(keys, latencies))


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    args.out = args.out.resolve()
    train_out = (args.train_out or args.out / "train").resolve()
    weights = checkpoints(args, train_out)
    args.dataset = train_out / "shapes"
    overrides = [f"{reader}.dataset.dataset_dir={args.dataset}" for reader in READERS]
    from slimdet.config import load_config
    from slimdet.config.sizes import eval_input_size

    eval_size = eval_input_size(load_config(CONFIG, overrides).to_dict())
    scored, timed = {}, {}
    for name in MODELS:
        print(f"# {name}: export and quantize at {eval_size} and {args.size} px", file=sys.stderr, flush=True)
        scored[name] = export_and_quantize(name, weights[name], eval_size, overrides, args, measure=True)[2]
        timed[name] = export_and_quantize(name, weights[name], args.size, overrides, args, measure=False)[:2]
    latency = {threads: time_all(timed, args.size, threads, args) for threads in args.threads}

    print(f"\n# accuracy and size: {scored[MODELS[0]].metric} on {scored[MODELS[0]].eval_images} test images at "
          f"{eval_size} px, calibration: {args.calib_images} training images, {args.algo}")  # fmt: skip
    print(
        f"{'model':<13} {'engine':<17} {'float mAP':>9} {'int8 mAP':>9} {'Δ points':>9} {'float MiB':>10} {'int8 MiB':>9}"
    )
    for name in MODELS:
        for float_row, int8 in scored[name].pairs():
            print(f"{name:<13} {int8.backend:<17} {100 * float_row.mean_ap:>9.1f} {100 * int8.mean_ap:>9.1f} "
                  f"{100 * (int8.mean_ap - float_row.mean_ap):>+9.1f} {float_row.size_bytes / MIB:>10.2f} "
                  f"{int8.size_bytes / MIB:>9.2f}")  # fmt: skip
    print(f"\n# batch-1 latency at {args.size} px (median of {args.repeats}, all graphs taking turns)")
    print(
        f"{'model':<13} {'engine':<17} {'threads':>7} {'float ms':>9} {'int8 ms':>8} {'int8/float':>10} {'int8/unpruned float':>19}"
    )
    for threads, times in latency.items():
        for name in MODELS:
            for backend in ("paddle_inference", "onnxruntime"):
                fp, q = times[(name, backend, "float32")], times[(name, backend, "int8")]
                base = times[(MODELS[0], backend, "float32")]
                print(f"{name:<13} {backend:<17} {threads:>7} {fp:>9.1f} {q:>8.1f} {q / fp:>10.2f} {q / base:>19.2f}")

    distilled = {int8.backend: 100 * (int8.mean_ap - fp.mean_ap) for fp, int8 in scored["r578+distill"].pairs()}
    best_ratio = min(t[(n, e, "int8")] / t[(n, e, "float32")] for t in latency.values() for n in MODELS
                     for e in ("paddle_inference", "onnxruntime"))  # fmt: skip
    fastest_unpruned = {th: min(t[("unpruned", e, "float32")] for e in ("paddle_inference", "onnxruntime"))
                        for th, t in latency.items()}  # fmt: skip
    r578_int8 = {th: min(t[("r578+distill", e, "int8")] for e in ("paddle_inference", "onnxruntime"))
                 for th, t in latency.items()}  # fmt: skip
    print("\n# goals")
    print("int8 mAP - float mAP on r578+distill (goal within 1.0 point): "
          + ", ".join(f"{backend} {diff:+.1f}" for backend, diff in distilled.items()))  # fmt: skip
    print(f"best int8/float latency at {args.size} px (goal ≤ 0.70 on one backend): {best_ratio:.2f}")
    print("fastest r578+distill int8 / fastest unpruned float (goal ≤ 0.25): "
          + ", ".join(f"{th} thread(s) {r578_int8[th] / fastest_unpruned[th]:.2f}" for th in latency))  # fmt: skip
    print(f"checkpoints: {json.dumps(weights)}\ncores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}")
    record = {
        "scored": {name: result.to_dict() for name, result in scored.items()},
        "latency_ms": {str(th): {"/".join(k): v for k, v in t.items()} for th, t in latency.items()},
    }
    (args.out / "quantize_shapes.json").write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
