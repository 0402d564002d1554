"""Post-training int8 of an exported (pruned) detector, measured against the float model it came from.

``slimdet quantize`` reads a float folder written by ``slimdet export``, calibrates the activation ranges
on a few training images prepared with the folder's own preprocessing, and writes an int8 folder that
every deploy command loads like an export (``infer_cfg.yml`` says ``precision: int8``):

- Paddle Inference: PaddleSlim's ``quant_post_static`` (calibration ``hist``, ``KL``, ``mse`` or ``avg``)
  writes ``model.pdmodel`` + ``model.pdiparams`` with int8 weights and quantize/dequantize pairs, which
  oneDNN fuses into int8 kernels on the CPU.
- ONNX Runtime (``--onnx``): onnxruntime's static quantization of the export's ``model.onnx``, on the same
  images: convolutions in QDQ form, weights int8 per channel with 7-bit range (``reduce_range``: CPUs
  without VNNI saturate the 16-bit sums of full-range u8×s8 products).

The pruning plan is already baked into the float graph, so pruned exports need nothing more. The int8
folder is written into a temp folder renamed into place once complete (a failure leaves nothing behind);
then both models of each engine are scored on the EvalReader's data and timed at batch 1, side by side.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paddle

from slimdet._files import atomic_dir
from slimdet.deploy.calibration import DEFAULT_CALIBRATION_IMAGES, Feed, calibration_feeds, calibration_images
from slimdet.deploy.evaluate import check_classes, score_detector
from slimdet.deploy.infer_cfg import FILE_NAME as INFER_CFG_FILE
from slimdet.deploy.infer_cfg import InferConfig
from slimdet.deploy.latency import median_latency_ms
from slimdet.deploy.predictor import (
    MODEL_FILE,
    ONNX_FILE,
    ONNX_INSTALL_HINT,
    PARAMS_FILE,
    Detector,
    OnnxPredictor,
    PaddlePredictor,
    import_onnx_tools,
)
from slimdet.errors import SlimdetError, WeightsError, did_you_mean
from slimdet.inference import output_silenced
from slimdet.runtime import cpu_threads

ALGOS = ("hist", "KL", "mse", "avg")  # PaddleSlim's calibration methods
# onnxruntime's nearest calibrator for each (it has no MSE search: mse falls back to the plain range)
ORT_CALIBRATION = {"hist": "Percentile", "KL": "Entropy", "mse": "MinMax", "avg": "MinMax"}
ONNX_QUANT_OPSET = 13  # per-channel DequantizeLinear (its axis attribute) needs opset 13; export writes 11
PLAN_FILE = "model.plan.json"


@dataclass(frozen=True)
class EngineRow:
    """One model on one engine: its score, size on disk and batch-1 latency."""

    engine: str  # paddle_inference | onnxruntime
    precision: str  # float32 | int8
    mean_ap: float  # the config's mAP, a fraction
    size_bytes: int  # the files this engine loads
    latency_ms: float  # median batch-1 run at the exported input size

    def to_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "precision": self.precision,
            "mAP": self.mean_ap,
            "size_bytes": self.size_bytes,
            "latency_ms": round(self.latency_ms, 3),
        }


@dataclass(frozen=True)
class QuantizeResult:
    """What ``slimdet quantize`` wrote and how the int8 models compare with the float ones."""

    model_dir: str
    out_dir: str
    algo: str
    calibration_images: int
    input_size: int
    threads: int
    metric: str  # e.g. "VOC mAP(0.50, 11point)"
    eval_images: int
    rows: tuple[EngineRow, ...]  # float then int8, per engine
    files: Mapping[str, int]  # the int8 folder: file name -> bytes
    seconds: float

    def pairs(self) -> list[tuple[EngineRow, EngineRow]]:
        """(float, int8) per engine, in the order they were measured."""
        return list(zip(self.rows[0::2], self.rows[1::2]))

    def slower_int8(self) -> list[str]:
        """Engines whose int8 model is not faster than their float model on this machine."""
        return [int8.engine for float_row, int8 in self.pairs() if int8.latency_ms >= float_row.latency_ms]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_dir": self.model_dir,
            "out_dir": self.out_dir,
            "algo": self.algo,
            "calibration_images": self.calibration_images,
            "input_size": self.input_size,
            "threads": self.threads,
            "metric": self.metric,
            "eval_images": self.eval_images,
            "rows": [row.to_dict() for row in self.rows],
            "int8_vs_float": {
                int8.engine: {
                    "mAP_diff": int8.mean_ap - float_row.mean_ap,
                    "size": int8.size_bytes / float_row.size_bytes,
                    "latency": int8.latency_ms / float_row.latency_ms,
                }
                for float_row, int8 in self.pairs()
            },
            "slower_int8": self.slower_int8(),
            "files": dict(self.files),
            "seconds": round(self.seconds, 3),
        }


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


class FeedLoader(paddle.io.DataLoader):
    """Calibration feeds in the shape PaddleSlim takes: its post-training quantization accepts only a
    ``paddle.io.DataLoader`` (generators do not get past that check) and calls it for each pass."""

    def __init__(self, feeds: Sequence[Feed]) -> None:  # no super().__init__: nothing is loaded, only replayed
        self._feeds = list(feeds)

    def __call__(self) -> Iterator[Feed]:
        yield from self._feeds

    def __len__(self) -> int:
        return len(self._feeds)


def quantize_paddle(model_dir: Path, target: Path, feeds: Sequence[Feed], algo: str) -> None:
    """Write ``target/model.*``: the float Paddle graph of ``model_dir`` with int8 weights and calibrated
    activation ranges. Runs in static mode and a scope of its own; dygraph is back on afterwards."""
    from paddleslim.quant import quant_post_static

    scope = paddle.static.Scope()  # the float weights load here, not into the process-wide scope
    paddle.enable_static()
    try:
        with output_silenced(), paddle.static.scope_guard(scope):
            quant_post_static(
                paddle.static.Executor(paddle.CPUPlace()),
                str(model_dir),
                str(target),
                data_loader=FeedLoader(feeds),
                model_filename=MODEL_FILE,
                params_filename=PARAMS_FILE,
                save_model_filename=MODEL_FILE,
                save_params_filename=PARAMS_FILE,
                batch_nums=len(feeds),
                scope=scope,
                algo=algo,
            )
    finally:
        paddle.disable_static()


def quantize_onnx(float_onnx: Path, target: Path, feeds: Sequence[Feed], algo: str) -> None:
    """Write ``target``: ``float_onnx`` with int8 convolutions (QDQ), calibrated on ``feeds``.

    paddle2onnx writes weights as Constant nodes and opset 11; onnxruntime's pre-processing turns them into
    initializers (so weights are stored as int8) and folds BN into the convs, then the graph is lifted
    to opset 13 for per-channel scales.
    """
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._feeds = iter(feeds)

        def get_next(self) -> Feed | None:
            return next(self._feeds, None)

    with tempfile.TemporaryDirectory(prefix=".onnx-int8-", dir=target.parent) as work, output_silenced():
        prepared = Path(work) / "prepared.onnx"
        quant_pre_process(str(float_onnx), str(prepared), skip_symbolic_shape=True)
        onnx.save(version_converter.convert_version(onnx.load(str(prepared)), ONNX_QUANT_OPSET), str(prepared))
        quantize_static(
            str(prepared),
            str(target),
            Reader(),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            reduce_range=True,
            op_types_to_quantize=["Conv"],
            calibrate_method=getattr(CalibrationMethod, ORT_CALIBRATION[algo]),
            extra_options={"CalibMovingAverage": algo == "avg"},
        )


def _engine_files(folder: Path, engine: str) -> int:
    names = (ONNX_FILE,) if engine == OnnxPredictor.name else (MODEL_FILE, PARAMS_FILE)
    return sum((folder / name).stat().st_size for name in names)


def compare_engine(
    float_dir: Path,
    int8_dir: Path,
    *,
    onnx: bool,
    score: Callable[[Detector], float],
    feed: Feed,
    threads: int,
) -> tuple[EngineRow, EngineRow]:
    """Float and int8 model of one engine: mAP (``score``), size, and batch-1 latency timed side by side."""
    if onnx:
        pair: list[Detector] = [
            OnnxPredictor(float_dir / ONNX_FILE, threads=threads),
            OnnxPredictor(int8_dir / ONNX_FILE, threads=threads),
        ]
    else:
        pair = [PaddlePredictor(float_dir, threads=threads), PaddlePredictor(int8_dir, threads=threads, int8=True)]
    latencies = median_latency_ms(pair, feed["image"], feed["im_size"])
    float_row, int8_row = (
        EngineRow(
            engine=detector.name,
            precision=precision,
            mean_ap=score(detector),
            size_bytes=_engine_files(folder, detector.name),
            latency_ms=latency,
        )
        for detector, precision, folder, latency in zip(pair, ("float32", "int8"), (float_dir, int8_dir), latencies)
    )
    return float_row, int8_row


def write_int8(
    model_dir: Path, infer_cfg: InferConfig, output_dir: Path, feeds: Sequence[Feed], algo: str, *, onnx: bool
) -> dict[str, int]:
    """The int8 folder of the float export ``model_dir``, staged and renamed into ``output_dir`` whole:
    the Paddle graph, ``model.onnx`` with ``onnx``, ``infer_cfg.yml`` saying int8, the plan sidecar if any.
    Returns its files and their sizes."""
    with atomic_dir(output_dir) as staged:
        quantize_paddle(model_dir, staged, feeds, algo)
        dataclasses.replace(infer_cfg, precision="int8").write(staged)
        if (model_dir / PLAN_FILE).is_file():
            shutil.copy2(model_dir / PLAN_FILE, staged / PLAN_FILE)  # what the graph was pruned by, for the record
        if onnx:
            quantize_onnx(model_dir / ONNX_FILE, staged / ONNX_FILE, feeds, algo)
        files = {p.name: p.stat().st_size for p in sorted(staged.iterdir()) if p.is_file()}
    return files


def quantize_export(
    model_dir: Path,
    config: Path,
    overrides: Sequence[str] = (),
    *,
    output_dir: Path,
    calib_images: int = DEFAULT_CALIBRATION_IMAGES,
    algo: str = "hist",
    onnx: bool = False,
    force: bool = False,
    on_stage: Callable[[str], None] | None = None,
) -> QuantizeResult:
    """``slimdet quantize``: int8 models of the float export ``model_dir`` in ``output_dir``, compared with it.

    ``config`` (with ``overrides``) gives the TrainReader's images to calibrate on and the EvalReader's data
    and metric to score with. ``on_stage(description)`` reports what runs now (progress display).
    """
    from slimdet.config import load_config
    from slimdet.data import build_dataset
    from slimdet.engine.evaluate import build_evaluator

    stage = on_stage or (lambda _: None)
    algo = check_algo(algo)
    model_dir, output_dir = Path(model_dir), Path(output_dir)
    infer_cfg = read_float_export(model_dir, onnx=onnx)
    _check_output(output_dir, model_dir, force)
    if onnx:
        _import_onnx_quantization()
    data = load_config(config, overrides).to_dict()
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
    rows: list[EngineRow] = []
    for engine_onnx in (False, True) if onnx else (False,):
        rows += compare_engine(model_dir, output_dir, onnx=engine_onnx, score=score, feed=feeds[0], threads=threads)
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
