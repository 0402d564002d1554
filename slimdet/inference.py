"""Paddle Inference on the CPU, for saved graphs and for live dygraph layers frozen into one.

Why: Paddle 2.6's dygraph runs convolutions on the CPU with its plain kernels and ignores
``FLAGS_use_mkldnn``, while Paddle Inference fuses conv + BN + activation and runs oneDNN kernels, several
times faster. Whatever only runs inference (a frozen teacher, evaluation, sensitivity trials) can be
traced into a graph once (``CompiledGraph``) and run there. The fused kernels reassociate float sums, so
outputs agree with dygraph's to about 1e-5 relative, not bit for bit.

A leaf module: engine, slim and deploy all use it, and it imports none of them.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from slimdet.runtime import cpu_threads, without_op_callstacks

BACKENDS = ("auto", "inference", "dygraph")  # auto: see resolve_backend
_STEM = "graph"


# Compiling a graph (trace, save, optimise, load) costs about what dygraph spends on two 608 px images on a CPU:
# 1.5 s at 96 px for MobileNetV1-YOLOv3, which then runs 6 ms per image against dygraph's 24 (one thread).
# Less work than that in one call, and "auto" keeps dygraph: a small eval set scored every snapshot would
# otherwise spend most of its time compiling.
COMPILE_PAYS_OFF_AT = 2.0  # images, counted at 608 px (an image's cost grows with its area)


def resolve_backend(requested: str, device: str, *, images: int | None = None, input_size: int = 608) -> str:
    """``requested`` with "auto" resolved for ``device`` ("cpu", "gpu:0" …) and, when known, the work of one
    call: ``images`` at ``input_size``. On a GPU auto is dygraph (cuDNN already); on a CPU it is inference
    unless that work is below ``COMPILE_PAYS_OFF_AT``."""
    if requested not in BACKENDS:
        from slimdet.errors import SlimdetError

        raise SlimdetError(f"unknown backend '{requested}': choose one of {', '.join(BACKENDS)}")
    if requested != "auto":
        return requested
    if not device.startswith("cpu"):
        return "dygraph"
    too_little = images is not None and images * (input_size / 608) ** 2 < COMPILE_PAYS_OFF_AT
    return "dygraph" if too_little else "inference"


@contextlib.contextmanager
def output_silenced() -> Iterator[None]:
    """Drop what is printed inside the block, by C++ code on file descriptors 1 and 2 (Paddle's oneDNN int8
    passes print coloured ``---`` lines there whatever glog is told) and by Python code on sys.stdout and
    sys.stderr (the calibrators' progress bars and log lines). Failures still raise with their message."""
    sys.stdout.flush()
    sys.stderr.flush()
    _flush_c_stdio()
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        _flush_c_stdio()  # C stdio buffers what it writes to a pipe: empty it while it still goes nowhere
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


def _flush_c_stdio() -> None:
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).fflush(None)


def cpu_predictor(
    model_file: Path,
    params_file: Path,
    *,
    threads: int | None = None,
    mkldnn: bool = False,
    int8: bool = False,
    memory_optim: bool = False,
):
    """A Paddle Inference predictor for a saved graph, on the CPU, quiet (no glog lines on stderr).

    ``int8``: a graph written by ``slimdet quantize``, run with oneDNN's int8 kernels (implies ``mkldnn``).
    ``memory_optim`` lets intermediate tensors share memory: an R34 YOLOv3 teacher at 320 px, batch 8,
    then peaks 300 MB lower (1.05 vs 1.35 GB), for a few percent more time per run.
    """
    from paddle import inference

    config = inference.Config(str(model_file), str(params_file))
    config.disable_gpu()
    config.set_cpu_math_library_num_threads(cpu_threads(threads))
    if mkldnn or int8:
        config.enable_mkldnn()
    if int8:
        config.enable_mkldnn_int8()
    if memory_optim:
        config.enable_memory_optim()
    config.disable_glog_info()
    if not int8:
        return inference.create_predictor(config)
    with output_silenced():
        return inference.create_predictor(config)


def save_traced(layer: Any, input_spec: Sequence[Any], stem: Path) -> None:
    """Trace ``layer``'s forward (in eval mode) and write it as a graph at ``stem`` (``.pdmodel`` + ``.pdiparams``).

    The layer is given back as it was (it may go on training). Paddle keeps the traced program, and with it
    the layer's weights, referenced for the rest of the process: a caller that must not hold them twice
    traces in a process of its own (see ``slimdet.slim.teacher_graph``).
    """
    import paddle

    sublayers = layer.sublayers(include_self=True)
    modes = [(sub, sub.training) for sub in sublayers]
    # Tracing swaps every sublayer's ``forward`` for a converted copy that breaks later dygraph steps
    # (e.g. ``Tensor.size`` becomes a call): the instances' own ``forward`` entries are put back after.
    forwards = [(sub, sub.__dict__.get("forward")) for sub in sublayers]
    for sub in sublayers:  # flags only: layer.eval() would also switch paddle's global tracer to eval mode
        sub.training = False
    try:
        with output_silenced(), without_op_callstacks():  # glog's "New Executor is Running" from the save's executor
            paddle.jit.save(paddle.jit.to_static(layer, input_spec=list(input_spec), full_graph=True), str(stem))
    finally:
        for sub, training in modes:
            sub.training = training
        for sub, forward in forwards:
            if forward is None:
                sub.__dict__.pop("forward", None)
            else:
                sub.forward = forward


class CompiledGraph:
    """A layer's forward traced once into a Paddle Inference graph (oneDNN) and run on numpy arrays.

    The graph holds the weights as they were when it was built and never sees later changes; the layer
    is traced in eval mode and given back as it was (it may go on training, or be freed). ``input_spec``
    names and shapes the inputs (-1 for any size); outputs come back in the forward's order.
    """

    def __init__(self, layer: Any, input_spec: Sequence[Any], *, threads: int | None = None) -> None:
        with tempfile.TemporaryDirectory(prefix="slimdet-graph-") as folder:
            stem = Path(folder) / _STEM
            save_traced(layer, input_spec, stem)
            self._load(stem, threads)  # the predictor reads program and weights into memory, so the folder may go

    @classmethod
    def from_files(cls, stem: Path, *, threads: int | None = None) -> CompiledGraph:
        """The graph ``save_traced`` wrote at ``stem`` (``.pdmodel`` + ``.pdiparams``); the files may go after."""
        graph = cls.__new__(cls)
        graph._load(stem, threads)
        return graph

    def _load(self, stem: Path, threads: int | None) -> None:
        self._predictor = cpu_predictor(
            Path(f"{stem}.pdmodel"), Path(f"{stem}.pdiparams"), threads=threads, mkldnn=True, memory_optim=True
        )
        self._inputs = [self._predictor.get_input_handle(name) for name in self._predictor.get_input_names()]
        self._outputs = [self._predictor.get_output_handle(name) for name in self._predictor.get_output_names()]

    def __call__(self, *arrays: np.ndarray) -> list[np.ndarray]:
        for handle, array in zip(self._inputs, arrays, strict=True):
            array = np.ascontiguousarray(array)
            handle.reshape(list(array.shape))
            handle.copy_from_cpu(array)
        self._predictor.run()
        return [handle.copy_to_cpu() for handle in self._outputs]
