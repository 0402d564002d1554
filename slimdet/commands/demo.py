"""``slimdet demo``'s core: the whole workflow on the built-in shapes data, ending with a model-zoo style table.

Stages, in order (each is skipped when its output already exists, so a re-run only does what is missing):

1. ``data``        synthetic shapes set                               → out/dataset/shapes
2. ``teacher``     train YOLOv3-ResNet34 from scratch                  → out/output/demo_teacher/model_final
3. ``student``     train YOLOv3-MobileNetV1 from scratch (the student) → out/output/demo_student/model_final
4. ``sensitivity`` prune each analysed conv alone, score it             → out/sensitivity.json (resumable)
5. ``ratios``      ratios that cut ``target_flops`` of the FLOPs at the least expected loss
6. ``baseline``    fine-tune the student unpruned, as long as the pruned ones are fine-tuned
                                                                        → out/output/demo_baseline/model_final
7. ``prune-only``  prune the student, fine-tune with its own loss       → out/output/demo_prune_only/model_final
8. ``distill-prune`` the same plan and iterations, plus the teacher's split distillation loss
                                                                        → out/output/demo_distill_prune/model_final
9. ``eval``        mAP of the teacher and the three students on the test split → out/scores.json (a score is
                   kept as long as the weights it was measured on are)
10. ``export``     the distill-pruned model as a Paddle Inference model → out/export/demo_distill_prune
11. ``infer``      the exported model on a few test images              → out/infer/*.jpg

The three students of the table start from the same student and train the same iterations with the same
schedule, so a pruned model cannot look better than the baseline merely for having trained longer.

Every stage calls the core function its command uses; the configs are written to ``out/configs`` so
each stage can be repeated by hand with the ordinary commands.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from slimdet._files import write_text_atomic
from slimdet.commands.demo_configs import (
    FAST,
    FULL,
    STUDENT_BASE,
    TEACHER_BASE,
    DemoSize,
    demo_config,
    shipped_configs,
)
from slimdet.commands.distill import train_distilled
from slimdet.commands.distill_request import DistillRequest
from slimdet.commands.evaluate import EvalRequest, evaluate_checkpoint
from slimdet.commands.export import ExportRequest, export_checkpoint
from slimdet.commands.infer import InferRequest, infer
from slimdet.commands.sensitivity import run_sensitivity
from slimdet.commands.sensitivity_ratios import choose_ratios
from slimdet.commands.train import TrainRequest, train_from_config
from slimdet.config import load_config
from slimdet.config.sizes import eval_input_size
from slimdet.data.synth import write_synthetic_voc
from slimdet.errors import SlimdetError
from slimdet.slim.assemble import build_trained_model
from slimdet.slim.distill_settings import DistillSettings
from slimdet.slim.flops import count_conv_macs, parameter_mib
from slimdet.slim.plan import PruningPlan
from slimdet.slim.sensitivity_trials import TrialSpec

FINAL = "model_final"
# A detector trained for minutes on a CPU rarely scores 0.5 (the exported draw_threshold): at 0.5 the demo's
# distill-pruned model drew no box on its four pictures, at 0.2 it drew 4–9 per picture, on the shapes.
DRAW_THRESHOLD = 0.2


@dataclass(frozen=True)
class ZooRow:
    """One line of the model-zoo table."""

    model: str
    iterations: int  # training iterations in all, from scratch (the students': student + fine-tuning)
    input_size: int
    gflops: float
    flops_cut: float  # vs the baseline student (0 for the baseline)
    size_mib: float
    size_cut: float
    map: float  # VOC mAP, fraction
    weights: str


@dataclass(frozen=True)
class StageTime:
    stage: str
    seconds: float
    reused: bool  # its output existed: nothing was computed


@dataclass(frozen=True)
class DemoResult:
    """The table, the teacher's mAP, the pictures drawn and where the time went."""

    out_dir: str
    fast: bool
    rows: tuple[ZooRow, ...]
    teacher: ZooRow
    pruned_params: str
    pruned_ratios: str
    pictures: tuple[str, ...]
    draw_threshold: float
    stages: tuple[StageTime, ...]

    @property
    def seconds(self) -> float:
        return sum(stage.seconds for stage in self.stages)

    def to_dict(self) -> dict[str, Any]:
        return {
            "out_dir": self.out_dir,
            "fast": self.fast,
            "rows": [asdict(row) for row in self.rows],
            "teacher": asdict(self.teacher),
            "pruned_params": self.pruned_params,
            "pruned_ratios": self.pruned_ratios,
            "pictures": list(self.pictures),
            "draw_threshold": self.draw_threshold,
            "stages": [asdict(stage) for stage in self.stages],
            "seconds": round(self.seconds, 1),
        }


class _Stages:
    """Runs named stages, timing each and noting whether it was reused."""

    def __init__(self, on_stage: Callable[[StageTime], None] | None) -> None:
        self.on_stage = on_stage
        self.times: list[StageTime] = []

    def run(self, name: str, done: Path | None, work: Callable[[], Any]) -> Any:
        """``work()`` unless ``done`` exists (then None); ``done=None``: always run."""
        reused = done is not None and done.exists()
        started = time.perf_counter()
        value = None if reused else work()
        self.times.append(StageTime(name, time.perf_counter() - started, reused))
        if self.on_stage is not None:
            self.on_stage(self.times[-1])
        return value


def run_demo(
    out: str | Path = "demo_output", *, fast: bool = False, on_stage: Callable[[StageTime], None] | None = None
) -> DemoResult:
    """Run (or finish) the demo in ``out``; ``on_stage(time)`` is called as each stage ends."""
    size = FAST if fast else FULL
    out = Path(out).resolve()
    stages = _Stages(on_stage)
    shipped = shipped_configs()
    dataset, save_dir, configs = out / "dataset" / "shapes", out / "output", out / "configs"
    configs.mkdir(parents=True, exist_ok=True)
    _claim(out / "demo.json", fast)

    def write(name: str, base: str, iters: int, pretrain: Path | None = None) -> Path:
        path = configs / f"{name}.yml"
        text = demo_config(
            shipped / base, size, dataset=dataset, save_dir=save_dir, name=name, iters=iters, pretrain=pretrain
        )
        path.write_text(text)
        return path

    def final(name: str) -> Path:
        return save_dir / name / f"{FINAL}.pdparams"

    teacher_yml = write("demo_teacher", TEACHER_BASE, size.teacher_iters)
    student_yml = write("demo_student", STUDENT_BASE, size.student_iters)
    baseline_yml = write("demo_baseline", STUDENT_BASE, size.finetune_iters, pretrain=final("demo_student"))
    prune_yml = write("demo_prune_only", STUDENT_BASE, size.finetune_iters, pretrain=final("demo_student"))
    distill_yml = write("demo_distill_prune", STUDENT_BASE, size.finetune_iters, pretrain=final("demo_student"))

    stages.run(
        "data",
        dataset / "label_list.txt",
        lambda: write_synthetic_voc(
            dataset, num_train=size.num_train, num_test=size.num_test, size=size.image_size, seed=0, overwrite=True
        ),
    )
    stages.run(
        "teacher", final("demo_teacher"), lambda: train_from_config(TrainRequest(load_config(teacher_yml)), quiet=True)
    )
    stages.run(
        "student", final("demo_student"), lambda: train_from_config(TrainRequest(load_config(student_yml)), quiet=True)
    )
    sensitivities = out / "sensitivity.json"
    stages.run("sensitivity", None, lambda: _sensitivity(student_yml, size, sensitivities))
    ratios = stages.run("ratios", None, lambda: _ratios(sensitivities, student_yml, size))
    plan = ratios.pruned_params, ratios.pruned_ratios
    stages.run(
        "baseline",
        final("demo_baseline"),
        lambda: train_from_config(TrainRequest(load_config(baseline_yml)), quiet=True),
    )
    stages.run("prune-only", final("demo_prune_only"), lambda: _prune_only(prune_yml, *plan))
    stages.run(
        "distill-prune",
        final("demo_distill_prune"),
        lambda: _distill(distill_yml, teacher_yml, final("demo_teacher"), *plan, size.distill_weight),
    )
    models = {
        "teacher (R34)": (teacher_yml, final("demo_teacher")),
        "baseline": (baseline_yml, final("demo_baseline")),
        "prune-only": (prune_yml, final("demo_prune_only")),
        "distill-pruned": (distill_yml, final("demo_distill_prune")),
    }
    scores = out / "scores.json"
    saved = _saved_scores(scores, models)
    scored = stages.run(
        "eval", scores if saved.keys() == models.keys() else None, lambda: _scores(scores, models, saved)
    )
    scored = scored or saved
    export_dir = out / "export"
    stages.run(
        "export",
        export_dir / "demo_distill_prune" / "infer_cfg.yml",
        lambda: _export(distill_yml, final("demo_distill_prune"), export_dir),
    )
    pictures = stages.run(
        "infer", None, lambda: _infer(export_dir / "demo_distill_prune", dataset, size.infer_images, out)
    )
    base, students = scored["baseline"], size.student_iters + size.finetune_iters
    rows = tuple(
        _row(label, students, scored[label], base, size.input_size, models[label][1]) for label in list(models)[1:]
    )
    mine = scored["teacher (R34)"]
    teacher = _row("teacher (R34)", size.teacher_iters, mine, mine, size.input_size, final("demo_teacher"))
    return DemoResult(
        out_dir=str(out),
        fast=fast,
        rows=rows,
        teacher=teacher,
        pruned_params=ratios.pruned_params,
        pruned_ratios=ratios.pruned_ratios,
        pictures=tuple(pictures),
        draw_threshold=DRAW_THRESHOLD,
        stages=tuple(stages.times),
    )


def _claim(marker: Path, fast: bool) -> None:
    """Refuse to mix a --fast demo's outputs with a full one's (each stage would reuse the other's)."""
    mode = "fast" if fast else "full"
    if marker.is_file():
        made = json.loads(marker.read_text()).get("mode")
        if made != mode:
            flag = "without --fast" if made == "full" else "with --fast"
            raise SlimdetError(f"{marker.parent} holds a {made} demo: run {flag}, or choose another --out")
    else:
        marker.write_text(json.dumps({"mode": mode}))


def _sensitivity(config: Path, size: DemoSize, path: Path) -> Any:
    spec = TrialSpec(
        config=str(config),
        params=size.sensitivity_params,
        ratios=size.sensitivity_ratios,
        eval_images=size.sensitivity_images,
        data_workers=0,
    )
    return run_sensitivity(spec, path)


def _ratios(path: Path, config: Path, size: DemoSize) -> Any:
    return choose_ratios(path, target_flops=size.target_flops, config=config)


def _prune_only(config: Path, pruned_params: str, pruned_ratios: str) -> Any:
    cfg = load_config(config)
    plan = PruningPlan.from_flags(pruned_params, pruned_ratios)
    return train_from_config(TrainRequest(cfg, plan), quiet=True)


def _distill(
    config: Path, teacher_config: Path, teacher_weights: Path, pruned_params: str, pruned_ratios: str, weight: float
) -> Any:
    request = DistillRequest(
        load_config(teacher_config),
        str(teacher_weights),
        pruned_params=pruned_params,
        pruned_ratios=pruned_ratios,
        distill=DistillSettings(weight=weight),
    )
    return train_distilled(load_config(config), request, quiet=True)


def _weights_stamp(weights: Path) -> list[int]:
    """What tells one weights file from its replacement: size and modification time (ns)."""
    stat = weights.stat()
    return [stat.st_size, stat.st_mtime_ns]


def _saved_scores(path: Path, models: dict[str, tuple[Path, Path]]) -> dict[str, dict[str, float]]:
    """The scores in ``path`` of the ``models`` whose weights are still the ones scored there."""
    saved = json.loads(path.read_text()) if path.is_file() else {}
    return {
        label: saved[label]["score"]
        for label, (_, weights) in models.items()
        if label in saved and saved[label]["weights"] == [str(weights), *_weights_stamp(weights)]
    }


def _scores(
    path: Path, models: dict[str, tuple[Path, Path]], saved: dict[str, dict[str, float]]
) -> dict[str, dict[str, float]]:
    """Every model's score: ``saved`` ones as they are, the others measured; all written to ``path``."""
    scored = {label: saved.get(label) or _score(*where) for label, where in models.items()}
    document = {
        label: {"weights": [str(weights), *_weights_stamp(weights)], "score": scored[label]}
        for label, (_, weights) in models.items()
    }
    write_text_atomic(path, json.dumps(document, indent=1))
    return scored


def _score(config: Path, weights: Path) -> dict[str, float]:
    """mAP on the test split, and the rebuilt model's conv GFLOPs and parameter MiB at the eval input size."""
    cfg = load_config(config)
    result = evaluate_checkpoint(EvalRequest(cfg, str(weights)))
    model, _ = build_trained_model(cfg.to_dict(), str(weights))
    return {
        "mAP": result.summary.metrics["mAP"],
        "gflops": count_conv_macs(model, eval_input_size(cfg.to_dict())).gflops,
        "mib": parameter_mib(model),
    }


def _export(config: Path, weights: Path, export_dir: Path) -> Any:
    return export_checkpoint(ExportRequest.from_flags(config, [f"weights={weights}"], output_dir=export_dir))


def _infer(model_dir: Path, dataset: Path, count: int, out: Path) -> list[str]:
    """The exported model on the first ``count`` test images; the drawn copies' paths."""
    images = out / "infer_inputs"
    if images.exists():
        shutil.rmtree(images)
    images.mkdir()
    for line in (dataset / "test.txt").read_text().splitlines()[:count]:
        picture = dataset / line.split()[0]
        shutil.copy2(picture, images / picture.name)
    request = InferRequest.from_flags(
        model_dir=model_dir, image_dir=images, threshold=DRAW_THRESHOLD, output_dir=out / "infer"
    )
    result = infer(request)
    (out / "infer" / "detections.json").write_text(json.dumps(result.to_dict(), indent=1))
    return [image.drawn for image in result.images]


def _row(
    label: str, iterations: int, scored: dict[str, float], base: dict[str, float], input_size: int, weights: Path
) -> ZooRow:
    return ZooRow(
        model=label,
        iterations=iterations,
        input_size=input_size,
        gflops=scored["gflops"],
        flops_cut=1.0 - scored["gflops"] / base["gflops"],
        size_mib=scored["mib"],
        size_cut=1.0 - scored["mib"] / base["mib"],
        map=scored["mAP"],
        weights=str(weights),
    )
