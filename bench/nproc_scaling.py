"""Does splitting the batch over processes pay, and does it change the model? (``--nproc`` 1 vs 2 vs 4)

A CPU run can split its batch over single-threaded processes (``--nproc N`` with ``TrainReader.batch_size``
divided by N, which is what ``--nproc auto`` did by default) or keep one process that uses every core. Each
process then normalises its batch-norm layers over its own share of the batch. Two questions, answered on the
demo's student (YOLOv3-MobileNetV1 on the shapes set, global batch ``--batch``):

1. speed: seconds per training step at each ``--sizes`` input side, for each ``--procs`` count, over the second
   half of a short run (warm-up and the processes' start-up not counted), and the loss of each of its steps;
2. the model: with the same global batch and schedule (``--quality-iters`` at ``--quality-size``), the loss curve
   and the mAP after the schedule, for each process count and ``--seeds`` seeds.

``--procs 4`` on a 2-core machine stands in for a larger machine's split (four processes of two images each):
its model counts, its time does not. Run on an idle machine: the timings are wall-clock. Results go to
``--results`` (JSON; timings by size, so that ``--sizes 96 --skip-quality`` re-measures one size and keeps
the others) and a table is printed. ``--sizes 96 --speed-steps 4 --procs 1 2 --seeds 1
--quality-iters 4 --num-train 16 --num-test 8 --out /tmp/n --results /tmp/n/r.json`` is a smoke run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from slimdet._files import write_text_atomic
from slimdet.commands.demo_configs import FULL, STUDENT_BASE, demo_config, shipped_configs

ROOT = Path(__file__).resolve().parents[1]
SLIMDET = Path(sys.executable).with_name("slimdet")
WINDOW = re.compile(r"^iter (\d+)/\d+ .* ([0-9.]+) s/iter", re.MULTILINE)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "output" / "nproc_scaling", help="data, configs, runs")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results" / "nproc_scaling.json")
    parser.add_argument("--batch", type=int, default=8, help="the global batch, split evenly over the processes")
    parser.add_argument("--procs", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--sizes", type=int, nargs="+", default=[96, 160, 320, 608])
    parser.add_argument("--speed-steps", type=int, default=0, help="steps per timing run (0: by size, 32 to 8)")
    parser.add_argument("--quality-size", type=int, default=96)
    parser.add_argument("--quality-iters", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--num-train", type=int, default=FULL.num_train)
    parser.add_argument("--num-test", type=int, default=256)
    parser.add_argument("--skip-speed", action="store_true", help="only the model comparison")
    parser.add_argument("--skip-quality", action="store_true", help="only the timings")
    return parser.parse_args(argv)


def slimdet(*args: str, log: Path) -> dict:
    """One ``slimdet … --json`` child; its stderr (the training log) goes to ``log``."""
    with open(log, "w") as stderr:
        child = subprocess.run([str(SLIMDET), *args, "--json"], stdout=subprocess.PIPE, stderr=stderr, text=True,
                               env={**os.environ, "SLIMDET_NPROC": "1"})  # fmt: skip
    if child.returncode != 0:
        raise SystemExit(f"failed ({child.returncode}): slimdet {' '.join(args)}; see {log}")
    return json.loads(child.stdout)


def config(args: argparse.Namespace, data: Path, size: int, name: str, iters: int) -> Path:
    demo = replace(FULL, input_size=size, batch_size=args.batch)
    text = demo_config(shipped_configs() / STUDENT_BASE, demo, dataset=data, save_dir=args.out / "runs",
                       name=name, iters=iters)  # fmt: skip
    path = args.out / "configs" / f"{name}.yml"
    write_text_atomic(path, text)
    return path


def train(
    args: argparse.Namespace, cfg: Path, name: str, procs: int, seed: int, *overrides: str, evaluate: bool = False
) -> tuple[dict, str]:
    """A training in ``procs`` processes with the global batch split evenly; its JSON and its log."""
    log = args.out / "logs" / f"{name}.stderr"
    flags = ["--nproc", str(procs), "--seed", str(seed), *(["--eval"] if evaluate else [])]
    overrides = (f"TrainReader.batch_size={args.batch // procs}", *overrides)
    result = slimdet("train", "-c", str(cfg), *flags, "-o", *overrides, log=log)
    return result, log.read_text()


def speed_steps(args: argparse.Namespace, size: int) -> int:
    return args.speed_steps or max(8, int(32 * (96 / size) ** 2) // 2 * 2)


def steady_seconds(log: str) -> float:
    """Seconds per step over the second half of a run: the log's ``s/iter`` is the mean since the first step
    (warm-up included), logged every step, so two of its lines give the later steps' own mean."""
    points = [(int(step), float(mean)) for step, mean in WINDOW.findall(log)]
    (first, first_mean), (last, last_mean) = points[len(points) // 2 - 1], points[-1]
    return (last * last_mean - first * first_mean) / (last - first)


def measure_speed(args: argparse.Namespace, data: Path) -> dict:
    """By size and process count: seconds per step (the run's second half) and the loss of every step."""
    timings: dict[str, dict[str, dict]] = {}
    for size in args.sizes:
        steps = speed_steps(args, size)
        cfg = config(args, data, size, f"speed_{size}", steps)
        for procs in args.procs:
            name = f"speed_{size}_n{procs}"
            result, log = train(args, cfg, name, procs, 0, "log_iter=1", f"snapshot_iter={steps}")
            seconds = round(steady_seconds(log), 3)
            losses = [round(loss, 4) for _, loss in result["loss_history"]]
            timings.setdefault(str(size), {})[str(procs)] = {"seconds_per_step": seconds, "losses": losses}
            print(f"{size} px, {procs} process(es): {seconds} s/step", file=sys.stderr, flush=True)
    return timings


def measure_quality(args: argparse.Namespace, data: Path) -> dict:
    """Per process count: each seed's mAP after the schedule and its loss curve (mean loss per window)."""
    iters = args.quality_iters
    cfg = config(args, data, args.quality_size, "quality", iters)
    arms: dict[str, dict] = {}
    for procs in args.procs:
        maps, curves = [], []
        for seed in range(args.seeds):
            name = f"quality_n{procs}_s{seed}"
            result, _ = train(args, cfg, name, procs, seed, f"log_iter={max(1, iters // 12)}", f"snapshot_iter={iters}",
                              f"save_dir={args.out / 'runs' / name}", evaluate=True)  # fmt: skip
            maps.append(result["evals"][-1]["mAP"])
            curves.append([[it, round(loss, 4)] for it, loss in result["loss_history"]])
            print(f"{procs} process(es), seed {seed}: mAP {maps[-1]:.4f}", file=sys.stderr, flush=True)
        arms[str(procs)] = {"per_process_batch": args.batch // procs, "maps": maps, "loss_curves": curves}
    return arms


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    args.out = args.out.resolve()
    for folder in ("configs", "logs", "runs"):
        (args.out / folder).mkdir(parents=True, exist_ok=True)
    data = args.out / "shapes"
    if not (data / "trainval.txt").is_file():
        slimdet("data", "synth", "--out", str(data), "--num-train", str(args.num_train), "--num-test",
                str(args.num_test), "--size", str(FULL.image_size), log=args.out / "logs" / "data.stderr")  # fmt: skip
    results = json.loads(args.results.read_text()) if args.results.is_file() else {}
    results.update({"batch": args.batch, "cores": os.cpu_count(), "procs": args.procs})
    if not args.skip_speed:
        results.setdefault("seconds_per_step", {}).update(measure_speed(args, data))  # by size: a re-run adds
        write_text_atomic(args.results, json.dumps(results, indent=1) + "\n")
    if not args.skip_quality:
        results["quality"] = {"input_size": args.quality_size, "iterations": args.quality_iters,
                              "images": {"train": args.num_train, "test": args.num_test}, "arms": measure_quality(args, data)}  # fmt: skip
        write_text_atomic(args.results, json.dumps(results, indent=1) + "\n")
    print_tables(results)


def print_tables(results: dict) -> None:
    if "seconds_per_step" in results:
        print("| input px | " + " | ".join(f"{p} proc s/step (× 1 proc)" for p in results["procs"]) + " |")
        print("|---" * (len(results["procs"]) + 1) + "|")
        for size, by_procs in results["seconds_per_step"].items():
            one = by_procs["1"]["seconds_per_step"] if "1" in by_procs else None
            times = [run["seconds_per_step"] for run in by_procs.values()]
            print(f"| {size} | " + " | ".join(f"{s:.2f}" + (f" ({s / one:.2f}×)" if one else "") for s in times) + " |")
    if "quality" in results:
        quality = results["quality"]
        print(f"\nmAP after {quality['iterations']} iterations at {quality['input_size']} px")
        print("| processes × images | mAP % mean ± sd | per seed | final loss mean |\n|---|---|---|---|")
        for procs, arm in quality["arms"].items():
            maps = [100 * m for m in arm["maps"]]
            spread = statistics.stdev(maps) if len(maps) > 1 else 0.0
            final = statistics.fmean(curve[-1][1] for curve in arm["loss_curves"])
            print(f"| {procs} × {arm['per_process_batch']} | {statistics.fmean(maps):.2f} ± {spread:.2f} | "
                  f"{' '.join(f'{m:.2f}' for m in maps)} | {final:.3f} |")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:])
