"""Paddle Inference on the CPU: the one place a saved graph becomes a predictor.

A leaf that both ``slim`` (the frozen teacher's compiled forward) and ``deploy`` (exported models) use, so
that neither has to import the other. ``output_silenced`` keeps what Paddle's C++ code prints off the user's
terminal (the int8 passes print whatever glog is told).
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from paddle import inference

from slimdet.runtime import cpu_threads


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
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).fflush(None)


def cpu_predictor(
    model_file: Path, params_file: Path, *, threads: int | None = None, mkldnn: bool = False, int8: bool = False
):
    """A Paddle Inference predictor for a saved graph, on the CPU, quiet (no glog lines on stderr).

    ``int8``: a graph written by ``slimdet quantize``, run with oneDNN's int8 kernels (implies ``mkldnn``).
    """
    config = inference.Config(str(model_file), str(params_file))
    config.disable_gpu()
    config.set_cpu_math_library_num_threads(cpu_threads(threads))
    if mkldnn or int8:
        config.enable_mkldnn()
    if int8:
        config.enable_mkldnn_int8()
    config.disable_glog_info()
    if not int8:
        return inference.create_predictor(config)
    with output_silenced():
        return inference.create_predictor(config)
