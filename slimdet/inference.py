"""Paddle Inference on the CPU: the one place a saved graph becomes a predictor.

A leaf that both ``slim`` (the frozen teacher's compiled forward) and ``deploy`` (exported models) use, so
that neither has to import the other.
"""

from __future__ import annotations

from pathlib import Path

from paddle import inference

from slimdet.runtime import cpu_threads


def cpu_predictor(model_file: Path, params_file: Path, *, threads: int | None = None, mkldnn: bool = False):
    """A Paddle Inference predictor for a saved graph, on the CPU, quiet (no glog lines on stderr)."""
    config = inference.Config(str(model_file), str(params_file))
    config.disable_gpu()
    config.set_cpu_math_library_num_threads(cpu_threads(threads))
    if mkldnn:
        config.enable_mkldnn()
    config.disable_glog_info()
    return inference.create_predictor(config)
