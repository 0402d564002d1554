"""slimdet.inference: a traced layer's weights are not kept alive by the trace, and a layer of a class traced
before is not converted again."""

import zlib  # noqa: F401  (before paddle, see slimdet/__init__.py)

import gc
import os
from pathlib import Path

import numpy as np
import paddle
from paddle.static import InputSpec

from slimdet.inference import CompiledGraph, save_traced

MIB = 1 << 20
WEIGHT_MIB = 32


def _resident_mib() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MIB


def test_tracing_a_layer_again_and_again_does_not_keep_its_weights(tmp_path):
    """Each layer is traced, then dropped: its 32 MiB weight must go with it, as an evaluation per snapshot
    of a long training traces the model again each time (Paddle's jit.save kept every traced weight alive
    until the process ended: 4 traces held 4 weights)."""
    resident = []
    for trace in range(4):
        paddle.seed(trace)
        layer = paddle.nn.Linear(3072, WEIGHT_MIB * MIB // 4 // 3072)
        save_traced(layer, [InputSpec([-1, 3072], "float32", name="x")], tmp_path / f"linear{trace}")
        if trace == 0:  # the graph written is the layer's
            x = np.random.default_rng(0).standard_normal((2, 3072)).astype("float32")
            (out,) = CompiledGraph.from_files(tmp_path / "linear0")(x)
            np.testing.assert_allclose(out, layer(paddle.to_tensor(x)).numpy(), rtol=1e-4, atol=1e-4)
        del layer
        gc.collect()
        resident.append(_resident_mib())
    # From the second trace on (the first also loads what any trace needs), a leak adds 2 × 32 MiB here.
    assert resident[-1] - resident[1] < WEIGHT_MIB, resident


class _Block(paddle.nn.Layer):
    def __init__(self) -> None:
        super().__init__()
        self.conv = paddle.nn.Conv2D(3, 4, 3)

    def forward(self, x):
        return paddle.nn.functional.relu(self.conv(x)).mean(axis=[2, 3])


class _Net(paddle.nn.Layer):
    def __init__(self) -> None:
        super().__init__()
        self.first, self.second = _Block(), _Block()

    def forward(self, x):
        return self.first(x) + self.second(x)


def test_a_second_instance_of_a_traced_class_reuses_the_converted_forwards(tmp_path, monkeypatch):
    from paddle.jit.dy2static.program_translator import FunctionCache

    converted = []
    convert = FunctionCache._convert
    monkeypatch.setattr(
        FunctionCache, "_convert", lambda self, func: converted.append(func.__name__) or convert(self, func)
    )
    spec = [InputSpec([-1, 3, 8, 8], "float32", name="x")]
    save_traced(_Net(), spec, tmp_path / "a")
    assert sorted(converted) == ["forward", "forward"]  # _Net's and _Block's (once for both blocks)
    save_traced(_Net(), spec, tmp_path / "b")
    assert len(converted) == 2
