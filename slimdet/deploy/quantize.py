"""Post-training int8 of an exported (pruned) detector, measured against the float model it came from.

``slimdet quantize`` (its core is ``slimdet.commands.quantize``) reads a float folder written by ``slimdet
export``, calibrates the activation ranges on a few training images prepared with the folder's own
preprocessing, and writes an int8 folder that every deploy command loads like an export (``infer_cfg.yml``
says ``precision: int8``):

- Paddle Inference: post-training quantization as PaddleSlim's ``quant_post_static`` sets it up (calibration
  ``hist``, ``KL``, ``mse`` or ``avg``), run by the Paddle class it wraps, writes ``model.pdmodel`` +
  ``model.pdiparams`` with int8 weights and quantize/dequantize pairs, which oneDNN fuses into int8 kernels
  on the CPU.
- ONNX Runtime (``--onnx``): onnxruntime's static quantization of the export's ``model.onnx``, on the same
  images: convolutions in QDQ form, weights int8 per channel with 7-bit range (``reduce_range``: CPUs
  without VNNI saturate the 16-bit sums of full-range u8×s8 products).

A quantization-aware checkpoint (``train --quant-aware``) needs no calibration: its scales were learnt, and
``slimdet export`` turns its fake-quant graph into the same int8 form (``freeze_quant_aware``).

The pruning plan is already baked into the float graph, so pruned exports need nothing more. The int8
folder is written into a temp folder renamed into place once complete (a failure leaves nothing behind);
then both models of each backend are scored on the EvalReader's data and timed at batch 1, side by side.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paddle

from slimdet._files import atomic_dir
from slimdet.deploy.calibration import Feed
from slimdet.deploy.infer_cfg import InferConfig
from slimdet.deploy.latency import median_latency_ms
from slimdet.deploy.predictor import (
    MODEL_FILE,
    ONNX_FILE,
    PARAMS_FILE,
    Detector,
    OnnxPredictor,
    PaddlePredictor,
)
from slimdet.inference import output_silenced
from slimdet.slim.quant_settings import BITS

ALGOS = ("hist", "KL", "mse", "avg")  # PaddleSlim's calibration methods
# onnxruntime's nearest calibrator for each (it has no MSE search: mse falls back to the plain range)
ORT_CALIBRATION = {"hist": "Percentile", "KL": "Entropy", "mse": "MinMax", "avg": "MinMax"}
ONNX_QUANT_OPSET = 13  # per-channel DequantizeLinear (its axis attribute) needs opset 13; export writes 11
PLAN_FILE = "model.plan.json"


@dataclass(frozen=True)
class BackendRow:
    """One model on one backend: its score, size on disk and batch-1 latency."""

    backend: str  # paddle_inference | onnxruntime
    precision: str  # float32 | int8
    mean_ap: float  # the config's mAP, a fraction
    size_bytes: int  # the files this backend loads
    latency_ms: float  # median batch-1 run at the exported input size

    def to_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
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
    rows: tuple[BackendRow, ...]  # float then int8, per backend
    files: Mapping[str, int]  # the int8 folder: file name -> bytes
    seconds: float

    def pairs(self) -> list[tuple[BackendRow, BackendRow]]:
        """(float, int8) per backend, in the order they were measured."""
        return list(zip(self.rows[0::2], self.rows[1::2]))

    def slower_int8(self) -> list[str]:
        """Engines whose int8 model is not faster than their float model on this machine."""
        return [int8.backend for float_row, int8 in self.pairs() if int8.latency_ms >= float_row.latency_ms]

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
                int8.backend: {
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


class FeedLoader(paddle.io.DataLoader):
    """Calibration feeds in the shape PaddleSlim takes: its post-training quantization accepts only a
    ``paddle.io.DataLoader`` (generators do not get past that check) and calls it for each pass."""

    def __init__(self, feeds: Sequence[Feed]) -> None:  # no super().__init__: nothing is loaded, only replayed
        self._feeds = list(feeds)

    def __call__(self) -> Iterator[Feed]:
        yield from self._feeds

    def __len__(self) -> int:
        return len(self._feeds)


# PaddleSlim's ``quant_post_static`` settings, passed to Paddle's own PostTrainingQuantization (which it wraps)
# where Paddle's defaults differ: importing PaddleSlim costs seconds, and int8 needs nothing else of it.
PTQ_SETTINGS: Mapping[str, Any] = {
    "batch_size": 1,
    "hist_percent": 0.9999,
    "quantizable_op_type": ("conv2d", "depthwise_conv2d", "conv2d_transpose", "mul", "matmul", "matmul_v2"),
    "onnx_format": True,
}


def quantize_paddle(model_dir: Path, target: Path, feeds: Sequence[Feed], algo: str) -> None:
    """Write ``target/model.*``: the float Paddle graph of ``model_dir`` with int8 weights and calibrated
    activation ranges. Runs in static mode and a scope of its own; dygraph is back on afterwards."""
    from paddle.static.quantization import PostTrainingQuantization

    scope = paddle.static.Scope()  # the float weights load here, not into the process-wide scope
    paddle.enable_static()
    try:
        with output_silenced(), paddle.static.scope_guard(scope):
            ptq = PostTrainingQuantization(
                executor=paddle.static.Executor(paddle.CPUPlace()),
                model_dir=str(model_dir),
                model_filename=MODEL_FILE,
                params_filename=PARAMS_FILE,
                data_loader=FeedLoader(feeds),
                batch_nums=len(feeds),
                scope=scope,
                algo=algo,
                **PTQ_SETTINGS,
            )
            ptq.quantize()
            ptq.save_quantized_model(str(target), model_filename=MODEL_FILE, params_filename=PARAMS_FILE)
    finally:
        paddle.disable_static()


def freeze_quant_aware(folder: Path) -> None:
    """Rewrite the fake-quant graph ``folder/model.*`` (a quantization-aware model as export traced it) in the
    form ``quantize_paddle`` writes: quantize/dequantize pairs holding the trained scales, weights stored in
    int8. In place, in a scope of its own (what ``ImperativeQuantAware.save_quantized_model`` does in the
    process-wide one); dygraph is back on afterwards."""
    from paddle.base import core
    from paddle.base.framework import IrGraph
    from paddle.static.quantization import QuantWeightPass, ReplaceFakeQuantDequantPass

    scope, place = paddle.static.Scope(), paddle.CPUPlace()
    stem = str(folder / Path(MODEL_FILE).stem)
    paddle.enable_static()
    try:
        with output_silenced(), paddle.static.scope_guard(scope):
            executor = paddle.static.Executor(place)
            program, feeds, fetches = paddle.static.load_inference_model(stem, executor)  # read whole: may overwrite
            graph = IrGraph(core.Graph(program.desc), for_test=True)
            ReplaceFakeQuantDequantPass(scope, place, quant_bits=BITS).apply(graph)
            QuantWeightPass(scope, place).apply(graph)
            program = graph.to_program()
            feed_vars = [program.global_block().var(name) for name in feeds]
            paddle.static.save_inference_model(stem, feed_vars, fetches, executor, program=program, clip_extra=True)
    finally:
        paddle.disable_static()
    Path(f"{stem}{Path(PARAMS_FILE).suffix}.info").unlink(missing_ok=True)  # it listed the float weights


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


def _backend_files(folder: Path, backend: str) -> int:
    names = (ONNX_FILE,) if backend == OnnxPredictor.name else (MODEL_FILE, PARAMS_FILE)
    return sum((folder / name).stat().st_size for name in names)


def compare_backend(
    float_dir: Path,
    int8_dir: Path,
    *,
    onnx: bool,
    score: Callable[[Detector], float],
    feed: Feed,
    threads: int,
) -> tuple[BackendRow, BackendRow]:
    """Float and int8 model of one backend: mAP (``score``), size, and batch-1 latency timed side by side."""
    if onnx:
        pair: list[Detector] = [
            OnnxPredictor(float_dir / ONNX_FILE, threads=threads),
            OnnxPredictor(int8_dir / ONNX_FILE, threads=threads),
        ]
    else:
        pair = [PaddlePredictor(float_dir, threads=threads), PaddlePredictor(int8_dir, threads=threads, int8=True)]
    latencies = median_latency_ms(pair, feed["image"], feed["im_size"])
    float_row, int8_row = (
        BackendRow(
            backend=detector.name,
            precision=precision,
            mean_ap=score(detector),
            size_bytes=_backend_files(folder, detector.name),
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
