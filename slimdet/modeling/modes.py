"""The one mode guard and the one raw-outputs adapter that everything running a detector outside training uses.

``eval_mode`` puts a model in eval mode for a block and gives every sublayer back its own mode afterwards
(a model with frozen BN layers keeps them frozen; a trainer evaluating mid-run keeps training), and paddle's
global tracer mode with it. ``RawOutputs`` shows a detector as "image in, raw head outputs out": what
PaddleSlim traces to prune, what FLOPs are counted on, and what the teacher's inference graph compiles.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import paddle
from paddle import nn
from paddle.base import framework


@contextmanager
def eval_mode(model: nn.Layer) -> Iterator[None]:
    """Eval mode inside; on the way out each sublayer's own mode, and the tracer's, as they were."""
    modes = [(layer, layer.training) for layer in model.sublayers(include_self=True)]
    tracer = framework._dygraph_tracer()
    tracer_training = tracer._train_mode if tracer is not None else None
    model.eval()
    try:
        yield
    finally:
        for layer, training in modes:
            layer.training = training
        if tracer is not None:
            tracer._train_mode = tracer_training


@contextmanager
def inference_context(model: nn.Layer) -> Iterator[None]:
    """``eval_mode`` and no gradients: how a model is run for its predictions."""
    with eval_mode(model), paddle.no_grad():
        yield


class RawOutputs(nn.Layer):
    """``detector.raw_outputs(image)`` as a layer's forward (the detector's own forward when it has none).

    YOLOv3's forward needs ``im_size`` in eval mode and ground truth in train mode, and its post-processing
    has no convolutions: the raw feature maps (coarsest level first) are all that pruning, FLOPs counting
    and the teacher graph need. Holding the detector as a sublayer lets PaddleSlim reach its parameters.
    With ``tips`` the forward gives the raw outputs followed by the tip feature maps that feed them
    (``detector.raw_outputs_and_tips``), for a teacher graph that serves a feature-level distillation term.
    """

    def __init__(self, detector: nn.Layer, *, tips: bool = False) -> None:
        super().__init__()
        self.detector = detector
        self._has_raw_outputs = hasattr(detector, "raw_outputs")  # decided here: to_static traces forward
        self._tips = tips

    def forward(self, image):
        if self._tips:
            outputs, tips = self.detector.raw_outputs_and_tips(image)
            return [*outputs, *tips]
        if self._has_raw_outputs:
            return self.detector.raw_outputs(image)
        return self.detector(image)
