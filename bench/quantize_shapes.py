"""Does int8 keep the accuracy and buy speed? Float vs post-training vs quantization-aware int8 of the shapes models.

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

Quantization-aware training (QAT, skipped with ``--qat-iters 0``): each model is fine-tuned from its checkpoint
by ``slimdet train --quant-aware`` for ``--qat-iters`` iterations at the config's learning rate (0.001 after a
50-step warm-up, the schedule of the r578 fine-tunes), and r578 distill-pruned also with ``-t`` from the R34
teacher distill_prune_shapes.py trained (QAT + distillation, ``--distill-weight``). Each QAT checkpoint is
exported as ``slimdet export`` does (its int8 model, Paddle Inference only) at both sizes: scored on the same
test images as the PTQ models, its size on disk counted the same way, and timed among the other graphs. The
models are under-trained, so any fine-tuning moves their mAP: the float control (``--no-float-control`` skips
it) resumes each checkpoint for the same ``--qat-iters`` iterations in float (``slimdet train --resume``, the
schedule it was trained with) and is scored float and PTQ int8. QAT's int8 against the float checkpoint is the
issue's comparison; against the control it says what QAT gives beyond more training.

Results: printed, and written to ``--results`` (default bench/results/quantize_shapes.json) and --out.

Cost: with the checkpoints at hand, about 5 minutes on 2 idle cores, plus the QAT stage (four QAT runs and
three float controls of ``--qat-iters``): about 13 minutes at ``--qat-iters 100`` with ``OMP_NUM_THREADS=1`` on a
shared 2-core machine. Training them small here (``--iters 300 --finetune-iters 100``) adds about 25 minutes;
the default schedules take more than an hour. A finished QAT or control run is reused.
"""

from __future__ import annotations

import zlib  # noqa: F401  (before paddle: paddle 2.6.2 exports its own zlib symbols)

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from distill_prune_shapes import TEACHER_CONFIG, slimdet  # bench/ is on sys.path when this script runs
from infer_latency import with_input_size

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "shapes_yolov3_mobilenet_v1.yml"
READERS = ("TrainReader", "EvalReader", "TestReader")
MODELS = ("unpruned", "r578", "r578+distill")
LAYOUT = {"unpruned": "baselines", "r578": "r578", "r578+distill": "r578_distill"}  # distill_prune_shapes.py's
MIB = 1024 * 1024
PADDLE = "paddle_inference"
QAT_VARIANTS = ("qat", "qat+distill")  # the second on r578+distill only


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "output" / "bench_quantize", help="exports and results")
    parser.add_argument("--train-out", type=Path, help="distill_prune_shapes.py --out (default: --out/train)")
    parser.add_argument("--baseline", help="trained shapes MobileNetV1 checkpoint (a)")
    parser.add_argument("--pruned", help="r578 prune-only checkpoint (b)")
    parser.add_argument("--distilled", help="r578 distill-pruned checkpoint (c)")
    parser.add_argument("--iters", type=int, help="baseline iterations when trained here (default: the configs')")
    parser.add_argument("--finetune-iters", type=int, default=300, help="(b) and (c) iterations when trained here")
    parser.add_argument("--teacher", help="trained R34 checkpoint for QAT + distillation")
    parser.add_argument("--qat-iters", type=int, default=300, help="QAT iterations (0: none), the control's too")
    parser.add_argument("--distill-weight", type=float, default=1000.0, help="QAT + distillation (distill-prune's)")
    parser.add_argument("--not-quant-pattern", default="yolo_output", help="train --not_quant_pattern")
    parser.add_argument("--no-float-control", dest="float_control", action="store_false",
                        help="skip the float checkpoints trained --qat-iters more iterations")  # fmt: skip
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results" / "quantize_shapes.json")
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
    from slimdet.commands.quantize import QuantizeRequest, quantize_export
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
        request = QuantizeRequest.from_flags(float_dir, CONFIG, overrides, output_dir=int8_dir, force=True,
                                             calib_images=args.calib_images, algo=args.algo, onnx=args.score_onnx)  # fmt: skip
        result = quantize_export(request)
        return float_dir, int8_dir, result
    infer_cfg = InferConfig.read(float_dir)
    feeds = calibration_feeds(calibration_images(cfg, args.calib_images), infer_cfg)
    write_int8(float_dir, infer_cfg, int8_dir, feeds, args.algo, onnx=True)
    return float_dir, int8_dir, None


def trained_for(final: Path, iterations: int) -> bool:
    """Whether ``final`` is a finished checkpoint of ``iterations`` iterations (its state file says so)."""
    state = final.with_suffix(".state.json")
    return state.is_file() and json.loads(state.read_text()).get("iteration") == iterations


def quant_aware(name: str, variant: str, weights: str, teacher: str | None, overrides: list[str],
                args: argparse.Namespace) -> str:  # fmt: skip
    """The QAT checkpoint of ``weights`` (``slimdet train --quant-aware``, distilled from ``teacher`` when
    given): an earlier run's of --qat-iters iterations, else trained now into --out/<variant>/<name>."""
    save_dir = args.out / variant / name
    final = save_dir / CONFIG.stem / "model_final"
    if not trained_for(final, args.qat_iters):
        print(f"# {name}: {variant} {args.qat_iters} iterations", file=sys.stderr, flush=True)
        distill = ["-t", str(TEACHER_CONFIG), "--teacher_pretrained", teacher, "--distill-weight",
                   str(args.distill_weight)] if teacher else []  # fmt: skip
        slimdet("train", "--quant-aware", "-c", str(CONFIG), "--not_quant_pattern", args.not_quant_pattern, *distill,
                "--seed", "0", "-o", f"pretrain_weights={weights}", f"save_dir={save_dir}",
                f"max_iters={args.qat_iters}", f"snapshot_iter={args.qat_iters}", *overrides)  # fmt: skip
    return str(final)


def float_control(name: str, weights: str, overrides: list[str], args: argparse.Namespace) -> str:
    """``weights`` trained --qat-iters more iterations in float: its own run resumed (schedule, optimizer,
    seed) into --out/float/<name>, so that QAT can be told apart from more training."""
    save_dir = args.out / "float" / name
    final = save_dir / CONFIG.stem / "model_final"
    end = json.loads(Path(weights).with_suffix(".state.json").read_text())["iteration"] + args.qat_iters
    if not trained_for(final, end):
        print(f"# {name}: float control, resumed to iteration {end}", file=sys.stderr, flush=True)
        slimdet("train", "-c", str(CONFIG), "-r", weights, "-o", f"save_dir={save_dir}", f"max_iters={end}",
                f"snapshot_iter={end}", *overrides)  # fmt: skip
    return str(final)


def export_quant_aware(name: str, weights: str, size: int, overrides: list[str], args: argparse.Namespace) -> Path:
    """``slimdet export`` of the QAT checkpoint ``weights`` at ``size`` px: its int8 folder (Paddle Inference)."""
    from slimdet.config import load_config
    from slimdet.data.labels import class_names_for_model
    from slimdet.deploy.export import export_model
    from slimdet.slim.assemble import build_trained_model

    cfg = load_config(CONFIG, overrides).to_dict()
    model, plan = build_trained_model(cfg, weights)  # the .quant.json sidecar: wrapped in fake-quant layers
    result = export_model(model, with_input_size(cfg, size), plan, args.out / f"{name}_{size}",
                          label_list=class_names_for_model(cfg, "eval", weights))  # fmt: skip
    assert result.precision == "int8", result.precision
    return Path(result.out_dir)


def score_int8(folder: Path, overrides: list[str]) -> dict:
    """mAP of an int8 folder on the test images through Paddle Inference (as ``quantize`` scores its int8
    model) and the bytes Paddle Inference loads."""
    from slimdet.config import load_config
    from slimdet.data import build_dataset
    from slimdet.deploy.evaluate import score_detector
    from slimdet.deploy.infer_cfg import InferConfig
    from slimdet.deploy.predictor import MODEL_FILE, PARAMS_FILE, PaddlePredictor
    from slimdet.engine.evaluate import build_evaluator
    from slimdet.runtime import cpu_threads

    data = load_config(CONFIG, overrides).to_dict()
    dataset = build_dataset(data, "eval")
    detector = PaddlePredictor(folder, threads=cpu_threads(), int8=True)
    summary = score_detector(detector, InferConfig.read(folder), dataset, build_evaluator(data, dataset))
    size = sum((folder / file).stat().st_size for file in (MODEL_FILE, PARAMS_FILE))
    return {"backend": PADDLE, "precision": "int8", "mAP": float(summary.metrics["mAP"]), "size_bytes": size,
            "model_dir": str(folder)}  # fmt: skip


def time_all(folders: dict[str, tuple[Path, Path]], quant_aware_dirs: dict[tuple[str, str], Path], size: int,
             threads: int, args: argparse.Namespace) -> dict:  # fmt: skip
    """Median batch-1 ms of every (model, backend, precision), all taking turns on one real test image; the QAT
    int8 folders (``quant_aware_dirs``, by (model, variant)) on Paddle Inference among them, keyed (model,
    paddle_inference, variant)."""
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
    for (name, variant), folder in quant_aware_dirs.items():
        keys.append((name, PADDLE, variant))
        detectors.append(PaddlePredictor(folder, threads=threads, int8=True))
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


def paddle_rows(result) -> tuple:
    """(float, int8) EngineRows of Paddle Inference in a QuantizeResult."""
    return next(pair for pair in result.pairs() if pair[1].backend == PADDLE)


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    args.out = args.out.resolve()
    train_out = (args.train_out or args.out / "train").resolve()
    weights = checkpoints(args, train_out)
    teacher = args.teacher or str(train_out / "baselines" / TEACHER_CONFIG.stem / "model_final")
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
    qat, qat_dirs, controls = {}, {}, {}
    variants = {name: QAT_VARIANTS if name == "r578+distill" else QAT_VARIANTS[:1] for name in MODELS}
    for name in MODELS if args.qat_iters else ():
        for variant in variants[name]:
            checkpoint = quant_aware(name, variant, weights[name], teacher if variant == "qat+distill" else None,
                                     overrides, args)  # fmt: skip
            print(f"# {name}: export {variant} at {eval_size} and {args.size} px", file=sys.stderr, flush=True)
            folder = export_quant_aware(f"{name}_{variant}", checkpoint, eval_size, overrides, args)
            qat[(name, variant)] = {**score_int8(folder, overrides), "checkpoint": checkpoint}
            qat_dirs[(name, variant)] = export_quant_aware(f"{name}_{variant}", checkpoint, args.size, overrides, args)
    for name in MODELS if args.qat_iters and args.float_control else ():
        control = float_control(name, weights[name], overrides, args)
        print(f"# {name}: float control, export and quantize at {eval_size} px", file=sys.stderr, flush=True)
        controls[name] = export_and_quantize(f"{name}_float+{args.qat_iters}", control, eval_size, overrides, args,
                                             measure=True)[2]  # fmt: skip
    load_before = os.getloadavg()[0]
    latency = {threads: time_all(timed, qat_dirs, args.size, threads, args) for threads in args.threads}
    load_after = os.getloadavg()[0]

    print(f"\n# accuracy and size: {scored[MODELS[0]].metric} on {scored[MODELS[0]].eval_images} test images at "
          f"{eval_size} px, calibration: {args.calib_images} training images, {args.algo}")  # fmt: skip
    print(
        f"{'model':<13} {'backend':<17} {'float mAP':>9} {'int8 mAP':>9} {'Δ points':>9} {'float MiB':>10} {'int8 MiB':>9}"
    )
    for name in MODELS:
        for float_row, int8 in scored[name].pairs():
            print(f"{name:<13} {int8.backend:<17} {100 * float_row.mean_ap:>9.1f} {100 * int8.mean_ap:>9.1f} "
                  f"{100 * (int8.mean_ap - float_row.mean_ap):>+9.1f} {float_row.size_bytes / MIB:>10.2f} "
                  f"{int8.size_bytes / MIB:>9.2f}")  # fmt: skip
    if qat:
        print(f"\n# Paddle Inference mAP at {eval_size} px: float / PTQ int8 / QAT int8 ({args.qat_iters} iterations"
              f"{'' if not controls else f'; float +{args.qat_iters}: the checkpoint resumed as long in float'})")  # fmt: skip
        print(f"{'model':<13} {'variant':<12} {'float':>6} {'PTQ':>6} {'QAT':>6} {'QAT-PTQ':>8} {'QAT MiB':>8}"
              f" {'float+':>7} {'its PTQ':>8}")  # fmt: skip
        for (name, variant), row in qat.items():
            fp, ptq = paddle_rows(scored[name])
            more = paddle_rows(controls[name]) if name in controls else None
            extra = f" {100 * more[0].mean_ap:>7.1f} {100 * more[1].mean_ap:>8.1f}" if more else ""
            print(f"{name:<13} {variant:<12} {100 * fp.mean_ap:>6.1f} {100 * ptq.mean_ap:>6.1f} {100 * row['mAP']:>6.1f} "
                  f"{100 * (row['mAP'] - ptq.mean_ap):>+8.1f} {row['size_bytes'] / MIB:>8.2f}{extra}")  # fmt: skip
    print(f"\n# batch-1 latency at {args.size} px (median of {args.repeats}, all graphs taking turns)")
    print(
        f"{'model':<13} {'backend':<17} {'threads':>7} {'float ms':>9} {'int8 ms':>8} {'int8/float':>10} {'int8/unpruned float':>19}"
    )
    for threads, times in latency.items():
        for name in MODELS:
            for backend in ("paddle_inference", "onnxruntime"):
                fp, q = times[(name, backend, "float32")], times[(name, backend, "int8")]
                base = times[(MODELS[0], backend, "float32")]
                print(f"{name:<13} {backend:<17} {threads:>7} {fp:>9.1f} {q:>8.1f} {q / fp:>10.2f} {q / base:>19.2f}")
            for variant in variants[name] if qat else ():
                q, ptq = times[(name, PADDLE, variant)], times[(name, PADDLE, "int8")]
                print(f"{name:<13} {PADDLE + ' ' + variant:<17} {threads:>7} {'':>9} {q:>8.1f} {'':>10} "
                      f"{q / times[(MODELS[0], PADDLE, 'float32')]:>19.2f}  ({q / ptq:.2f}× PTQ)")  # fmt: skip

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
    goals = {}
    if qat:
        gaps = {f"{n}/{v}": 100 * (row["mAP"] - paddle_rows(scored[n])[0].mean_ap) for (n, v), row in qat.items()}
        gaps_more = {f"{n}/{v}": 100 * (row["mAP"] - paddle_rows(controls[n])[0].mean_ap)
                     for (n, v), row in qat.items() if n in controls}  # fmt: skip
        vs_ptq = {f"{n}/{v}": 100 * (row["mAP"] - paddle_rows(scored[n])[1].mean_ap) for (n, v), row in qat.items()}
        speed = {f"{n}/{v}/{th}": t[(n, PADDLE, v)] / t[(n, PADDLE, "int8")] for (n, v) in qat
                 for th, t in latency.items()}  # fmt: skip
        r578_qat = {f"{n}/{v}/{th}": t[(n, PADDLE, v)] / fastest_unpruned[th] for (n, v) in qat if n != "unpruned"
                    for th, t in latency.items()}  # fmt: skip
        goals = {"qat_minus_float_points": gaps, "qat_minus_float_plus_iters_points": gaps_more,
                 "qat_minus_ptq_points": vs_ptq, "qat_over_ptq_latency": speed,
                 "qat_over_fastest_unpruned_float_latency": r578_qat}  # fmt: skip

        def listed(values: dict, fmt: str) -> str:
            return ", ".join(f"{key} {value:{fmt}}" for key, value in values.items())

        print(f"QAT int8 - float checkpoint, Paddle Inference (goal ≥ -0.3 on r578+distill): {listed(gaps, '+.1f')}")
        if gaps_more:
            print(f"QAT int8 - float +{args.qat_iters} iterations: {listed(gaps_more, '+.1f')}")
        print(f"QAT int8 - PTQ int8 (goal ≥ 0 on every model): {listed(vs_ptq, '+.1f')}")
        print(f"QAT int8 ms / PTQ int8 ms, Paddle Inference (goal ≤ 1): {listed(speed, '.2f')}")
        print(f"r578 QAT int8 / fastest unpruned float (goal ≤ 0.25): {listed(r578_qat, '.2f')}")
    print(f"checkpoints: {json.dumps(weights)}\ncores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}")
    settings = dict(
        iters=args.iters, finetune_iters=args.finetune_iters, qat_iters=args.qat_iters,
        distill_weight=args.distill_weight, not_quant_pattern=args.not_quant_pattern, calib_images=args.calib_images,
        algo=args.algo, size=args.size, eval_size=eval_size, warmup=args.warmup, repeats=args.repeats,
        cores=os.cpu_count(), omp_num_threads=os.environ.get("OMP_NUM_THREADS"),
        load_average_around_timing=[round(load_before, 2), round(load_after, 2)], checkpoints=weights, teacher=teacher,
    )  # fmt: skip
    record = {
        "scored": {name: result.to_dict() for name, result in scored.items()},
        "latency_ms": {str(th): {"/".join(k): v for k, v in t.items()} for th, t in latency.items()},
        "qat": {f"{name}/{variant}": row for (name, variant), row in qat.items()},
        "float_control": {name: result.to_dict() for name, result in controls.items()},
        "goals": goals,
        "settings": settings,
    }
    text = json.dumps(record, indent=2)
    (args.out / "quantize_shapes.json").write_text(text)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(text + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
