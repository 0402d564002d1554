"""slimdet's Python API: one function per command, for scripts and notebooks.

Each function takes the command's options as keyword arguments, named as the options are in Python spelling
(``--pruned_params`` → ``pruned_params``, ``-o`` → ``overrides``, ``-to`` → ``teacher_overrides``) with the
command's defaults, and returns the result object whose ``to_dict()`` is what ``--json`` prints. The command
line is a thin layer over these functions (``slimdet.cli`` parses, calls one of them, renders), and the training
commands share ``commands.training.TrainingJob`` with it, so the two cannot drift.

A user mistake raises the ``slimdet.errors.SlimdetError`` (or subclass) the CLI would print as its one red line;
nothing is printed and nothing exits. Ctrl-C during a training stops it after the step in progress and raises
``TrainingInterrupted`` once the checkpoint to resume from is written.

Importing this module loads nothing heavy (paddle loads on the first call that needs it). A call leaves the
caller's process as it found it: python's, numpy's and paddle's random state, paddle's device and the signal
handlers are put back, and each model is built in a name scope of its own, so a function can be called any
number of times in one process with the same results. Training runs in the calling process: ``--nproc`` is the
command line's (it starts the command again through Paddle's launcher); for several processes, run the command.

    from slimdet import api

    api.synth_data("dataset/shapes", num_train=64, num_test=16, size=64)
    result = api.train("shapes_yolov3_mobilenet_v1.yml", overrides=["max_iters=20"], eval=True)
    print(result.loss_history, result.best)

docs/api.md lists every function with its options.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slimdet.commands.distill_request import DEFAULT_DISTILL_WEIGHT  # paddle-free, like everything imported here

if TYPE_CHECKING:
    from slimdet.commands.curves import CurvesResult
    from slimdet.commands.demo import DemoResult, StageTime
    from slimdet.commands.distill import DistillResult
    from slimdet.commands.evaluate import CheckpointEvalResult, ExportedEvalResult
    from slimdet.commands.params import ParamsReport
    from slimdet.commands.sensitivity import SensitivityRun, Trial
    from slimdet.commands.sensitivity_results import MergeResult
    from slimdet.commands.train import TrainResult
    from slimdet.config import Config
    from slimdet.data.build import Split
    from slimdet.data.check import DataCheckReport
    from slimdet.data.show import ShowReport
    from slimdet.data.synth import SynthReport
    from slimdet.deploy.export import ExportResult
    from slimdet.deploy.infer import InferResult, SkippedImage
    from slimdet.deploy.quantize import QuantizeResult
    from slimdet.slim.ratio_choice import RatiosResult
    from slimdet.slim.sensitivity_plot import PlotResult

PathLike = str | Path


@contextmanager
def _caller_state_kept(*, paddle: bool = True) -> Iterator[None]:
    """Around one command: what it changes in the process and is the caller's, put back as it ends (returns or
    raises). A training seeds python's, numpy's and paddle's random generators and every paddle command selects a
    device; the signal handlers are the loops' own business (``interrupts.stop_requests`` restores them too).
    PaddleSlim's first import switches matplotlib to its Agg backend (``paddleslim.common.analyze_helper``), after
    which a notebook's ``plt.show()`` shows nothing. ``paddle=False`` for a command that never loads it (a
    paddle-free caller stays paddle-free)."""
    import random

    import numpy as np

    python_state, numpy_state = random.getstate(), np.random.get_state()
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    backend = _matplotlib_backend() if paddle and "paddleslim" not in sys.modules else None
    if paddle:
        import paddle as paddle_module

        paddle_state, device = paddle_module.get_rng_state(), paddle_module.get_device()
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
        for signum, handler in handlers.items():
            if handler is not None and signal.getsignal(signum) is not handler:
                signal.signal(signum, handler)
        if paddle:
            paddle_module.set_device(device)  # first: the generators restored are the caller's device's
            paddle_module.set_rng_state(paddle_state)
        if backend is not None:
            _restore_matplotlib_backend(backend)


def _matplotlib_backend() -> Any:
    """matplotlib's backend setting as it stands, unresolved (the "pick one when drawing" default stays that)."""
    import matplotlib

    return matplotlib.rcParams._get("backend")


def _restore_matplotlib_backend(backend: Any) -> None:
    import matplotlib

    if matplotlib.rcParams._get("backend") == backend:
        return
    # Set first: a backend module that hooks into its host as it loads (IPython's inline one shows figures in
    # the notebook) reads the setting then.
    matplotlib.rcParams._set("backend", backend)
    if "matplotlib.pyplot" in sys.modules:  # pyplot's figures are drawn by the backend it switched to
        import matplotlib.pyplot as plt

        plt.switch_backend(backend)


def params(
    config: PathLike,
    *,
    overrides: Sequence[str] = (),
    prunable: bool = False,
    filter: str | None = None,
    input_size: int | None = None,
    weights: str | None = None,
    pruned_params: str | None = None,
    pruned_ratios: str | None = None,
) -> ParamsReport:
    """``slimdet params``: the model's persistables by legacy name (shape, FLOPs share, prunable) and its totals;
    pruned by ``pruned_params``/``pruned_ratios`` or by the plan saved beside ``weights``."""
    from slimdet.commands.params import ParamsRequest, describe_config
    from slimdet.config import load_config

    with _caller_state_kept():
        request = ParamsRequest.from_flags(
            load_config(config, overrides), pruned_params=pruned_params, pruned_ratios=pruned_ratios,
            weights=weights, prunable_only=prunable, name_filter=filter, input_size=input_size,
        )  # fmt: skip
        return describe_config(request)


def sensitivity(
    config: PathLike,
    *,
    overrides: Sequence[str] = (),
    pruned_params: str | None = None,
    pruned_ratios: str | None = None,
    sensitivities_file: PathLike | None = None,
    eval_images: int | None = None,
    batch_size: int | None = None,
    workers: int = 1,
    shard: str | None = None,
    criterion: str = "l1_norm",
    cache_mb: float = 2048.0,
    device: str | None = None,
    backend: str = "auto",
    use_vdl: bool = False,
    vdl_log_dir: PathLike | None = None,
    on_start: Callable[[int, str], None] | None = None,
    on_trial: Callable[[str, float, Trial], None] | None = None,
) -> SensitivityRun:
    """``slimdet sensitivity``: prune each conv alone by each ratio, score it, record the loss in the file
    (resumed when it exists). ``on_start(trials, mode)`` once set up, ``on_trial(param, ratio, trial)`` per result.
    ``use_vdl`` / ``vdl_log_dir``: each conv's loss curve as VisualDL scalars too."""
    from slimdet.commands.sensitivity import Shard, TrialSpec, parse_params, parse_ratios, run_sensitivity

    spec = TrialSpec(
        config=str(config), overrides=tuple(overrides), params=parse_params(pruned_params),
        ratios=parse_ratios(pruned_ratios), criterion=criterion, eval_images=eval_images, batch_size=batch_size,
        cache_mb=cache_mb, device=device, backend=backend,
    )  # fmt: skip
    with _caller_state_kept():
        return run_sensitivity(spec, sensitivities_file, workers=workers, shard=Shard.parse(shard), on_start=on_start,
                               on_trial=on_trial, use_vdl=use_vdl, vdl_log_dir=vdl_log_dir)  # fmt: skip


def sensitivity_merge(files: Sequence[PathLike], *, output: PathLike) -> MergeResult:
    """``slimdet sensitivity merge``: the sensitivity files of one analysis (its shards) merged into ``output``."""
    from slimdet.commands.sensitivity_results import merge_files

    return merge_files([Path(path) for path in files], Path(output))


def sensitivity_ratios(
    sensitivities: PathLike,
    *,
    target_loss: float | None = None,
    target_flops: float | None = None,
    config: PathLike | None = None,
    overrides: Sequence[str] = (),
) -> RatiosResult:
    """``slimdet sensitivity ratios``: ``pruned_params``/``pruned_ratios`` for a loss or FLOPs target (a FLOPs
    target needs the analysed model's ``config``); ``result.ratios`` maps each conv to its ratio."""
    from slimdet.commands.sensitivity_ratios import choose_ratios

    with _caller_state_kept(paddle=target_flops is not None):  # only a FLOPs target builds the model
        return choose_ratios(
            sensitivities, target_loss=target_loss, target_flops=target_flops, config=config, overrides=overrides
        )


def sensitivity_plot(sensitivities: PathLike, *, out: PathLike = "sensitivities.png") -> PlotResult:
    """``slimdet sensitivity plot``: loss against ratio, one curve per conv, drawn into the PNG ``out``."""
    from slimdet.commands.sensitivity_results import plot_file

    return plot_file(Path(sensitivities), Path(out))


def train(
    config: PathLike,
    *,
    overrides: Sequence[str] = (),
    eval: bool = False,
    resume: PathLike | None = None,
    pruned_params: str | None = None,
    pruned_ratios: str | None = None,
    criterion: str = "l1_norm",
    quant_aware: bool = False,
    not_quant_pattern: str | None = None,
    teacher_config: PathLike | None = None,
    teacher_pretrained: str | None = None,
    distill_weight: float = DEFAULT_DISTILL_WEIGHT,
    distill_balance: str = "input-size",
    distill_temperature: float = 1.0,
    distill_confidence: float = 0.0,
    distill_feature: float = 0.0,
    distill_method: str = "split",
    teacher_backend: str = "auto",
    teacher_overrides: Sequence[str] = (),
    seed: int = 0,
    use_vdl: bool = False,
    vdl_log_dir: PathLike | None = None,
    device: str | None = None,
    quiet: bool = True,
) -> TrainResult | DistillResult:
    """``slimdet train``: train for the config's ``max_iters`` in this process; with ``teacher_config``, distilled
    from that teacher (a ``DistillResult``, its training in ``.training``), pruned first with pruning options.
    ``result.loss_history`` holds (iteration, mean loss) per ``log_iter`` window. ``quiet=False`` shows the
    progress bar (on a terminal's stderr only). ``quant_aware``: fine-tune the model of ``pretrain_weights``
    with fake-quant layers (``not_quant_pattern``: what stays float; see docs/quantization.md). ``use_vdl`` /
    ``vdl_log_dir``: the run's curves as VisualDL scalars too (``pip install 'slimdet[vdl]'``); every training
    draws them into ``curves.png`` beside its checkpoints."""
    options = dict(locals())
    if teacher_config is None:  # teacher options alone would silently do nothing
        _refuse_teacher_options(options)
    return _run_training(options, require_plan=False)


def distill_prune(
    config: PathLike,
    *,
    teacher_config: PathLike,
    teacher_pretrained: str | None = None,
    pruned_params: str | None = None,
    pruned_ratios: str | None = None,
    criterion: str = "l1_norm",
    distill_weight: float = DEFAULT_DISTILL_WEIGHT,
    distill_balance: str = "input-size",
    distill_temperature: float = 1.0,
    distill_confidence: float = 0.0,
    distill_feature: float = 0.0,
    distill_method: str = "split",
    teacher_backend: str = "auto",
    overrides: Sequence[str] = (),
    teacher_overrides: Sequence[str] = (),
    eval: bool = False,
    resume: PathLike | None = None,
    seed: int = 0,
    use_vdl: bool = False,
    vdl_log_dir: PathLike | None = None,
    device: str | None = None,
    quiet: bool = True,
) -> DistillResult:
    """``slimdet distill-prune``: prune the student and train it with its loss plus the teacher's distillation
    loss, in this process (the split loss needs ``use_fine_grained_loss=true``, which the shapes configs set)."""
    return _run_training(dict(locals()), require_plan=True)


def _refuse_teacher_options(options: Mapping[str, Any]) -> None:
    """The teacher options of ``train`` given (not at their defaults) without ``teacher_config``: an error."""
    import inspect

    from slimdet.commands.distill_request import TEACHER_ONLY, refuse_teacher_options

    defaults = inspect.signature(train).parameters
    refuse_teacher_options([name for name in TEACHER_ONLY if options[name] != defaults[name].default])


def _run_training(options: dict[str, Any], *, require_plan: bool) -> Any:
    """``train``'s and ``distill_prune``'s shared run: the job the command line runs too, in this process."""
    from slimdet.commands.distill_request import DISTILL_FLAGS
    from slimdet.commands.training import TrainingJob

    device, quiet = options.pop("device"), options.pop("quiet")
    distill_flags = {name: options.pop(name) for name in DISTILL_FLAGS}
    job = TrainingJob.from_flags(**options, distill_flags=distill_flags, require_plan=require_plan)
    with _caller_state_kept():
        return job.run(device=device, quiet=quiet)


def curves(runs: Sequence[PathLike], *, out: PathLike | None = None) -> CurvesResult:
    """``slimdet curves``: the loss terms, learning rate and mAP of ``runs`` (each a folder a training wrote, its
    latest checkpoint, or one checkpoint) drawn from their ``.state.json`` into the PNG ``out`` (default:
    ``curves.png`` beside the checkpoint for one run, in the working folder for several); ``result.runs[i]`` holds
    each run's series. Paddle-free."""
    from slimdet.commands.curves import draw_runs

    return draw_runs(runs, out)


def evaluate(
    config: PathLike,
    *,
    overrides: Sequence[str] = (),
    weights: str | None = None,
    pruned_params: str | None = None,
    pruned_ratios: str | None = None,
    output_eval: PathLike | None = None,
    device: str | None = None,
    backend: str = "auto",
    model_dir: PathLike | None = None,
    onnx: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> CheckpointEvalResult | ExportedEvalResult:
    """``slimdet eval``: a checkpoint's mAP (``weights``, default the config's; pruned by its plan sidecar), or an
    exported folder's (``model_dir``, as deployed), on the EvalReader's data. ``on_progress(images_done,
    images_total)`` as it goes."""
    from slimdet.errors import SlimdetError

    if model_dir is not None:
        checkpoint_only = (("--weights", weights), ("--pruned_params", pruned_params), ("--output_eval", output_eval),
                           ("--device", device), ("--backend", backend if backend != "auto" else None))  # fmt: skip
        given = [flag for flag, value in checkpoint_only if value]
        if given:
            raise SlimdetError(f"--model-dir scores an exported folder as it is: drop {', '.join(given)}")
        from slimdet.commands.evaluate import evaluate_exported

        with _caller_state_kept():
            return evaluate_exported(Path(model_dir), Path(config), overrides, onnx=onnx, on_image=on_progress)
    if onnx:
        raise SlimdetError("--onnx scores an exported folder's model.onnx: add --model-dir DIR")
    from slimdet.commands.evaluate import EvalRequest, evaluate_checkpoint
    from slimdet.config import load_config

    request = EvalRequest.from_flags(load_config(config, overrides), weights, pruned_params=pruned_params,
                                     pruned_ratios=pruned_ratios, output_eval=output_eval, backend=backend)  # fmt: skip
    with _caller_state_kept():
        return evaluate_checkpoint(request, device=device, on_batch=on_progress)


def export(
    config: PathLike,
    *,
    overrides: Sequence[str] = (),
    pruned_params: str | None = None,
    pruned_ratios: str | None = None,
    output_dir: PathLike = "output",
    onnx: bool = False,
) -> ExportResult:
    """``slimdet export``: the checkpoint named by the config's ``weights`` (``overrides=["weights=W"]``) as a
    Paddle Inference model in ``output_dir/<config name>/`` (+ ``model.onnx``). ``result.ok`` is False when the
    exported graph does not reproduce the checkpoint's detections (the command exits 1 then)."""
    from slimdet.commands.export import ExportRequest, export_checkpoint

    request = ExportRequest.from_flags(config, overrides, pruned_params=pruned_params, pruned_ratios=pruned_ratios,
                                       output_dir=output_dir, onnx=onnx)  # fmt: skip
    with _caller_state_kept():
        return export_checkpoint(request)


def quantize(
    model_dir: PathLike,
    config: PathLike,
    output_dir: PathLike,
    *,
    overrides: Sequence[str] = (),
    calib_images: int = 32,
    algo: str = "hist",
    onnx: bool = False,
    force: bool = False,
    on_stage: Callable[[str], None] | None = None,
) -> QuantizeResult:
    """``slimdet quantize``: int8 copies of the exported ``model_dir`` in ``output_dir``, calibrated on the config's
    training images and compared with the float model (mAP, size, latency). ``on_stage(description)`` as it goes."""
    from slimdet.commands.quantize import QuantizeRequest, quantize_export

    request = QuantizeRequest.from_flags(model_dir, config, overrides, output_dir=output_dir, calib_images=calib_images,
                                         algo=algo, onnx=onnx, force=force)  # fmt: skip
    with _caller_state_kept():
        return quantize_export(request, on_stage=on_stage)


def infer(
    *,
    model_dir: PathLike | None = None,
    config: PathLike | None = None,
    overrides: Sequence[str] = (),
    image: PathLike | None = None,
    image_dir: PathLike | None = None,
    threshold: float | None = None,
    output_dir: PathLike = "output",
    strict: bool = False,
    on_skip: Callable[[SkippedImage], None] | None = None,
) -> InferResult:
    """``slimdet infer``: detect objects in ``image`` or ``image_dir`` with an exported ``model_dir`` or a checkpoint
    (``config`` with ``overrides=["weights=W"]``); drawn copies go to ``output_dir`` (``result.images[i].drawn``).
    Unreadable files of ``image_dir`` are skipped (``result.skipped``, ``on_skip(skipped)``) unless ``strict``."""
    from slimdet.commands.infer import InferRequest
    from slimdet.commands.infer import infer as infer_images

    request = InferRequest.from_flags(model_dir=model_dir, config=config, overrides=overrides, image=image,
                                      image_dir=image_dir, threshold=threshold, output_dir=output_dir, strict=strict)  # fmt: skip
    with _caller_state_kept():
        return infer_images(request, on_skip=on_skip)


def synth_data(
    out: PathLike,
    *,
    num_train: int = 1024,
    num_test: int = 128,
    size: int = 160,
    seed: int = 0,
    hard: bool = False,
    force: bool = False,
) -> SynthReport:
    """``slimdet data synth``: the synthetic shapes dataset (VOC layout) in ``out``; same seed, same bytes."""
    from slimdet.data.synth import write_synthetic_voc

    return write_synthetic_voc(
        out, num_train=num_train, num_test=num_test, size=size, seed=seed, hard=hard, overwrite=force
    )


def check_data(
    config: PathLike,
    *,
    overrides: Sequence[str] = (),
    split: Split = "train",
    on_progress: Callable[[int, int], None] | None = None,
) -> DataCheckReport:
    """``slimdet data check``: read every annotation and image of the ``split`` ("train" or "eval") reader's
    dataset; ``result.ok`` is False when problems were found (the command exits 1 then)."""
    from slimdet.config import load_config
    from slimdet.data.check import check_dataset

    return check_dataset(load_config(config, overrides).to_dict(), split, progress=on_progress)


def show_data(
    config: PathLike, *, overrides: Sequence[str] = (), num: int = 8, out: PathLike | None = None, seed: int = 0
) -> ShowReport:
    """``slimdet data show``: ``num`` augmented training samples drawn with their boxes, as PNGs in ``out``
    (default ``<save_dir>/data_show``)."""
    from slimdet.config import load_config
    from slimdet.data.show import show_samples

    cfg = load_config(config, overrides).to_dict()
    out_dir = Path(out) if out is not None else Path(str(cfg.get("save_dir") or "output")) / "data_show"
    return show_samples(cfg, num=num, out_dir=out_dir, seed=seed)


def show_config(config: PathLike, *, overrides: Sequence[str] = ()) -> Config:
    """``slimdet config show``: the config after includes and overrides, validated, defaults filled in
    (``.to_dict()`` is what ``--json`` prints, ``.path`` the file read)."""
    from slimdet.config import load_config

    return load_config(config, overrides)


def list_configs() -> list[Path]:
    """``slimdet config list``: the shipped configs, which ``config=NAME`` finds from any working directory."""
    from slimdet.config.shipped import shipped_configs

    return list(shipped_configs())


def demo(
    out: PathLike = "demo_output", *, fast: bool = False, on_stage: Callable[[StageTime], None] | None = None
) -> DemoResult:
    """``slimdet demo``: the whole workflow on built-in data (stages already done in ``out`` are reused);
    ``fast``: tiny sizes, a smoke run. ``on_stage(stage_time)`` as each stage ends."""
    from slimdet.commands.demo import run_demo

    with _caller_state_kept():
        return run_demo(out, fast=fast, on_stage=on_stage)
