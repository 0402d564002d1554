"""The PaddleSlim wrapper: refuses cuts it cannot honour, stays quiet, leaves paddle as it found it."""

import numpy as np
import paddle
import pytest
from paddle import nn

from slimdet.errors import PlanError
from slimdet.slim.pruner import prune_filters

from .toy import TOY_INPUT, conv_bn


class Residual(nn.Layer):
    """Two convs whose outputs are added: their filters must be cut together."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = conv_bn("res2a_stem", 3, 8, 1, sep="_")
        self.left = conv_bn("res2a_branch2a", 8, 8, 3, sep="_")
        self.right = conv_bn("res2a_branch1", 8, 8, 1, sep="_")
        self.head = conv_bn("head", 8, 4, 1, sep="_")

    def forward(self, image):
        x = self.stem(image)
        return self.head(self.left(x) + self.right(x))


def snapshot(model):
    return {p.name: p.numpy().copy() for p in model.parameters()}


def test_convs_tied_by_a_residual_add_cannot_both_be_listed():
    with paddle.utils.unique_name.guard():
        model = Residual()
    before = snapshot(model)
    tied = "'res2a_branch1_weights' shares its output channels with 'res2a_branch2a_weights'"
    with pytest.raises(PlanError, match=tied):
        prune_filters(
            model, {"res2a_branch2a_weights": 0.5, "res2a_branch1_weights": 0.25}, criterion="l1_norm", trace_size=8
        )
    after = snapshot(model)
    assert all(np.array_equal(before[name], after[name]) for name in before)


def test_one_conv_of_a_residual_pair_cuts_both():
    with paddle.utils.unique_name.guard():
        model = Residual()
    groups = prune_filters(model, {"res2a_branch2a_weights": 0.5}, criterion="l1_norm", trace_size=8)
    cut = {(c.name, c.axis): c.size_after for c in groups["res2a_branch2a_weights"]}
    assert cut[("res2a_branch1_weights", 0)] == 4 and cut[("head_weights", 1)] == 4
    assert model(paddle.rand([1, 3, 8, 8])).shape == [1, 4, 8, 8]


def test_a_conv_nothing_consumes_is_refused(toy_detector):
    with pytest.raises(PlanError, match="nothing consumes its output"):
        prune_filters(toy_detector, {"yolo_output.0.conv.weights": 0.5}, criterion="l1_norm", trace_size=TOY_INPUT)
    assert toy_detector.output.weight.shape == [6, 16, 1, 1]


def test_pruning_prints_nothing(toy_detector, capfd):
    prune_filters(toy_detector, {"yolo_block.0.2.conv.weights": 0.5}, criterion="fpgm", trace_size=TOY_INPUT)
    assert capfd.readouterr() == ("", "")


def test_paddle_is_back_in_dygraph_mode_when_tracing_fails():
    class Broken(nn.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2D(3, 4, 1)

        def raw_outputs(self, image):
            raise RuntimeError("boom")

    with paddle.utils.unique_name.guard():
        model = Broken()
    with pytest.raises(RuntimeError, match="boom"):
        prune_filters(model, {model.conv.weight.name: 0.5}, criterion="l1_norm", trace_size=8)
    assert paddle.in_dynamic_mode()
