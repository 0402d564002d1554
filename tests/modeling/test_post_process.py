"""Post-processing: legacy yolo_box decoding to original pixels, multiclass NMS, same result under to_static."""

import math

import numpy as np
import paddle
import pytest

from slimdet.config.defaults import DOWNSAMPLE_RATIOS
from slimdet.config.geometry import YOLOv3Geometry
from slimdet.errors import ConfigError
from slimdet.modeling.post_process import NMSSettings, YOLOv3PostProcess

SMALL_ANCHORS = [[10, 13], [16, 30], [33, 23]]


def _one_box_output(num_classes: int = 2) -> np.ndarray:
    """A 2x2 map (stride 8, 16-px input) for 2 images: only anchor 1 at row 1, col 0 of image 0 is confident."""
    out = np.zeros((2, 3, 5 + num_classes, 2, 2), dtype="float32")
    out[:, :, 4] = -20.0  # objectness ~ 2e-9: below the 0.01 threshold everywhere
    a, k, col = 1, 1, 0
    out[0, a, 0:4, k, col] = [0.0, 0.0, math.log(0.5), math.log(0.5)]  # tx, ty, tw, th
    out[0, a, 4, k, col] = 20.0
    out[0, a, 5:, k, col] = [3.0, -3.0]
    return out.reshape(2, 3 * (5 + num_classes), 2, 2)


def test_boxes_follow_the_legacy_yolo_box_formulas_in_original_pixels():
    post = YOLOv3PostProcess(YOLOv3Geometry(2, SMALL_ANCHORS, [[0, 1, 2]], [8]))
    im_size = paddle.to_tensor([[100, 200], [50, 50]], dtype="int32")  # (h, w) of the original images
    result = post([paddle.to_tensor(_one_box_output())], im_size)
    # docs/legacy.md, "Post-processing", anchor (16, 30), input side 8·2 = 16, image w = 200, h = 100:
    cx, cy = (0 + 0.5) * 200 / 2, (1 + 0.5) * 100 / 2
    bw, bh = 0.5 * 16 * 200 / 16, 0.5 * 30 * 100 / 16
    box = [max(cx - bw / 2, 0), max(cy - bh / 2, 0), min(cx + bw / 2, 199), min(cy + bh / 2, 99)]
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    expected = np.array([[0, sig(20) * sig(3), *box], [1, sig(20) * sig(-3), *box]], dtype="float32")
    np.testing.assert_allclose(result["bbox"].numpy(), expected, rtol=1e-5, atol=1e-3)
    assert result["bbox_num"].numpy().tolist() == [2, 0]
    assert result["bbox_num"].dtype == paddle.int32


def test_keep_top_k_and_score_threshold_are_honoured():
    settings = NMSSettings(score_threshold=0.5, keep_top_k=1)
    post = YOLOv3PostProcess(YOLOv3Geometry(2, SMALL_ANCHORS, [[0, 1, 2]], [8]), nms=settings)
    result = post([paddle.to_tensor(_one_box_output())], paddle.to_tensor([[100, 200], [50, 50]], dtype="int32"))
    assert result["bbox"].shape == [1, 6]  # the class-1 row (score 0.047) is below 0.5
    assert result["bbox"].numpy()[0, 0] == 0


def _random_outputs(seed: int, num_classes: int = 20) -> list[paddle.Tensor]:
    rng = np.random.default_rng(seed)
    return [
        paddle.to_tensor(rng.normal(0, 2, (2, 3 * (5 + num_classes), 64 // r, 64 // r)).astype("float32"))
        for r in DOWNSAMPLE_RATIOS
    ]


@pytest.mark.parametrize("scale", [1.0, -10.0], ids=["many boxes", "no boxes"])
def test_to_static_gives_the_same_boxes_as_eager(scale):
    def make():
        return YOLOv3PostProcess(YOLOv3Geometry(num_classes=20))

    outputs = _random_outputs(0)
    if scale < 0:  # push every objectness logit far below the threshold
        outputs = [o + scale * 10 for o in outputs]
    im_size = paddle.to_tensor([[480, 640], [375, 500]], dtype="int32")
    eager = make()(outputs, im_size)
    static_layer = paddle.jit.to_static(make(), full_graph=True)  # the AST path export uses
    static = static_layer(outputs, im_size)
    program = static_layer.forward.concrete_program.main_program
    assert "multiclass_nms3" in {op.type for op in program.global_block().ops}  # really ran as a static graph
    assert static["bbox"].shape == eager["bbox"].shape
    np.testing.assert_array_equal(static["bbox_num"].numpy(), eager["bbox_num"].numpy())
    np.testing.assert_allclose(static["bbox"].numpy(), eager["bbox"].numpy(), rtol=1e-6, atol=1e-4)
    if scale > 0:
        assert eager["bbox"].shape[0] == 200  # keep_top_k = 100 per image was reached
        boxes = eager["bbox"].numpy()
        assert boxes[:, 2].min() >= 0 and boxes[:, 4].max() <= 639 and boxes[:, 5].max() <= 479
    else:
        assert eager["bbox"].shape == [0, 6]


def test_nms_section_is_read_and_checked():
    assert NMSSettings.from_section({"type": "MultiClassNMS", "keep_top_k": 50}).keep_top_k == 50
    with pytest.raises(ConfigError, match="MatrixNMS"):
        NMSSettings.from_section({"type": "MatrixNMS"})
    with pytest.raises(ConfigError, match="keep_topk"):
        NMSSettings.from_section({"keep_topk": 50})
