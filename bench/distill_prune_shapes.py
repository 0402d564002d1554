"""Does distillation repair what pruning costs? The legacy slim model zoo's experiment, on the shapes set.

Rows (all evaluated by ``slimdet eval`` on the same test images, FLOPs and size by ``slimdet params``):

* teacher: YOLOv3-ResNet34 (configs/shapes_yolov3_r34.yml), trained by ``slimdet train``;
* (a) baseline: YOLOv3-MobileNetV1 (configs/shapes_yolov3_mobilenet_v1.yml), trained by ``slimdet train``;
* (b) r578: (a) pruned with the model zoo's r578 ratios (docs/legacy.md, "Pruning and r578") and fine-tuned
  without a teacher (``slimdet train --pruned_params …``, the legacy slim/prune/prune.py);
* (c) r578 + distill: (a) pruned the same way and trained with the split distillation loss from the
  teacher (``slimdet distill-prune``), for as many iterations as (b).

The legacy VOC result to compare the shape of the outcome with: r578 cut FLOPs by 69.57 % and the
distilled model beat the unpruned baseline (78.8 vs 76.2 mAP at 608). Every command runs as the installed
``slimdet`` in its own process, on the synthetic set (``slimdet data synth`` defaults: 1024 train / 128
test images of 160 px, seed 0) kept in ``--out`` with the checkpoints, so a second run reuses the
trained teacher and baseline; ``--teacher``/``--student`` take checkpoints trained elsewhere.

Cost: the baselines' own schedules (1000 iterations each at 128 px) take about 20 minutes for the
student and 30 for the R34 teacher on 2 idle cores; (b) and (c) (``--finetune-iters``, default 300) about
4 minutes each, a finished one is reused. ``--iters 2 --finetune-iters 2 --out /tmp/x`` is a smoke run of
a few minutes that shows the pipeline works (its mAPs are meaningless).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEACHER_CONFIG = ROOT / "configs" / "shapes_yolov3_r34.yml"
STUDENT_CONFIG = ROOT / "configs" / "shapes_yolov3_mobilenet_v1.yml"
SLIMDET = Path(sys.executable).with_name("slimdet")
LEVEL_CONVS = ("0.0", "0.1", "1.0", "1.1", "2", "tip")  # the six detection-block convs of each level
R578 = {
    f"yolo_block.{level}.{conv}.conv.weights": ratio
    for level, ratio in ((0, 0.5), (1, 0.7), (2, 0.8))
    for conv in LEVEL_CONVS
}
READERS = ("TrainReader", "EvalReader", "TestReader")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=ROOT / "output" / "bench_distill_prune", help="dataset + checkpoints"
    )
    parser.add_argument("--data", type=Path, help="a shapes dataset to use (default: --out/shapes, written if missing)")
    parser.add_argument("--teacher", help="trained shapes R34 checkpoint (default: trained into --out if missing)")
    parser.add_argument(
        "--student", help="trained shapes MobileNetV1 checkpoint (default: trained into --out if missing)"
    )
    parser.add_argument("--iters", type=int, help="iterations for a baseline trained here (default: its config's 1000)")
    parser.add_argument("--finetune-iters", type=int, default=300, help="iterations of (b) and (c), the same for both")
    parser.add_argument("--distill-weight", type=float, default=1000.0)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def slimdet(*args: str) -> dict:
    """Run one ``slimdet ... --json`` child (progress stays on our stderr) and return its JSON."""
    command = [str(SLIMDET), *args, "--json"]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed with exit code {done.returncode}")
    return json.loads(done.stdout)


def data_overrides(dataset: Path) -> list[str]:
    return [f"{reader}.dataset.dataset_dir={dataset}" for reader in READERS]


def baseline(config: Path, given: str | None, out: Path, dataset: Path, args: argparse.Namespace) -> str:
    """The checkpoint of ``config``: ``given``, one trained by an earlier run, or trained now."""
    if given:
        return given
    final = out / "baselines" / config.stem / "model_final"
    if not final.with_suffix(".pdparams").is_file():
        iters = [f"max_iters={args.iters}", f"snapshot_iter={args.iters}"] if args.iters else []
        slimdet("train", "-c", str(config), "--seed", str(args.seed), "-o", f"save_dir={out / 'baselines'}",
                *data_overrides(dataset), *iters)  # fmt: skip
    return str(final)


def finetuned(save_dir: Path, args: argparse.Namespace, run: Callable[[Path], dict]) -> str:
    """The final checkpoint of a fine-tuning run into ``save_dir``: an earlier run's when it finished with
    ``--finetune-iters`` iterations (its state file says so), else ``run(save_dir)``'s."""
    final = save_dir / STUDENT_CONFIG.stem / "model_final"
    state = final.with_suffix(".state.json")
    if not (state.is_file() and json.loads(state.read_text()).get("iteration") == args.finetune_iters):
        result = run(save_dir)
        assert result["iterations"] == args.finetune_iters
    return str(final)


def measure(config: Path, weights: str, dataset: Path) -> dict:
    """mAP (``slimdet eval``) and GFLOPs / size at the eval input size (``slimdet params``), pruned or not:
    both commands rebuild the structure from the checkpoint's .plan.json."""
    evaluated = slimdet("eval", "-c", str(config), "-w", weights, "-o", *data_overrides(dataset))
    params = slimdet("params", "-c", str(config), "-w", weights, "--filter", "^$")  # totals only
    totals = params["totals"]
    return {"mAP": evaluated["metrics"]["mAP"], "gflops": totals["legacy_gflops"], "mib": totals["size_mib"],
            "input": params["input_size"]}  # fmt: skip


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    out = args.out.resolve()
    dataset = (args.data or out / "shapes").resolve()
    if not (dataset / "trainval.txt").is_file():
        slimdet("data", "synth", "--out", str(dataset), "--seed", str(args.seed))
    teacher = baseline(TEACHER_CONFIG, args.teacher, out, dataset, args)
    student = baseline(STUDENT_CONFIG, args.student, out, dataset, args)

    plan = ["--pruned_params", ",".join(R578), "--pruned_ratios", ",".join(f"{r:g}" for r in R578.values())]
    finetune = [f"max_iters={args.finetune_iters}", f"snapshot_iter={args.finetune_iters}", f"pretrain_weights={student}",
                *data_overrides(dataset)]  # fmt: skip
    pruned = finetuned(out / "r578", args, lambda save_dir: slimdet(
        "train", "-c", str(STUDENT_CONFIG), *plan, "--seed", str(args.seed), "-o", f"save_dir={save_dir}", *finetune,
    ))  # fmt: skip
    distilled = finetuned(out / "r578_distill", args, lambda save_dir: slimdet(
        "distill-prune", "-c", str(STUDENT_CONFIG), "-t", str(TEACHER_CONFIG), "--teacher_pretrained", teacher, *plan,
        "--distill-weight", str(args.distill_weight), "--seed", str(args.seed), "-o", f"save_dir={save_dir}", *finetune,
    ))  # fmt: skip

    rows = [
        ("ResNet34", "teacher", TEACHER_CONFIG, teacher, "-"),
        ("MobileNetV1", "(a) baseline", STUDENT_CONFIG, student, "-"),
        ("MobileNetV1", "(b) r578", STUDENT_CONFIG, pruned, "-"),
        ("MobileNetV1", "(c) r578 + distill", STUDENT_CONFIG, distilled, "YOLOv3-ResNet34"),
    ]
    measured = [measure(config, weights, dataset) for _, _, config, weights, _ in rows]
    base = measured[1]

    def change(value: float, reference: float) -> str:
        return f"{100 * (value - reference) / reference:+.2f}%" if reference else ""

    print(
        f"\n{'backbone':<12} {'strategy':<20} {'GFLOPs':>18} {'size MiB':>18} {'input':>6} {'teacher':>16} {'mAP':>16}"
    )
    for (backbone, strategy, *_, teacher_name), m in zip(rows, measured):
        student_row = strategy not in ("teacher", "(a) baseline")
        gflops = f"{m['gflops']:.4f}" + (f" ({change(m['gflops'], base['gflops'])})" if student_row else "")
        size = f"{m['mib']:.2f}" + (f" ({change(m['mib'], base['mib'])})" if student_row else "")
        delta = f" ({100 * (m['mAP'] - base['mAP']):+.1f})" if student_row else ""
        print(f"{backbone:<12} {strategy:<20} {gflops:>18} {size:>18} {m['input']:>6} {teacher_name:>16} "
              f"{100 * m['mAP']:>9.1f}{delta:>7}")  # fmt: skip
    gain = 100 * (measured[3]["mAP"] - measured[2]["mAP"])
    print(f"\ndistillation vs plain fine-tuning of the same pruned student, {args.finetune_iters} iterations each: "
          f"{gain:+.1f} mAP points; (c) vs unpruned baseline: {100 * (measured[3]['mAP'] - base['mAP']):+.1f}")  # fmt: skip
    print(
        f"teacher: {teacher}\nbaseline: {student}\n"
        f"threads: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'all cores')}, cores: {os.cpu_count()}"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
