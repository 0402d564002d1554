"""The compiled teacher: a Paddle Inference graph that gives the dygraph teacher's outputs, at any size."""

import zlib  # noqa: F401  (before paddle, see slimdet/__init__.py)

import numpy as np
import paddle
import pytest

from slimdet.modeling.build import build_model
from slimdet.slim.distill import FrozenTeacher

from ..modeling.voc_configs import voc_cfg


@pytest.fixture(scope="module")
def r34_teacher_model():
    """A real YOLOv3-R34 (upsampling, concatenation, three levels) with random, non-trivial BN statistics."""
    paddle.seed(3)
    model = build_model({**voc_cfg("yolov3_r34_voc"), "num_classes": 3}, name_prefix="teacher_")
    for layer in model.sublayers():
        if isinstance(layer, (paddle.nn.BatchNorm, paddle.nn.BatchNorm2D)):
            layer._mean.set_value(paddle.randn(layer._mean.shape) * 0.1)
            layer._variance.set_value(paddle.rand(layer._variance.shape) + 0.5)
    return model


@pytest.fixture(scope="module")
def both_teachers(r34_teacher_model):
    return FrozenTeacher(r34_teacher_model), FrozenTeacher(r34_teacher_model, compiled=True)


@pytest.mark.parametrize(("batch", "size"), [(2, 64), (1, 96), (3, 32)])
def test_compiled_teacher_gives_the_dygraph_outputs_for_any_batch_and_size(both_teachers, batch, size):
    dygraph, compiled = both_teachers
    assert compiled.compiled and not dygraph.compiled
    image = paddle.to_tensor(np.random.default_rng(size).standard_normal((batch, 3, size, size)).astype("float32"))
    expected, got = dygraph(image), compiled(image)
    assert [list(out.shape) for out in got] == [list(out.shape) for out in expected]
    assert [list(out.shape)[2:] for out in got] == [[size // r] * 2 for r in (32, 16, 8)]
    for want, have in zip(expected, got):
        scale = float(np.abs(want.numpy()).max())
        np.testing.assert_allclose(have.numpy(), want.numpy(), atol=1e-4 * max(scale, 1.0), rtol=0)
    assert all(out.stop_gradient for out in got)


def test_compiling_leaves_the_teacher_weights_untouched():
    paddle.seed(5)
    model = build_model({**voc_cfg("yolov3_mobilenet_v1_voc"), "num_classes": 3}, name_prefix="teacher_")
    before = {name: tensor.numpy().copy() for name, tensor in model.state_dict().items()}
    teacher = FrozenTeacher(model, compiled=True)
    teacher(paddle.rand([1, 3, 64, 64]))
    after = model.state_dict()
    assert all(np.array_equal(before[name], after[name].numpy()) for name in before)
    assert not any(layer.training for layer in model.sublayers(include_self=True))
