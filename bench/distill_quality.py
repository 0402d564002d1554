"""Does distillation win? Prune-only vs distill-pruned over several seeds, from a plateaued baseline.

The protocol (all on the synthetic shapes set, or its nine-class variant with ``--hard-data``, every step an
installed ``slimdet`` child process):

1. a teacher, YOLOv3-ResNet34, trained long enough to be clearly stronger than the student;
2. a baseline student, YOLOv3-MobileNetV1, trained to a plateau (its mAP curve, one evaluation every
   ``--eval-every`` iterations, is kept), so that a pruned model cannot win by extra iterations alone; its
   learning-rate schedule ends ``--baseline-tail`` iterations early and it goes on at the final rate, so that
   its last 20% hold no decay and show whether it has levelled off;
3. two pruning plans: ``r578`` (the legacy model zoo's, −69.57% FLOPs at 608 px) and ``sens50``, the
   ratios ``slimdet sensitivity ratios --target-flops 0.5`` derives from the baseline's sensitivities;
4. for each plan and seed (the seed drives the fine-tuning's data order and augmentation): prune-only
   (``slimdet train --pruned_params …``) and distill-pruned (``slimdet distill-prune``), from the same
   baseline with the same plan and the same iterations; each scored by ``slimdet eval``;
5. optional levers (``--lever NAME="--distill-… flags"``): more distill-pruned runs with other flags, kept
   under ``levers`` in the results, so each lever's effect is measured against the same prune-only runs.

Everything is resumable: each finished child's JSON is kept under ``--out/logs`` and a re-run skips it.
Results go to ``--results`` (JSON, written after every run) and a table is printed at the end.

The prune-only fine-tunes run beside the teacher's training, as they need only the baseline. Cost on 2 cores
at the defaults (96 px, one thread per child, ``--jobs 2``) is about two hours; ``seconds`` in the results keeps
each part's. ``--teacher-iters 2 --baseline-iters 2 --baseline-tail 2 --plateau-check 2 --plateau-every 1 --finetune-iters 2
--eval-every 2 --seeds 1 --num-train 16 --num-test 8 --sensitivity-images 8 --out /tmp/q --results /tmp/q/r.json``
is a one-minute smoke run (its mAPs mean nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from distill_prune_shapes import R578

from slimdet._files import write_text_atomic
from slimdet.commands.demo_configs import FULL, STUDENT_BASE, TEACHER_BASE, demo_config, shipped_configs
from slimdet.data.synth import HARD_CLASS_NAMES

ROOT = Path(__file__).resolve().parents[1]
SLIMDET = Path(sys.executable).with_name("slimdet")
METHODS = ("prune_only", "distill")


def build_parser() -> argparse.ArgumentParser:
    """The protocol's options (``distill_full_schedule.py`` extends them)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "output" / "distill_quality", help="data, configs, runs")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results" / "distill_quality.json")
    parser.add_argument("--size", type=int, default=96, help="train and eval input side")
    parser.add_argument("--num-train", type=int, default=1024)
    parser.add_argument("--num-test", type=int, default=256)
    parser.add_argument(
        "--hard-data",
        action="store_true",
        help="the nine-class shapes variant (data synth --hard), where the teacher's lead is larger",
    )
    parser.add_argument("--teacher-iters", type=int, default=2000)
    parser.add_argument("--teacher-from", type=Path,
                        help="weights the teacher starts from (e.g. an earlier run's teacher), so a stronger one "
                        "costs one more schedule of --teacher-iters, not a longer one from scratch")  # fmt: skip
    parser.add_argument(
        "--baseline-iters", type=int, default=2000, help="its schedule: warm-up, decays at 80%% and 90%%"
    )
    parser.add_argument("--baseline-tail", type=int, default=500,
                        help="baseline iterations more at the final LR, so its last 20%% show whether it levelled off")  # fmt: skip
    parser.add_argument("--eval-every", type=int, default=300, help="snapshot/eval interval of teacher and baseline")
    parser.add_argument("--plateau-check", type=int, default=500,
                        help="the finished baseline resumed this many iterations more (at its final LR, in a "
                        "folder of its own), evaluated every --plateau-every: is it still climbing?")  # fmt: skip
    parser.add_argument("--plateau-every", type=int, default=100, help="evaluation interval of the plateau check")
    parser.add_argument("--finetune-iters", type=int, default=300, help="prune-only and distill-pruned alike")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--controls", type=int, help="seeds of the unpruned control (default: --seeds)")
    parser.add_argument("--target-flops", type=float, default=0.5, help="FLOPs share the sensitivity plan cuts")
    parser.add_argument("--sensitivity-images", type=int, default=64)
    parser.add_argument("--distill-args", default="", help="extra distill-prune flags of the main comparison")
    parser.add_argument("--lever", action="append", default=[], metavar='NAME="FLAGS"',
                        help="another distill-pruned variant, e.g. legacy_w100=\"--distill-balance legacy --distill-weight 100\"")  # fmt: skip
    parser.add_argument(
        "--lever-plans",
        nargs="+",
        default=["r578"],
        choices=["r578", "sens50"],
        help="plans the levers run on (each lever adds one distill-pruned run per plan and seed)",
    )
    parser.add_argument("--plans", nargs="+", default=["r578", "sens50"], choices=["r578", "sens50"])
    parser.add_argument("--jobs", type=int, default=2, help="children run side by side (one thread each)")
    parser.add_argument("--no-teacher", action="store_true",
                        help="only what needs no teacher (baseline, plateau check, plans, prune-only, controls), e.g. "
                        "beside a teacher training elsewhere; a later run without it adds the rest and the results")  # fmt: skip
    return parser


def parse_args(argv: list[str]) -> argparse.Namespace:
    return build_parser().parse_args(argv)


@dataclass(frozen=True)
class Run:
    """One child command whose JSON output, once it exists in ``log``, means the run is finished.

    A training run (``checkpoints`` set) that was stopped part-way resumes from its latest complete
    snapshot, so an interrupted benchmark loses at most one snapshot interval per run.
    """

    name: str
    args: tuple[str, ...]
    log: Path
    checkpoints: Path | None = None

    def latest_snapshot(self) -> Path | None:
        if self.checkpoints is None:
            return None
        complete = [state.with_suffix("").with_suffix("") for state in self.checkpoints.glob("*.state.json")]
        complete = [stem for stem in complete if stem.name.isdigit() and stem.with_suffix(".pdopt").is_file()]
        return max(complete, key=lambda stem: int(stem.name), default=None)

    def result(self) -> dict | None:
        return json.loads(self.log.read_text()) if self.log.is_file() else None

    def __call__(self) -> dict:
        done = self.result()
        if done is not None:
            return done
        snapshot = self.latest_snapshot()
        command = [
            str(SLIMDET),
            "--threads",
            "1",
            *self.args,
            *(["--resume", str(snapshot)] if snapshot else []),
            "--json",
        ]
        started = time.perf_counter()
        print(f"[{time.strftime('%H:%M:%S')}] start {self.name}", file=sys.stderr, flush=True)
        with open(self.log.with_suffix(".stderr"), "a") as stderr:  # a resumed run's log follows its start
            # One process per child (not --nproc auto's one per core): --jobs children already share the cores.
            env = {**os.environ, "SLIMDET_NPROC": "1"}
            child = subprocess.run(command, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)
        if child.returncode != 0:
            raise SystemExit(f"{self.name} failed ({child.returncode}): {' '.join(command)}; see {stderr.name}")
        result = {**json.loads(child.stdout), "wall_seconds": round(time.perf_counter() - started, 1)}
        write_text_atomic(self.log, json.dumps(result, indent=1))
        print(f"[{time.strftime('%H:%M:%S')}] done  {self.name} in {result['wall_seconds']:.0f} s",
              file=sys.stderr, flush=True)  # fmt: skip
        return result


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.out = args.out.resolve()
        self.data = self.out / "shapes"
        for folder in ("configs", "logs", "runs"):
            (self.out / folder).mkdir(parents=True, exist_ok=True)
        self.size = replace(FULL, input_size=args.size)

    def make_data(self) -> None:
        """The shapes set (``--hard-data``: its nine-class variant) under ``--out``, unless it is there."""
        if not (self.data / "trainval.txt").is_file():
            args = self.args
            self.run("data", "data", "synth", "--out", str(self.data), "--num-train", str(args.num_train),
                     "--num-test", str(args.num_test), "--size", "160", *(["--hard"] if args.hard_data else []))()  # fmt: skip

    def run(self, name: str, *args: str, trains: bool = False) -> Run:
        return Run(name, args, self.out / "logs" / f"{name}.json", self.out / "runs" / name if trains else None)

    def config(self, name: str, base: str, iters: int, pretrain: Path | None = None, tail: int = 0) -> Path:
        path = self.out / "configs" / f"{name}.yml"
        text = demo_config(shipped_configs() / base, self.size, dataset=self.data, save_dir=self.out / "runs",
                           name=name, iters=iters, pretrain=pretrain, tail=tail)  # fmt: skip
        if self.args.hard_data:
            text += f"num_classes: {len(HARD_CLASS_NAMES)}\n"
        write_text_atomic(path, text)
        return path

    def final(self, name: str) -> Path:
        return self.out / "runs" / name / "model_final"

    def train(self, name: str, base: str, iters: int, tail: int = 0, pretrain: Path | None = None) -> Run:
        config = self.config(name, base, iters, pretrain=pretrain, tail=tail)
        every = min(self.args.eval_every, iters + tail)
        return self.run(
            name, "train", "-c", str(config), "--eval", "--seed", "0", "-o", f"snapshot_iter={every}", trains=True
        )

    def plateau_check(self, total_iters: int) -> Run:
        """The finished baseline resumed (optimizer, LR and RNG as they were) for ``--plateau-check`` more
        iterations, evaluated densely; its checkpoints go elsewhere, so the baseline the fine-tunes start from
        stays as it is."""
        every, more = self.args.plateau_every, self.args.plateau_check
        overrides = [f"snapshot_iter={every}", f"max_iters={total_iters + more}", f"save_dir={self.out / 'plateau'}"]
        return self.run("baseline_plateau", "train", "-c", str(self.out / "configs" / "baseline.yml"), "--eval",
                        "--seed", "0", "--resume", str(self.final("baseline")), "-o", *overrides)  # fmt: skip

    def evaluate(self, name: str, config: Path, weights: Path) -> float:
        return self.run(f"eval_{name}", "eval", "-c", str(config), "-w", str(weights))()["metrics"]["mAP"]

    def sensitivity_plan(self, baseline: Path) -> dict[str, float]:
        config = self.out / "configs" / "baseline.yml"
        sens = self.out / "sensitivities.json"
        self.run("sensitivity", "sensitivity", "-c", str(config), "-o", f"weights={baseline}", "-s", str(sens),
                 "--pruned-ratios", "0.1 0.3 0.5 0.7 0.9", "--eval-images", str(self.args.sensitivity_images))()  # fmt: skip
        chosen = self.run("sensitivity_ratios", "sensitivity", "ratios", str(sens), "-c", str(config),
                          "--target-flops", str(self.args.target_flops))()  # fmt: skip
        return {name: float(ratio) for name, ratio in chosen["ratios"].items()}

    def unpruned_finetune(self, seed: int, baseline: Path) -> Run:
        """The control: the baseline trained the fine-tunes' iterations more, unpruned (what extra steps alone give)."""
        name = f"baseline_finetuned_s{seed}"
        return self.finetune(name, ["train"], seed, baseline)

    def finetune(self, name: str, command: list[str], seed: int, baseline: Path) -> Run:
        """One fine-tune from ``baseline`` (``command`` before its config, e.g. ["train"]), all alike in length."""
        config = self.config(name, STUDENT_BASE, self.args.finetune_iters, pretrain=baseline)
        return self.run(name, *command[:1], "-c", str(config), *command[1:], "--seed", str(seed), "-o",
                        f"snapshot_iter={self.args.eval_every}", trains=True)  # fmt: skip

    def finetunes(self, plan_name: str, plan: dict[str, float], seed: int, baseline: Path, teacher: Path) -> list[Run]:
        """Prune-only, distill-pruned and every lever's distill-pruned run of one plan and seed."""
        flags = ["--pruned_params", ",".join(plan), "--pruned_ratios", ",".join(f"{r:g}" for r in plan.values())]
        runs = []
        variants = [("prune_only", None), ("distill", self.args.distill_args)]
        if plan_name in self.args.lever_plans:
            variants += [tuple(lever.split("=", 1)) for lever in self.args.lever]
        for method, extra in variants:
            if extra is None:
                command = ["train", *flags]
            else:
                command = ["distill-prune", "-t", str(self.out / "configs" / "teacher.yml"),
                           "--teacher_pretrained", str(teacher), *flags, *extra.split()]  # fmt: skip
            runs.append(self.finetune(f"{plan_name}_{method}_s{seed}", command, seed, baseline))
        return runs


def climb_over_last_fifth(curve: list[dict]) -> float:
    """mAP points gained over the last 20% of a training's iterations (its evaluations, in order)."""
    last = curve[-1]["iteration"]
    before = [point for point in curve if point["iteration"] <= 0.8 * last]
    start = before[-1]["mAP"] if before else curve[0]["mAP"]
    return 100 * (max(point["mAP"] for point in curve if point["iteration"] >= 0.8 * last) - start)


def trend_over_last_fifth(curve: list[dict]) -> float:
    """The same span's climb read off a least-squares line through its evaluations (and the one before it), so
    that one lucky evaluation, which the max above picks, does not pass for a trend."""
    last = curve[-1]["iteration"]
    before = [point for point in curve if point["iteration"] <= 0.8 * last][-1:]
    span = before + [point for point in curve if point["iteration"] > 0.8 * last]
    if len(span) < 2:
        return 0.0
    slope = statistics.linear_regression([p["iteration"] for p in span], [p["mAP"] for p in span]).slope
    return 100 * slope * (last - span[0]["iteration"])


def summary(pairs: list[tuple[float, float]]) -> dict:
    """Mean ± std of both sides and of the paired difference (in mAP points), and the wins of the second."""
    first, second = [100 * a for a, _ in pairs], [100 * b for _, b in pairs]
    diffs = [b - a for a, b in zip(first, second)]

    def stats(values: list[float]) -> tuple[float, float]:
        return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0

    return {"first": stats(first), "second": stats(second), "diff": stats(diffs),
            "wins": sum(d > 0 for d in diffs), "n": len(diffs)}  # fmt: skip


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    bench = Bench(args)
    bench.make_data()
    teacher_map: dict[str, float] = {}

    def student_side() -> tuple[dict, dict[str, dict[str, float]]]:
        """The baseline, its score and the plans: everything prune-only needs, none of it waiting for the teacher."""
        trained = bench.train("baseline", STUDENT_BASE, args.baseline_iters, tail=args.baseline_tail)()
        plans = {"r578": R578}
        if "sens50" in args.plans:
            plans["sens50"] = bench.sensitivity_plan(bench.final("baseline"))
        return trained, {name: plan for name, plan in plans.items() if name in args.plans}

    def teacher_side() -> dict:
        trained = bench.train("teacher", TEACHER_BASE, args.teacher_iters, pretrain=args.teacher_from)()
        teacher_map["mAP"] = bench.evaluate("teacher", bench.out / "configs" / "teacher.yml", bench.final("teacher"))
        return trained

    def scored(run: Run) -> float:
        run()
        return bench.evaluate(run.name, bench.out / "configs" / f"{run.name}.yml", bench.final(run.name))

    # Prune-only fine-tunes start as soon as the baseline is done, beside the (longer) teacher training; the
    # distill-pruned ones queue behind them once the teacher exists, so no slot idles.
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        teacher_job = None if args.no_teacher else pool.submit(teacher_side)
        baseline_train, plans = pool.submit(student_side).result()
        teacher, baseline = bench.final("teacher"), bench.final("baseline")
        runs = [run for name, plan in plans.items() for seed in range(args.seeds)
                for run in bench.finetunes(name, plan, seed, baseline, teacher)]  # fmt: skip
        n_controls = args.seeds if args.controls is None else args.controls
        controls = [bench.unpruned_finetune(seed, baseline) for seed in range(n_controls)]
        prune_only = [run for run in runs if "_prune_only_" in run.name] + controls
        total = args.baseline_iters + args.baseline_tail
        plateau_job = pool.submit(bench.plateau_check(total)) if args.plateau_check > 0 else None
        maps_of = {run.name: pool.submit(scored, run) for run in prune_only}
        if teacher_job is None:
            if plateau_job is not None:
                plateau_job.result()  # its failure is reported, not left in the pool
            print_student_side({name: job.result() for name, job in maps_of.items()})
            return
        teacher_train = teacher_job.result()
        maps_of |= {run.name: pool.submit(scored, run) for run in runs if run not in prune_only}
        maps = {name: job.result() for name, job in maps_of.items()}
        plateau_curve = [p for p in plateau_job.result()["evals"] if p["iteration"] > total] if plateau_job else []
    results: dict = {
        "teacher_map": teacher_map["mAP"],
        "baseline_map": bench.evaluate("baseline", bench.out / "configs" / "baseline.yml", baseline),
        "curves": {"teacher": teacher_train["evals"], "baseline": baseline_train["evals"]},
        "input_size": args.size,
        "iterations": {
            "teacher": args.teacher_iters,
            "teacher_from": str(args.teacher_from) if args.teacher_from else None,
            "baseline": args.baseline_iters + args.baseline_tail,
            "baseline_at_final_lr": args.baseline_tail,
            "finetune": args.finetune_iters,
        },
        "images": {"train": args.num_train, "test": args.num_test},
        "distill_args": args.distill_args,
        "baseline_finetuned": [maps[run.name] for run in controls],
        "plans": {},
        "plan_ratios": {},
        "levers": {},
        "seconds": {"teacher": teacher_train["seconds"], "baseline": baseline_train["seconds"]},
    }
    results["baseline_climb_last_fifth"] = climb_over_last_fifth(baseline_train["evals"])
    results["baseline_trend_last_fifth"] = trend_over_last_fifth(baseline_train["evals"])
    if plateau_curve:
        gains = [100 * (point["mAP"] - results["baseline_map"]) for point in plateau_curve]
        results["plateau_check"] = {"iterations": args.plateau_check, "curve": plateau_curve,
                                    "best_gain": max(gains), "mean_gain": statistics.fmean(gains)}  # fmt: skip
    results["teacher_margin"] = 100 * (results["teacher_map"] - results["baseline_map"])
    for name, plan in plans.items():
        results["plan_ratios"][name] = plan
        results["plans"][name] = {m: [maps[f"{name}_{m}_s{s}"] for s in range(args.seeds)] for m in METHODS}
        for lever in args.lever if name in args.lever_plans else []:
            lever_name = lever.split("=", 1)[0]
            results["levers"].setdefault(lever_name, {"flags": lever.split("=", 1)[1]})[name] = [
                maps[f"{name}_{lever_name}_s{s}"] for s in range(args.seeds)
            ]
    results["seconds"]["finetunes"] = sum(run.result()["seconds"] for run in runs + controls)
    write_text_atomic(args.results, json.dumps(results, indent=1) + "\n")
    print_table(results)


def print_student_side(maps: dict[str, float]) -> None:
    """The prune-only and control scores a --no-teacher run leaves (mAP %), mean ± std per kind."""
    kinds: dict[str, list[float]] = {}
    for name, value in maps.items():
        kinds.setdefault(name.rsplit("_s", 1)[0], []).append(100 * value)
    for kind, values in kinds.items():
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        print(f"{kind}: {statistics.fmean(values):.2f} ± {spread:.2f} over {len(values)} seeds")


def print_table(results: dict) -> None:
    print(f"teacher {100 * results['teacher_map']:.2f}, baseline {100 * results['baseline_map']:.2f} (mAP %, "
          f"{results['input_size']} px): teacher margin {results['teacher_margin']:+.2f} (goal ≥ +10), baseline climb "
          f"over its last 20% of iterations {results['baseline_climb_last_fifth']:+.2f} by its best evaluation, "
          f"{results.get('baseline_trend_last_fifth', float('nan')):+.2f} by a fitted line (plateau: ≤ +1)")  # fmt: skip
    if "plateau_check" in results:
        check = results["plateau_check"]
        print(f"baseline resumed {check['iterations']} iterations more at its final LR: best {check['best_gain']:+.2f}, "
              f"mean {check['mean_gain']:+.2f} over {len(check['curve'])} evaluations")  # fmt: skip
    more = [100 * m for m in results["baseline_finetuned"]]
    print(f"baseline trained {results['iterations']['finetune']} iterations more, unpruned (the fine-tunes' extra "
          f"steps alone): {statistics.fmean(more):.2f} ± {statistics.stdev(more) if len(more) > 1 else 0:.2f}")  # fmt: skip
    print("| plan | prune-only | distill-pruned | distill − prune-only | distill wins | distill − baseline |")
    print("|---|---|---|---|---|---|")
    for name, by_method in results["plans"].items():
        s = summary(list(zip(by_method["prune_only"], by_method["distill"])))
        vs_base = s["second"][0] - 100 * results["baseline_map"]
        print(f"| {name} | {s['first'][0]:.2f} ± {s['first'][1]:.2f} | {s['second'][0]:.2f} ± {s['second'][1]:.2f} "
              f"| {s['diff'][0]:+.2f} ± {s['diff'][1]:.2f} | {s['wins']}/{s['n']} | {vs_base:+.2f} |")  # fmt: skip
    for lever, by_plan in results["levers"].items():
        for name, maps in by_plan.items():
            if name == "flags":
                continue
            s = summary(list(zip(results["plans"][name]["prune_only"], maps)))
            print(f"lever {lever} ({by_plan['flags']}) on {name}: {s['second'][0]:.2f} ± {s['second'][1]:.2f}, "
                  f"vs prune-only {s['diff'][0]:+.2f}, wins {s['wins']}/{s['n']}")  # fmt: skip
    print(f"threads per child 1, cores {os.cpu_count()}")


if __name__ == "__main__":
    main(sys.argv[1:])
