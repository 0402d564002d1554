"""Which device a run uses: ``--device`` when given, else the GPU when the config asks for it and one is there."""

from __future__ import annotations

import paddle

from slimdet.runtime import set_device


def select_device(requested: str | None, use_gpu: bool) -> str:
    """Set paddle's device and return it. Legacy configs say ``use_gpu: true``; on a machine without
    CUDA that falls back to the CPU instead of failing, while an explicit ``--device gpu`` does fail."""
    if requested:
        return set_device(requested)
    if use_gpu and paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0:
        return set_device("gpu")
    return set_device("cpu")
