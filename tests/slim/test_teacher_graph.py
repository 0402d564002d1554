"""The compiled teacher: a Paddle Inference graph, built in a child process from the weights on disk, that gives
the dygraph teacher's outputs at any size and own loss, and keeps no dygraph copy of its weights."""

import zlib  # noqa: F401  (before paddle, see slimdet/__init__.py)

import numpy as np
import paddle
import pytest

from slimdet.errors import WeightsError
from slimdet.modeling.build import build_model
from slimdet.slim.distill import FrozenTeacher
from slimdet.weights import save_weights

from ..modeling.voc_configs import voc_cfg

R34 = {**voc_cfg("yolov3_r34_voc"), "num_classes": 3, "use_fine_grained_loss": True}


@pytest.fixture(scope="module")
def r34_teacher_model():
    """A real YOLOv3-R34 (upsampling, concatenation, three levels) with random, non-trivial BN statistics."""
    paddle.seed(3)
    model = build_model(R34, name_prefix="teacher_")
    for layer in model.sublayers():
        if isinstance(layer, (paddle.nn.BatchNorm, paddle.nn.BatchNorm2D)):
            layer._mean.set_value(paddle.randn(layer._mean.shape) * 0.1)
            layer._variance.set_value(paddle.rand(layer._variance.shape) + 0.5)
    return model


@pytest.fixture(scope="module")
def r34_weights(r34_teacher_model, tmp_path_factory):
    return save_weights(r34_teacher_model, tmp_path_factory.mktemp("teacher") / "r34.pdparams")


@pytest.fixture(scope="module")
def both_teachers(r34_teacher_model, r34_weights):
    """The dygraph teacher and the compiled one, the latter traced with its tips (for the feature term): its
    plain call drops them, so one child process serves both kinds of test; the default graph (no tips) is
    compared with dygraph through the distill-prune runs' losses (tests/commands/test_distill.py)."""
    compiled = FrozenTeacher.compiled_from(R34, str(r34_weights), prefix="teacher_", tips=True)
    return FrozenTeacher(r34_teacher_model), compiled


@pytest.mark.parametrize(("batch", "size"), [(2, 64), (1, 96), (3, 32)])
def test_compiled_teacher_gives_the_dygraph_outputs_and_tips_for_any_batch_and_size(both_teachers, batch, size):
    dygraph, compiled = both_teachers
    assert compiled.compiled and not dygraph.compiled
    image = paddle.to_tensor(np.random.default_rng(size).standard_normal((batch, 3, size, size)).astype("float32"))
    expected, got = dygraph(image), compiled(image)
    assert [list(out.shape) for out in got] == [list(out.shape) for out in expected]
    assert [list(out.shape)[2:] for out in got] == [[size // r] * 2 for r in (32, 16, 8)]
    (_, expected_tips), (_, got_tips) = dygraph.outputs_and_tips(image), compiled.outputs_and_tips(image)
    tip_shapes = [[batch, channels, size // r, size // r] for channels, r in ((1024, 32), (512, 16), (256, 8))]
    assert [list(tip.shape) for tip in got_tips] == tip_shapes
    for want, have in zip([*expected, *expected_tips], [*got, *got_tips]):
        # The fused kernels reassociate float sums: about 1e-4 of the largest value apart (see teacher_graph).
        scale = float(np.abs(want.numpy()).max())
        np.testing.assert_allclose(have.numpy(), want.numpy(), atol=1e-4 * max(scale, 1.0), rtol=0)
    assert all(out.stop_gradient for out in [*got, *got_tips])


def test_the_compiled_teacher_holds_no_dygraph_weights_and_gives_the_dygraph_teachers_loss(both_teachers):
    dygraph, compiled = both_teachers
    assert compiled.model is None  # its weights live only in the predictor: nothing in this process can train them
    assert (compiled.num_classes, compiled.num_anchors) == (dygraph.num_classes, dygraph.num_anchors) == (3, 3)
    image = paddle.to_tensor(np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype("float32"))
    rng = np.random.default_rng(1)
    boxes = np.zeros((2, 50, 4), dtype="float32")
    boxes[:, 0] = [0.5, 0.5, 0.4, 0.3]  # one box per image (cx, cy, w, h), the rest padding
    gt = {"gt_bbox": paddle.to_tensor(boxes)}
    for level, stride in enumerate((32, 16, 8)):  # fine-grained targets: (x, y, w, h, scale, obj, classes…)
        side = 64 // stride
        gt[f"target{level}"] = paddle.to_tensor(rng.uniform(size=(2, 3, 6 + 3, side, side)).astype("float32"))
    want, have = dygraph.loss(dygraph(image), gt)["loss"], compiled.loss(compiled(image), gt)["loss"]
    assert float(have) == pytest.approx(float(want), rel=1e-4) and float(have) > 0


def test_a_weights_file_that_does_not_fit_is_reported_from_the_child(tmp_path):
    paddle.seed(5)
    mobilenet = {**voc_cfg("yolov3_mobilenet_v1_voc"), "num_classes": 3, "use_fine_grained_loss": True}
    wrong = save_weights(build_model(mobilenet, random_init=False), tmp_path / "mobilenet.pdparams")  # any values
    with pytest.raises(WeightsError):
        FrozenTeacher.compiled_from(R34, str(wrong), prefix="teacher_")
