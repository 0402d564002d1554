"""The frozen teacher's forward as a Paddle Inference graph, built in a short-lived child process.

Why a graph: see :mod:`slimdet.inference`. Measured on the 2-core machine (R34 YOLOv3, batch 8, 160 px, one
core): 2.4 s per teacher forward in dygraph, 0.3 s through the predictor. A teacher never trains, so
nothing is lost by freezing its weights into a graph once at start-up; its outputs agree with dygraph's
to about 1e-4 (float reassociation in the fused kernels), far below what the distillation loss can tell apart.

Why a child process: tracing keeps the dygraph model (and so a second copy of every teacher weight)
referenced for the rest of the process that traced it. The child builds the teacher, loads its weights,
writes the graph and exits; the training process loads the predictor from those files, so the teacher's
weights live in it once, inside the predictor.

On a GPU, dygraph already runs cuDNN, so ``FrozenTeacher`` keeps the dygraph path there.

With ``tips`` the graph also outputs each level's tip feature map (what a feature-level distillation term
compares); without, it is the raw outputs alone, so the default teacher computes and copies nothing more.
"""

from __future__ import annotations

import multiprocessing
import tempfile
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import paddle
from paddle.static import InputSpec

from slimdet.inference import CompiledGraph, save_traced
from slimdet.modeling.modes import RawOutputs


def _save_teacher_graph(cfg: Mapping[str, Any], weights: str, prefix: str, stem: Path, tips: bool = False) -> None:
    """In the child: the teacher of ``cfg`` with ``weights`` loaded strictly, traced to ``stem``."""
    from slimdet.modeling.build import build_model
    from slimdet.weights import load_weights

    model = build_model(cfg, name_prefix=prefix, random_init=False)  # loaded strictly next
    load_weights(model, weights, strict=True)
    save_traced(RawOutputs(model, tips=tips), [InputSpec([-1, 3, -1, -1], "float32", name="image")], stem)


class TeacherGraph:
    """A teacher's ``raw_outputs`` (with ``tips``, ``raw_outputs_and_tips``) run by Paddle Inference on the CPU,
    for any batch size and input size."""

    def __init__(
        self,
        cfg: Mapping[str, Any],
        weights: str,
        *,
        prefix: str = "",
        threads: int | None = None,
        tips: bool = False,
    ) -> None:
        """Build the teacher of ``cfg`` (names prefixed ``prefix``) with ``weights`` in a child process and load
        its graph. A user mistake in the child (e.g. ``WeightsError``) is raised here, as it was there."""
        self.tips = tips
        spawn = multiprocessing.get_context("spawn")  # a fork of a process running paddle threads can hang
        with tempfile.TemporaryDirectory(prefix="slimdet-teacher-") as folder:
            stem = Path(folder) / "teacher"
            with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as child:
                child.submit(_save_teacher_graph, dict(cfg), str(weights), prefix, stem, tips).result()
            # The predictor reads program and weights into memory, so the folder may go.
            self._graph = CompiledGraph.from_files(stem, threads=threads)

    def __call__(self, image: paddle.Tensor) -> list[paddle.Tensor]:
        """The raw outputs (a graph built with tips computes those too, and drops them here)."""
        return self._split(self._run(image))[0]

    def outputs_and_tips(self, image: paddle.Tensor) -> tuple[list[paddle.Tensor], list[paddle.Tensor]]:
        """The raw outputs and the tip feature maps; only for a graph built with ``tips``."""
        if not self.tips:
            raise ValueError("this teacher graph was built without tips: build it with tips=True")
        return self._split(self._run(image))

    def _run(self, image: paddle.Tensor) -> list[paddle.Tensor]:
        return [paddle.to_tensor(out) for out in self._graph(image.numpy().astype("float32", copy=False))]

    def _split(self, outs: list[paddle.Tensor]) -> tuple[list[paddle.Tensor], list[paddle.Tensor]]:
        """(raw outputs, tips): a graph with tips gives one of each per level, outputs first."""
        half = len(outs) // 2 if self.tips else len(outs)
        return outs[:half], outs[half:]
