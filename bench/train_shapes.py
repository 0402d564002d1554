"""Train the shapes demo configs on CPU and report what it costs: mAP, wall time, s/iter, peak RSS.

Each config (configs/shapes_yolov3_mobilenet_v1.yml, configs/shapes_yolov3_r34.yml) is trained by the
installed ``slimdet train --eval --json`` in its own process, on the synthetic shapes dataset written to
a temporary folder with ``slimdet data synth``'s defaults (1024 train / 128 test images of 160 px, seed 0).
The peak RSS is the child's own (``os.wait4``), so the two runs do not mix. "wall s" is the whole
command (start-up, data, training, evaluations), "eval s" the evaluations, "s/iter" the training steps.
The mAP targets of the demo (R34 teacher ≥ 0.70, MobileNetV1 student ≥ 0.60) are printed beside the result.

Cost: the full schedules take minutes to tens of minutes each on 2 cores. ``--max-iters N`` (and
``--snapshot-iter``) give a quick measurement of the per-iteration time without the full schedule.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {
    "shapes_yolov3_mobilenet_v1": (ROOT / "configs" / "shapes_yolov3_mobilenet_v1.yml", 0.60),
    "shapes_yolov3_r34": (ROOT / "configs" / "shapes_yolov3_r34.yml", 0.70),
}
SLIMDET = Path(sys.executable).with_name("slimdet")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", choices=sorted(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--max-iters", type=int, help="override max_iters (quick timing run)")
    parser.add_argument("--snapshot-iter", type=int, help="override snapshot_iter (evaluations)")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def train(config: Path, dataset: Path, out_dir: Path, args: argparse.Namespace) -> tuple[dict, float, float]:
    """(slimdet's JSON result, wall seconds, peak RSS in MiB) of one ``slimdet train`` child process."""
    overrides = [
        f"save_dir={out_dir}",
        *(f"{reader}.dataset.dataset_dir={dataset}" for reader in ("TrainReader", "EvalReader", "TestReader")),
        *([f"max_iters={args.max_iters}"] if args.max_iters else []),
        *([f"snapshot_iter={args.snapshot_iter}"] if args.snapshot_iter else []),
    ]
    command = [str(SLIMDET), "train", "-c", str(config), "--eval", "--json", "--seed", str(args.seed), "-o", *overrides]
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as stdout:
        child = subprocess.Popen(command, stdout=stdout)  # progress lines stay on our stderr
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{' '.join(command)} failed with exit code {os.waitstatus_to_exitcode(status)}")
        stdout.seek(0)
        result = json.load(stdout)
    return result, seconds, usage.ru_maxrss / 1024  # Linux reports KiB


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="slimdet-bench-") as tmp:
        dataset = Path(tmp) / "shapes"
        subprocess.run(
            [str(SLIMDET), "data", "synth", "--out", str(dataset), "--json"], check=True, stdout=subprocess.DEVNULL
        )
        rows = []
        for name in args.configs:
            config, target = CONFIGS[name]
            result, seconds, rss = train(config, dataset, Path(tmp) / "output", args)
            best = result["best"]["mAP"] if result["best"] else float("nan")
            rows.append(
                (
                    name,
                    result["iterations"],
                    best,
                    target,
                    seconds,
                    result["eval_seconds"],
                    result["seconds_per_iter"],
                    rss,
                )
            )
            evals = ", ".join(f"{e['iteration']}: {e['mAP']:.3f}" for e in result["evals"])
            print(f"{name}: mAP at each snapshot {evals}", flush=True)
    print(
        f"\n{'config':<28} {'iters':>6} {'best mAP':>9} {'target':>7} {'wall s':>8} {'eval s':>7} {'s/iter':>7} "
        f"{'peak RSS MiB':>13}"
    )
    for name, iters, best, target, seconds, eval_seconds, per_iter, rss in rows:
        print(
            f"{name:<28} {iters:>6} {best:>9.3f} {f'≥{target:.2f}':>7} {seconds:>8.1f} {eval_seconds:>7.1f} "
            f"{per_iter:>7.2f} {rss:>13.0f}"
        )
    print(f"\nthreads: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'all cores')}, cores: {os.cpu_count()}")


if __name__ == "__main__":
    main(sys.argv[1:])
