"""The YOLOv3 loss against values worked out by hand on one 2×2 level with one ground truth.

Set-up: a 64-px image, stride 32 → a 2×2 grid, anchors (10,13) (30,30) (60,50), C = 2, batch of 2
(the second image is empty, so every term is halved by the batch mean). The ground truth is
(cx, cy, w, h) = (0.7, 0.3, 0.5, 0.4) of class 1, i.e. 32×25.6 px: its best anchor is (30,30)
(IoU 768/951.2 against 819.2/3000 for (60,50)), its cell is column int(0.7·2) = 1, row int(0.3·2) = 0.
"""

import zlib  # noqa: F401  (before paddle)

import math

import numpy as np
import paddle
import pytest

from slimdet.config.geometry import YOLOv3Geometry
from slimdet.errors import ConfigError
from slimdet.modeling.losses import YOLOv3Loss, split_output

C = 2
ANCHORS = [[10, 13], [30, 30], [60, 50]]
GT = (0.7, 0.3, 0.5, 0.4)
CLS = 1
# Gt2YoloTarget's encoding of GT for anchor 1 at row 0, column 1 (docs/legacy.md, "Loss"), by hand:
TX, TY = 0.7 * 2 - 1, 0.3 * 2 - 0
TW, TH = math.log(0.5 * 64 / 30), math.log(0.4 * 64 / 30)
TSCALE = 2 - 0.5 * 0.4


def bce(x, z):
    return max(x, 0.0) - x * z + math.log1p(math.exp(-abs(x)))


def logit(p):
    return math.log(p / (1 - p))


def make_loss(**kwargs) -> YOLOv3Loss:
    return YOLOv3Loss(YOLOv3Geometry(C, ANCHORS, [[0, 1, 2]], [32]), use_fine_grained_loss=True, **kwargs)


def make_inputs(raw: np.ndarray):
    """raw: [2, 3, 5+C, 2, 2] logits → the head output tensor and the gt dict."""
    output = paddle.to_tensor(raw.reshape(2, 3 * (5 + C), 2, 2).astype("float32"), stop_gradient=False)
    target = np.zeros((2, 3, 6 + C, 2, 2), dtype="float32")
    target[0, 1, :6, 0, 1] = [TX, TY, TW, TH, TSCALE, 1.0]
    target[0, 1, 6 + CLS, 0, 1] = 1.0
    gt_bbox = np.zeros((2, 50, 4), dtype="float32")
    gt_bbox[0, 0] = GT
    gt_class = np.zeros((2, 50), dtype="int32")
    gt_class[0, 0] = CLS
    gt_score = np.zeros((2, 50), dtype="float32")
    gt_score[0, 0] = 1.0
    gt = {
        "gt_bbox": paddle.to_tensor(gt_bbox),
        "gt_class": paddle.to_tensor(gt_class),
        "gt_score": paddle.to_tensor(gt_score),
        "target0": paddle.to_tensor(target),
    }
    return output, gt


def small_box_logits(seed: int = 0) -> np.ndarray:
    """Random logits whose boxes are tiny (w, h logits ≤ −3), so no prediction overlaps the gt by
    more than a few percent and the ignore mask keeps every negative."""
    raw = np.random.default_rng(seed).normal(size=(2, 3, 5 + C, 2, 2))
    raw[:, :, 2:4] = -3.0 - np.abs(raw[:, :, 2:4])
    return raw


def test_split_output_follows_the_per_anchor_channel_layout():
    raw = np.arange(2 * 3 * (5 + C) * 2 * 2, dtype="float32").reshape(2, 3, 5 + C, 2, 2)
    parts = split_output(paddle.to_tensor(raw.reshape(2, -1, 2, 2)), C)
    for index, name in enumerate(["x", "y", "w", "h", "obj"]):
        np.testing.assert_array_equal(parts[name].numpy(), raw[:, :, index])
    assert parts["cls"].shape == [2, 3, 2, 2, C]
    np.testing.assert_array_equal(parts["cls"].numpy()[1, 2, 0, 1], raw[1, 2, 5:, 0, 1])


def test_fine_grained_terms_match_the_hand_computed_loss():
    raw = small_box_logits()
    output, gt = make_inputs(raw)
    losses = make_loss()([output], gt)

    p = raw[0, 1, :, 0, 1]  # the one positive: image 0, anchor 1, row 0, column 1
    expected_xy = TSCALE * (bce(p[0], TX) + bce(p[1], TY)) / 2
    expected_wh = TSCALE * (abs(p[2] - TW) + abs(p[3] - TH)) / 2
    expected_cls = (bce(p[5], 0.0) + bce(p[6], 1.0)) / 2
    negatives = sum(
        bce(raw[n, a, 4, j, i], 0.0)
        for n in range(2) for a in range(3) for j in range(2) for i in range(2)
        if (n, a, j, i) != (0, 1, 0, 1)
    )  # fmt: skip
    expected_obj = (bce(p[4], 1.0) + negatives) / 2

    assert float(losses["loss_xy"]) == pytest.approx(expected_xy, rel=1e-5)
    assert float(losses["loss_wh"]) == pytest.approx(expected_wh, rel=1e-5)
    assert float(losses["loss_obj"]) == pytest.approx(expected_obj, rel=1e-5)
    assert float(losses["loss_cls"]) == pytest.approx(expected_cls, rel=1e-5)
    assert float(losses["loss"]) == pytest.approx(expected_xy + expected_wh + expected_obj + expected_cls, rel=1e-5)


def test_box_gradients_reach_only_the_assigned_prediction():
    output, gt = make_inputs(small_box_logits())
    make_loss()([output], gt)["loss"].backward()
    grad = output.grad.numpy().reshape(2, 3, 5 + C, 2, 2)
    box_grad = np.abs(grad[:, :, :4])
    assert np.all(box_grad[0, 1, :, 0, 1] > 0)
    box_grad[0, 1, :, 0, 1] = 0
    assert np.all(box_grad == 0)
    assert np.all(grad[:, :, 4] != 0)  # objectness is trained everywhere (nothing is ignored here)


def _with_box(raw: np.ndarray, anchor: int, row: int, col: int, box: tuple[float, float, float, float]) -> None:
    """Set the logits of one prediction so that it decodes to the normalised (cx, cy, w, h) box."""
    cx, cy, w, h = box
    aw, ah = ANCHORS[anchor]
    raw[0, anchor, 0, row, col] = logit(cx * 2 - col)
    raw[0, anchor, 1, row, col] = logit(cy * 2 - row)
    raw[0, anchor, 2, row, col] = math.log(w * 64 / aw)
    raw[0, anchor, 3, row, col] = math.log(h * 64 / ah)


def test_negative_overlapping_a_gt_above_ignore_thresh_is_not_penalised():
    raw = small_box_logits(1)
    cx, cy, w, h = GT
    # two other anchors of the positive's cell, boxes nested in the gt: IoU = their width share
    _with_box(raw, anchor=0, row=0, col=1, box=(cx, cy, w * 0.8, h))  # IoU 0.8
    _with_box(raw, anchor=2, row=0, col=1, box=(cx, cy, w * 0.6, h))  # IoU 0.6
    output, gt = make_inputs(raw)

    never_ignore = float(make_loss(ignore_thresh=1.0)([output], gt)["loss_obj"])
    default = float(make_loss(ignore_thresh=0.7)([output], gt)["loss_obj"])
    strict = float(make_loss(ignore_thresh=0.5)([output], gt)["loss_obj"])

    at_08, at_06 = raw[0, 0, 4, 0, 1], raw[0, 2, 4, 0, 1]
    assert never_ignore - default == pytest.approx(bce(at_08, 0) / 2, rel=1e-4)
    assert never_ignore - strict == pytest.approx((bce(at_08, 0) + bce(at_06, 0)) / 2, rel=1e-4)


@pytest.mark.parametrize(("seed", "ignore_thresh"), [(2, 0.7), (1, 0.3), (4, 0.3)])
def test_fine_grained_loss_equals_paddles_fused_yolo_loss_for_a_single_gt(seed, ignore_thresh):
    # With one gt (no two gts competing for a cell) and no label smoothing, the fused op computes the
    # same terms; seeds 1 and 4 at 0.3 have predictions inside the ignore mask, so it is compared too.
    raw = np.random.default_rng(seed).normal(size=(2, 3, 5 + C, 2, 2)) * 1.5
    output, gt = make_inputs(raw)
    fine = float(make_loss(ignore_thresh=ignore_thresh)([output], gt)["loss"])
    never_ignore = float(make_loss(ignore_thresh=1.0)([output], gt)["loss"])
    coarse_losses = YOLOv3Loss(YOLOv3Geometry(C, ANCHORS, [[0, 1, 2]], [32]), ignore_thresh=ignore_thresh)([output], gt)
    assert set(coarse_losses) == {"loss_yolo", "loss"}
    assert float(coarse_losses["loss"]) == pytest.approx(fine, rel=1e-5)
    assert (fine < never_ignore) == (ignore_thresh < 0.5)  # the mask bites exactly in the chosen cases
    coarse_losses["loss"].backward()
    assert np.isfinite(output.grad.numpy()).all() and np.abs(output.grad.numpy()).sum() > 0


@pytest.mark.parametrize("ignore_thresh", [0.7, 0.3])
def test_fine_grained_loss_on_gt2yolotarget_targets_equals_the_fused_op_on_three_levels(ignore_thresh):
    from slimdet.config.defaults import DOWNSAMPLE_RATIOS, YOLOV3_ANCHOR_MASKS, YOLOV3_ANCHORS
    from slimdet.data.transforms.yolo_target import Gt2YoloTarget

    classes, size, n = 3, 128, 4
    rng = np.random.default_rng(0)
    gt_bbox = np.zeros((n, 50, 4), "float32")
    gt_class = np.zeros((n, 50), "int32")
    gt_score = np.zeros((n, 50), "float32")
    for i, k in enumerate(rng.integers(1, 5, n)):
        gt_bbox[i, :k, :2] = rng.uniform(0.1, 0.9, (k, 2))
        gt_bbox[i, :k, 2:] = rng.uniform(0.05, 0.9, (k, 2))
        gt_class[i, :k] = rng.integers(0, classes, k)
        gt_score[i, :k] = 1.0
    encoder = Gt2YoloTarget(YOLOV3_ANCHORS, YOLOV3_ANCHOR_MASKS, DOWNSAMPLE_RATIOS, classes)
    per_image = [encoder.encode(gt_bbox[i], gt_class[i], gt_score[i], size, size) for i in range(n)]
    targets = [np.stack([t[level] for t in per_image]) for level in range(3)]
    # precondition: every gt has its own (level, anchor, cell), where the op and the targets agree
    assert sum(int((t[:, :, 5] > 0).sum()) for t in targets) == int((gt_score > 0).sum())
    gt = {
        "gt_bbox": paddle.to_tensor(gt_bbox),
        "gt_class": paddle.to_tensor(gt_class),
        "gt_score": paddle.to_tensor(gt_score),
    }
    gt.update({f"target{level}": paddle.to_tensor(t) for level, t in enumerate(targets)})
    outputs = [
        paddle.to_tensor(rng.normal(size=(n, 3 * (5 + classes), size // r, size // r)).astype("float32"))
        for r in DOWNSAMPLE_RATIOS
    ]
    args = (YOLOv3Geometry(classes), ignore_thresh)
    fine = YOLOv3Loss(*args, use_fine_grained_loss=True)(outputs, gt)
    coarse = YOLOv3Loss(*args)(outputs, gt)
    assert float(fine["loss"]) == pytest.approx(float(coarse["loss"]), rel=1e-5)


def test_fine_grained_loss_without_targets_says_how_to_fix_the_reader():
    output, gt = make_inputs(small_box_logits())
    del gt["target0"]
    with pytest.raises(ConfigError, match="Gt2YoloTarget"):
        make_loss()([output], gt)


def test_from_config_reads_the_legacy_sections():
    cfg = {
        "num_classes": 20,
        "use_fine_grained_loss": True,
        "YOLOv3Head": {
            "anchors": [[1, 2]] * 9,
            "anchor_masks": [[6, 7, 8], [3, 4, 5], [0, 1, 2]],
            "yolo_loss": "YOLOv3Loss",
        },
        "YOLOv3Loss": {"ignore_thresh": 0.6, "label_smooth": False},
    }
    loss = YOLOv3Loss.from_config(cfg)
    assert (loss.num_classes, loss.ignore_thresh, loss.label_smooth, loss.use_fine_grained_loss) == (
        20,
        0.6,
        False,
        True,
    )
    assert loss.downsample_ratios == [32, 16, 8]
    assert loss.anchors[0] == [1.0, 2.0]
