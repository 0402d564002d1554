"""Does distillation win over a whole training schedule? (the legacy ``slim/distillation`` protocol)

``distill_quality.py`` distils during a short fine-tune after pruning; the legacy tables put distillation's gain
(+2.8 mAP on VOC) in a student trained a whole schedule under its teacher. This script measures that, on the same
data and with the same runner (every step an installed ``slimdet`` child process, resumable):

1. the teacher, YOLOv3-ResNet34, as ``distill_quality.py`` trains it (``--teacher-iters``);
2. per seed, the baseline student, YOLOv3-MobileNetV1 from scratch, a whole schedule (``--baseline-iters`` with
   warm-up and decays at 80% and 90%, then ``--baseline-tail`` at the final LR, so its curve shows it levelled off);
3. per seed, the same student, same schedule, same seed, trained with the teacher (``slimdet train -t``);
4. per seed, the legacy zoo's recipe: r578 distill-pruned starting from the distilled student, against r578
   prune-only from the baseline, both fine-tuned ``--finetune-iters``;
5. optional levers (``--lever NAME="FLAGS"``): more distilled arms from scratch, each against the same baselines,
   e.g. ``--lever l2="--distill-method l2 --distill-weight 100"``, the loss of the legacy VOC table.

Results go under ``full_schedule`` in ``--results`` (the file's other keys are kept), written once every
run has finished; ``--seeds 2`` is the screen, the verdict takes five (a re-run with more seeds reuses the
finished ones). Every training logs each loss term's mean and the LR every ``--log-every`` iterations
(``loss_terms`` in its JSON, across resumes too): the distilled runs' distillation share comes from there.

The defaults are the 8192-image hard run of ``distill_quality.json``:
``--hard-data --num-train 8192 --num-test 512 --teacher-iters 8000 --baseline-iters 5000 --baseline-tail 1000
--eval-every 800 --finetune-iters 1500``. Cost measured on a slow 2-core machine, one thread per child, two at
a time: about 2.2 CPU-seconds per teacher step and 1.8 per baseline step, so the teacher about 5 CPU-hours and
per seed about 3 (baseline) + 4 (distilled) + 1.5 (the two fine-tunes), plus as much as a distilled run per
lever: about 21 CPU-hours for the two-seed screen, 45-50 for five seeds. Stop it with SIGTERM to its children
(each writes a checkpoint and exits) rather than losing up to ``--eval-every`` steps per run.
"""

from __future__ import annotations

import json
import statistics
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from distill_prune_shapes import R578
from distill_quality import Bench, Run, build_parser, climb_over_last_fifth, summary, trend_over_last_fifth

from slimdet._files import write_text_atomic
from slimdet.commands.demo_configs import STUDENT_BASE, TEACHER_BASE

FULL_DEFAULTS = {
    "hard_data": True,
    "num_train": 8192,
    "num_test": 512,
    "teacher_iters": 8000,
    "baseline_iters": 5000,
    "baseline_tail": 1000,
    "eval_every": 800,
    "finetune_iters": 1500,
    "results": Path(__file__).resolve().parent / "results" / "distill_quality.json",
}


def parse_args(argv: list[str]):
    parser = build_parser()
    parser.description = __doc__.splitlines()[0]
    parser.add_argument("--log-every", type=int, default=100, help="log interval of every training (loss terms)")
    parser.set_defaults(**FULL_DEFAULTS)
    return parser.parse_args(argv)


class FullSchedule(Bench):
    """The runs of the protocol, named by seed; every training logs every ``--log-every`` iterations."""

    def from_scratch(self, name: str, seed: int, *teacher: str) -> Run:
        config = self.config(name, STUDENT_BASE, self.args.baseline_iters, tail=self.args.baseline_tail)
        every = min(self.args.eval_every, self.args.baseline_iters + self.args.baseline_tail)
        return self.run(name, "train", "-c", str(config), *teacher, "--eval", "--seed", str(seed), "-o",
                        f"snapshot_iter={every}", f"log_iter={self.args.log_every}", trains=True)  # fmt: skip

    def teacher_flags(self) -> tuple[str, ...]:
        teacher = ("-t", str(self.out / "configs" / "teacher.yml"), "--teacher_pretrained", str(self.final("teacher")))
        return (*teacher, *self.args.distill_args.split())

    def pruned(self, name: str, seed: int, start: str, *teacher: str) -> Run:
        """r578 fine-tuned from ``start``'s final weights, with the teacher when ``teacher`` is given."""
        config = self.config(name, STUDENT_BASE, self.args.finetune_iters, pretrain=self.final(start))
        flags = ("--pruned_params", ",".join(R578), "--pruned_ratios", ",".join(f"{r:g}" for r in R578.values()))
        return self.run(name, "train", "-c", str(config), *teacher, *flags, "--seed", str(seed), "-o",
                        f"snapshot_iter={self.args.eval_every}", f"log_iter={self.args.log_every}", trains=True)  # fmt: skip

    def scored(self, run: Run) -> float:
        run()
        return self.evaluate(run.name, self.out / "configs" / f"{run.name}.yml", self.final(run.name))


def distill_share(loss_terms: list[dict[str, float]]) -> list[dict[str, float]]:
    """The distillation terms' share of the total loss in each logged window of a run (its ``loss_terms``)."""
    return [{"iteration": w["iteration"], "share": w["distill_loss"] / w["loss"]} for w in loss_terms if w.get("loss")]


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    bench = FullSchedule(args)
    bench.make_data()
    seeds = range(args.seeds)
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        # The teacher beside the baselines (which need no teacher); every run that needs another queues behind it.
        teacher = pool.submit(bench.train("teacher", TEACHER_BASE, args.teacher_iters, pretrain=args.teacher_from))
        jobs: dict[str, Future] = {}
        for seed in seeds:
            jobs[f"baseline_s{seed}"] = pool.submit(bench.scored, bench.from_scratch(f"baseline_s{seed}", seed))
        teacher.result()
        teacher_map = pool.submit(
            bench.evaluate, "teacher", bench.out / "configs" / "teacher.yml", bench.final("teacher")
        )
        for seed in seeds:
            run = bench.from_scratch(f"distilled_s{seed}", seed, *bench.teacher_flags())
            jobs[run.name] = pool.submit(bench.scored, run)
        for name, flags in levers(args):  # more distilled arms over the same baselines, after the main one
            for seed in seeds:
                run = bench.from_scratch(f"{name}_s{seed}", seed, *bench.teacher_flags(), *flags.split())
                jobs[run.name] = pool.submit(bench.scored, run)
        for seed in seeds:
            start = f"baseline_s{seed}"
            run = bench.pruned(f"r578_prune_only_from_baseline_s{seed}", seed, start)
            jobs[run.name] = pool.submit(after, jobs[start], bench.scored, run)
        for seed in seeds:
            start = f"distilled_s{seed}"
            run = bench.pruned(f"r578_distill_from_distilled_s{seed}", seed, start, *bench.teacher_flags())
            jobs[run.name] = pool.submit(after, jobs[start], bench.scored, run)
        maps = {name: job.result() for name, job in jobs.items()}
        teacher_map = teacher_map.result()
    results = json.loads(args.results.read_text()) if args.results.is_file() else {}
    results["full_schedule"] = full_schedule_results(bench, maps, teacher_map)
    write_text_atomic(args.results, json.dumps(results, indent=1) + "\n")
    print_table(results["full_schedule"])


def levers(args) -> list[tuple[str, str]]:
    """``--lever NAME="FLAGS"``: each a distilled arm of its own, e.g. l2="--distill-method l2 --distill-weight 100"."""
    return [tuple(lever.split("=", 1)) for lever in args.lever]


def after(needed: Future, work, *args):
    """``work(*args)`` once ``needed`` has finished (it was queued earlier, so it has started)."""
    needed.result()
    return work(*args)


def full_schedule_results(bench: FullSchedule, maps: dict[str, float], teacher_map: float) -> dict:
    args, seeds = bench.args, range(bench.args.seeds)

    def side(prefix: str) -> dict:
        trained = [bench.run(f"{prefix}_s{seed}").result() for seed in seeds]
        return {
            "maps": [maps[f"{prefix}_s{seed}"] for seed in seeds],
            "curves": [run["evals"] for run in trained],
            "climb_last_fifth": [climb_over_last_fifth(run["evals"]) for run in trained],
            "trend_last_fifth": [trend_over_last_fifth(run["evals"]) for run in trained],
            "final_losses": [run["losses"] for run in trained],
            "seconds": [run["seconds"] for run in trained],
        }

    baseline, distilled = side("baseline"), side("distilled")
    arms = {name: {"flags": flags, **side(name)} for name, flags in levers(args)}
    for name, arm in arms.items():
        arm["distill_share"] = [distill_share(bench.run(f"{name}_s{s}").result()["loss_terms"]) for s in seeds]
        arm["vs_baseline"] = summary(list(zip(baseline["maps"], arm["maps"])))
    distilled["distill_share"] = [distill_share(bench.run(f"distilled_s{s}").result()["loss_terms"]) for s in seeds]
    prune_only = [maps[f"r578_prune_only_from_baseline_s{seed}"] for seed in seeds]
    from_distilled = [maps[f"r578_distill_from_distilled_s{seed}"] for seed in seeds]
    return {
        "input_size": args.size,
        "images": {"train": args.num_train, "test": args.num_test},
        "iterations": {
            "teacher": args.teacher_iters,
            "schedule": args.baseline_iters + args.baseline_tail,
            "at_final_lr": args.baseline_tail,
            "finetune": args.finetune_iters,
        },
        "distill_args": args.distill_args,
        "seeds": args.seeds,
        "teacher_map": teacher_map,
        "baseline": baseline,
        "distilled": distilled,
        "distilled_vs_baseline": summary(list(zip(baseline["maps"], distilled["maps"]))),
        "levers": arms,
        "r578_from_distilled": {
            "prune_only_from_baseline": prune_only,
            "distill_pruned_from_distilled": from_distilled,
            "vs_prune_only": summary(list(zip(prune_only, from_distilled))),
            "vs_baseline": [100 * (a - b) for a, b in zip(from_distilled, baseline["maps"])],
        },
    }


def print_table(full: dict) -> None:
    def row(name: str, maps: list[float]) -> str:
        values = [100 * m for m in maps]
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"| {name} | {statistics.fmean(values):.2f} ± {spread:.2f} | {' '.join(f'{v:.2f}' for v in values)} |"

    print(f"teacher {100 * full['teacher_map']:.2f} mAP %, {full['input_size']} px, {full['seeds']} seeds")
    print("| run | mAP % | per seed |\n|---|---|---|")
    print(row("baseline (whole schedule)", full["baseline"]["maps"]))
    print(row("distilled (same schedule, train -t)", full["distilled"]["maps"]))
    r578 = full["r578_from_distilled"]
    print(row("r578 prune-only from the baseline", r578["prune_only_from_baseline"]))
    print(row("r578 distill-pruned from the distilled", r578["distill_pruned_from_distilled"]))
    s = full["distilled_vs_baseline"]
    print(
        f"distilled − baseline: {s['diff'][0]:+.2f} ± {s['diff'][1]:.2f}, wins {s['wins']}/{s['n']} (goal ≥ +1.0 in 4/5)"
    )
    for name, arm in full["levers"].items():
        s = arm["vs_baseline"]
        print(row(f"{name} ({arm['flags']})", arm["maps"]))
        print(f"{name} − baseline: {s['diff'][0]:+.2f} ± {s['diff'][1]:.2f}, wins {s['wins']}/{s['n']}")
    s = r578["vs_prune_only"]
    gap = statistics.fmean(r578["vs_baseline"])
    print(f"r578 from distilled − prune-only: {s['diff'][0]:+.2f} ± {s['diff'][1]:.2f}, wins {s['wins']}/{s['n']}; "
          f"− baseline {gap:+.2f} (goal within 1.0)")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:])
