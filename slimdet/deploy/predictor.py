"""Run a detector on a prepared batch, whatever it is: exported graph or live dygraph model.

Every runner takes ``image`` float32 [N,3,S,S] and ``im_size`` int32 [N,2] (original h, w) and returns
``Detections``: rows (class, score, x1, y1, x2, y2) in original pixels plus a count per image, exactly
what the exported graph outputs. Export's parity check and ``slimdet infer`` only see this interface.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import paddle

from slimdet.errors import SlimdetError, WeightsError
from slimdet.inference import cpu_predictor
from slimdet.modeling.modes import inference_context
from slimdet.runtime import cpu_threads

MODEL_FILE = "model.pdmodel"
PARAMS_FILE = "model.pdiparams"
ONNX_FILE = "model.onnx"
ONNX_INSTALL_HINT = "pip install 'slimdet[onnx]'"


@dataclass(frozen=True)
class Detections:
    """Detector output for one batch: ``bbox`` [K,6] rows grouped by image, ``bbox_num`` [N] counts."""

    bbox: np.ndarray
    bbox_num: np.ndarray

    def per_image(self) -> list[np.ndarray]:
        """The rows of each image, in batch order."""
        ends = np.cumsum(self.bbox_num.astype(np.int64))
        return list(np.split(self.bbox, ends[:-1])) if len(ends) else []


class Detector(Protocol):
    """Anything that maps a prepared batch to detections."""

    name: str

    def __call__(self, image: np.ndarray, im_size: np.ndarray) -> Detections: ...


def _as_detections(bbox: np.ndarray, bbox_num: np.ndarray) -> Detections:
    return Detections(
        bbox=np.asarray(bbox, dtype=np.float32).reshape(-1, 6),
        bbox_num=np.asarray(bbox_num, dtype=np.int32).reshape(-1),
    )


class PaddlePredictor:
    """An exported folder run through Paddle Inference on the CPU (what deployment uses)."""

    name = "paddle_inference"

    def __init__(
        self, model_dir: Path, *, threads: int | None = None, mkldnn: bool = False, int8: bool = False
    ) -> None:
        model_dir = Path(model_dir)
        missing = [name for name in (MODEL_FILE, PARAMS_FILE) if not (model_dir / name).is_file()]
        if missing:
            raise WeightsError(
                f"'{model_dir}' lacks {', '.join(missing)}: point --model-dir at a folder made by slimdet export"
            )
        self._predictor = cpu_predictor(
            model_dir / MODEL_FILE, model_dir / PARAMS_FILE, threads=threads, mkldnn=mkldnn, int8=int8
        )
        self._inputs = self._predictor.get_input_names()
        self._outputs = self._predictor.get_output_names()

    def __call__(self, image: np.ndarray, im_size: np.ndarray) -> Detections:
        feeds = {"image": np.ascontiguousarray(image, np.float32), "im_size": np.ascontiguousarray(im_size, np.int32)}
        for name in self._inputs:
            handle = self._predictor.get_input_handle(name)
            handle.reshape(feeds[name].shape)
            handle.copy_from_cpu(feeds[name])
        self._predictor.run()
        bbox, bbox_num = (self._predictor.get_output_handle(name).copy_to_cpu() for name in self._outputs)
        return _as_detections(bbox, bbox_num)


class DygraphPredictor:
    """The live model in eval mode (what ``slimdet eval`` measures); restores its train/eval mode."""

    name = "dygraph"

    def __init__(self, model) -> None:
        self._model = model

    def __call__(self, image: np.ndarray, im_size: np.ndarray) -> Detections:
        with inference_context(self._model):
            out = self._model(paddle.to_tensor(image, dtype="float32"), paddle.to_tensor(im_size, dtype="int32"))
        return _as_detections(out["bbox"].numpy(), out["bbox_num"].numpy())


def import_onnx_tools():
    """(paddle2onnx, onnxruntime), or one line saying how to install them (onnx too: export repairs the graph)."""
    try:  # an optional extra: imported only when asked for
        import onnx  # noqa: F401
        import onnxruntime
        import paddle2onnx
    except ImportError as err:
        raise SlimdetError(
            f"ONNX needs paddle2onnx, onnxruntime and onnx ({err.name} is missing): {ONNX_INSTALL_HINT}"
        ) from None
    return paddle2onnx, onnxruntime


class OnnxPredictor:
    """``model.onnx`` run through onnxruntime on the CPU.

    paddle2onnx converts ``multiclass_nms3`` for batch size 1 only, so a batch is run image by image.
    Its rows come sorted by score rather than grouped by class; compare them order-free.
    """

    name = "onnxruntime"

    def __init__(self, path: Path, *, threads: int | None = None) -> None:
        _, onnxruntime = import_onnx_tools()
        if not Path(path).is_file():
            raise WeightsError(f"'{path}' does not exist: make it with slimdet export --onnx (or quantize --onnx)")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = cpu_threads(threads)
        options.log_severity_level = 3  # errors only
        self._session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __call__(self, image: np.ndarray, im_size: np.ndarray) -> Detections:
        rows, counts = [], []
        for one_image, one_size in zip(image, im_size):
            bbox, bbox_num = self._session.run(
                None, {"image": one_image[None].astype(np.float32), "im_size": one_size[None].astype(np.int32)}
            )
            rows.append(np.asarray(bbox, np.float32).reshape(-1, 6))
            counts.append(int(np.asarray(bbox_num).reshape(-1)[0]))
        return _as_detections(np.concatenate(rows) if rows else np.zeros((0, 6)), np.array(counts))
