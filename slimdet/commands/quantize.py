"""``slimdet quantize``'s core: check the float export and the flags, calibrate and write the int8 folder, then
score and time float against int8 per backend (the pieces are ``deploy.quantize``'s)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from slimdet.config import Config, load_config
from slimdet.data import build_dataset
from slimdet.deploy.calibration import DEFAULT_CALIBRATION_IMAGES, calibration_feeds, calibration_images
from slimdet.deploy.evaluate import check_classes, score_detector
from slimdet.deploy.infer_cfg import FILE_NAME as INFER_CFG_FILE
from slimdet.deploy.infer_cfg import InferConfig
from slimdet.deploy.predictor import MODEL_FILE, ONNX_FILE, ONNX_INSTALL_HINT, PARAMS_FILE, Detector, import_onnx_tools
from slimdet.deploy.quantize import ALGOS, BackendRow, QuantizeResult, compare_backend, write_int8
from slimdet.engine.evaluate import build_evaluator
from slimdet.errors import SlimdetError, WeightsError, did_you_mean
from slimdet.runtime import cpu_threads


def check_algo(algo: str) -> str:
    """PaddleSlim's spelling of a calibration method given in any case (``kl`` is ``KL``)."""
    by_lower = {name.lower(): name for name in ALGOS}
    if algo.lower() not in by_lower:
        raise SlimdetError(
            f"unknown calibration algorithm '{algo}'{did_you_mean(algo, ALGOS)}: use one of {', '.join(ALGOS)}"
        )
    return by_lower[algo.lower()]


def read_float_export(model_dir: Path, *, onnx: bool) -> InferConfig:
    """The ``infer_cfg.yml`` of a float folder made by ``slimdet export``, or a line saying what is wrong."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise WeightsError(f"model folder '{model_dir}' does not exist: run slimdet export first")
    needed = (MODEL_FILE, PARAMS_FILE, INFER_CFG_FILE, *((ONNX_FILE,) if onnx else ()))
    missing = [name for name in needed if not (model_dir / name).is_file()]
    if missing:
        how = "slimdet export --onnx" if missing == [ONNX_FILE] else "slimdet export"
        raise WeightsError(f"'{model_dir}' lacks {', '.join(missing)}: point --model-dir at a folder made by {how}")
    infer_cfg = InferConfig.read(model_dir)
    if infer_cfg.precision != "float32":
        raise WeightsError(f"'{model_dir}' is already {infer_cfg.precision}: quantize the float export it came from")
    return infer_cfg


def _check_output(output_dir: Path, model_dir: Path, force: bool) -> None:
    if output_dir.resolve() == model_dir.resolve():
        raise SlimdetError(f"--output-dir '{output_dir}' is the float model being read: choose another folder")
    if output_dir.exists() and not force:
        raise SlimdetError(f"'{output_dir}' already exists: choose another --output-dir or pass --force to replace it")


def _import_onnx_quantization() -> None:
    import_onnx_tools()
    try:
        import onnx  # noqa: F401  (onnxruntime.quantization needs it)
    except ImportError:
        raise SlimdetError(f"ONNX int8 needs the onnx package: {ONNX_INSTALL_HINT}") from None


@dataclass(frozen=True)
class QuantizeRequest:
    """What ``slimdet quantize`` was asked, checked once: the float export (``model_dir``, its ``infer_cfg``), the
    merged config whose TrainReader calibrates and EvalReader scores, the int8 folder, and the settings."""

    model_dir: Path
    infer_cfg: InferConfig
    cfg: Config
    output_dir: Path
    calib_images: int = DEFAULT_CALIBRATION_IMAGES
    algo: str = "hist"
    onnx: bool = False

    @classmethod
    def from_flags(
        cls,
        model_dir: str | Path,
        config: str | Path,
        overrides: Sequence[str] = (),
        *,
        output_dir: str | Path,
        calib_images: int = DEFAULT_CALIBRATION_IMAGES,
        algo: str = "hist",
        onnx: bool = False,
        force: bool = False,
    ) -> QuantizeRequest:
        """The request as the command line gives it, every flag checked before the config is read: the algorithm,
        the float folder, the output folder (``force`` replaces it), the ONNX tools when ``onnx``."""
        algo = check_algo(algo)
        model_dir, output_dir = Path(model_dir), Path(output_dir)
        infer_cfg = read_float_export(model_dir, onnx=onnx)
        _check_output(output_dir, model_dir, force)
        if onnx:
            _import_onnx_quantization()
        cfg = load_config(config, overrides)
        return cls(model_dir, infer_cfg, cfg, output_dir, calib_images, algo, onnx)


def quantize_export(request: QuantizeRequest, *, on_stage: Callable[[str], None] | None = None) -> QuantizeResult:
    """``slimdet quantize``: int8 models of the float export ``model_dir`` in ``output_dir``, compared with it.

    The config gives the TrainReader's images to calibrate on and the EvalReader's data and metric to score with.
    ``on_stage(description)`` reports what runs now (progress display).
    """
    stage = on_stage or (lambda _: None)
    model_dir, output_dir, infer_cfg = request.model_dir, request.output_dir, request.infer_cfg
    algo, onnx, calib_images = request.algo, request.onnx, request.calib_images
    data = request.cfg.to_dict()
    eval_dataset = build_dataset(data, "eval")
    check_classes(infer_cfg, eval_dataset)
    images = calibration_images(data, calib_images)
    threads = cpu_threads()
    started = time.perf_counter()

    stage(f"reading {len(images)} calibration images")
    feeds = calibration_feeds(images, infer_cfg)
    metric = ""

    def score(detector: Detector) -> float:
        nonlocal metric
        stage(f"scoring {detector.name}")
        summary = score_detector(detector, infer_cfg, eval_dataset, build_evaluator(data, eval_dataset))
        metric = f"{summary.metric} {summary.description}"
        return float(summary.metrics["mAP"])

    stage(f"calibrating int8 ({algo})")
    files = write_int8(model_dir, infer_cfg, output_dir, feeds, algo, onnx=onnx)
    rows: list[BackendRow] = []
    for backend_onnx in (False, True) if onnx else (False,):
        rows += compare_backend(model_dir, output_dir, onnx=backend_onnx, score=score, feed=feeds[0], threads=threads)
    return QuantizeResult(
        model_dir=str(model_dir),
        out_dir=str(output_dir),
        algo=algo,
        calibration_images=len(images),
        input_size=infer_cfg.input_size,
        threads=threads,
        metric=metric,
        eval_images=len(eval_dataset),
        rows=tuple(rows),
        files=files,
        seconds=time.perf_counter() - started,
    )
