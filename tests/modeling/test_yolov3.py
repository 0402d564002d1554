"""YOLOv3's contract: raw outputs, eval detections, train losses + head outputs, exposed anchors."""

import numpy as np
import paddle
import pytest

from slimdet.config.defaults import YOLOV3_ANCHORS
from slimdet.config.geometry import YOLOv3Geometry
from slimdet.modeling.backbones import MobileNetV1
from slimdet.modeling.head import YOLOv3Head
from slimdet.modeling.post_process import YOLOv3PostProcess
from slimdet.modeling.yolov3 import YOLOv3


def _small_yolov3(loss=None, num_classes: int = 3) -> YOLOv3:
    with paddle.utils.unique_name.guard():
        backbone = MobileNetV1()
        head = YOLOv3Head(backbone.out_channels, YOLOv3Geometry(num_classes))
    post = YOLOv3PostProcess(YOLOv3Geometry(num_classes))
    return YOLOv3(backbone, head, post, loss)


class RecordingLoss:
    """Stands in for YOLOv3Loss: returns one named loss and remembers what it was given."""

    def __call__(self, outputs, gt):
        self.seen = (outputs, gt)
        return {"loss": paddle.add_n([o.mean() for o in outputs])}


def test_eval_forward_returns_detections_scaled_to_im_size():
    model = _small_yolov3()
    model.eval()
    image = paddle.rand([2, 3, 64, 64])
    out = model(image, paddle.to_tensor([[480, 640], [64, 64]], dtype="int32"))
    assert set(out) == {"bbox", "bbox_num"}
    boxes, counts = out["bbox"].numpy(), out["bbox_num"].numpy()
    assert boxes.shape == (counts.sum(), 6)
    first = boxes[: counts[0]]
    assert first[:, [2, 4]].max() <= 639 and first[:, [3, 5]].max() <= 479
    assert first[:, 2].max() > 64  # really scaled to the 640-px original, not the 64-px input


def test_eval_forward_without_im_size_uses_the_input_size():
    model = _small_yolov3()
    model.eval()
    out = model(paddle.rand([1, 3, 64, 64]))
    assert out["bbox"].numpy()[:, 2:].max() <= 63


def test_train_forward_returns_the_losses_the_head_outputs_and_the_tips_feeding_them():
    loss = RecordingLoss()
    model = _small_yolov3(loss)
    model.train()
    gt = {"gt_bbox": paddle.zeros([2, 50, 4])}
    out = model(paddle.rand([2, 3, 64, 64]), gt=gt)
    assert set(out) == {"loss", "head_outputs", "head_tips"}
    assert [o.shape for o in out["head_outputs"]] == [[2, 24, 2, 2], [2, 24, 4, 4], [2, 24, 8, 8]]
    assert [t.shape for t in out["head_tips"]] == [[2, 1024, 2, 2], [2, 512, 4, 4], [2, 256, 8, 8]]
    for tip, output, conv in zip(out["head_tips"], out["head_outputs"], model.head.outputs):
        np.testing.assert_array_equal(conv(tip).numpy(), output.numpy())  # the map the output conv reads
    assert loss.seen[1] is gt and loss.seen[0] is out["head_outputs"]


def test_train_mode_without_a_loss_says_what_to_do():
    model = _small_yolov3()
    model.train()
    with pytest.raises(ValueError, match="eval"):
        model(paddle.rand([1, 3, 64, 64]))


def test_model_exposes_classes_anchors_masks_and_strides():
    model = _small_yolov3(num_classes=3)
    assert model.num_classes == 3
    assert model.anchors == [list(a) for a in YOLOV3_ANCHORS]
    assert model.anchor_masks == [[6, 7, 8], [3, 4, 5], [0, 1, 2]]
    assert model.downsample_ratios == [32, 16, 8]


def test_head_and_post_process_must_share_one_geometry():
    with paddle.utils.unique_name.guard():
        backbone = MobileNetV1()
        head = YOLOv3Head(backbone.out_channels, YOLOv3Geometry(3))
    post = YOLOv3PostProcess(YOLOv3Geometry(4))
    with pytest.raises(ValueError, match="different geometries"):
        YOLOv3(backbone, head, post)
