"""PruningPlan on the real yolov3_mobilenet_v1_voc.yml model: shapes, FLOPs and size as the legacy tables count them."""

from pathlib import Path

import numpy as np
import paddle
import pytest

from slimdet.config import load_config
from slimdet.modeling.build import build_model
from slimdet.slim.flops import count_conv_macs
from slimdet.slim.plan import PruningPlan
from tests.modeling.test_head import MODEL_ZOO_PRUNED_PARAMS

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "yolov3_mobilenet_v1_voc.yml"
R578_RATIOS = ",".join(["0.5"] * 6 + ["0.7"] * 6 + ["0.8"] * 6)
SMALL = 64  # input side for the quick checks


@pytest.fixture
def mobilenet_voc():
    paddle.seed(0)
    return build_model(load_config(CONFIG).to_dict())


def tensors(model):
    return {p.name: p.numpy().copy() for p in model.parameters()}


def test_pruning_first_block_conv_halves_its_filters_bn_and_next_input(mobilenet_voc):
    name = "yolo_block.0.0.0.conv.weights"
    before = tensors(mobilenet_voc)
    macs_before = count_conv_macs(mobilenet_voc, SMALL)

    report = PruningPlan({name: 0.5}).apply(mobilenet_voc, input_size=SMALL)

    after = tensors(mobilenet_voc)
    assert after[name].shape == (256, 1024, 1, 1)
    for tensor in ("scale", "offset", "mean", "var"):
        assert after[f"yolo_block.0.0.0.bn.{tensor}"].shape == (256,)
    assert after["yolo_block.0.0.1.conv.weights"].shape == (1024, 256, 3, 3)
    kept = np.sort(np.argsort(np.abs(before[name]).sum(axis=(1, 2, 3)))[256:])
    nxt = "yolo_block.0.0.1.conv.weights"
    np.testing.assert_array_equal(after[nxt], before[nxt][:, kept])
    changed = {n for n in before if before[n].shape != after[n].shape}
    assert changed == {name, nxt} | {f"yolo_block.0.0.0.bn.{t}" for t in ("scale", "offset", "mean", "var")}

    # The model still runs, through the head and through post-processing.
    mobilenet_voc.eval()
    image = paddle.rand([1, 3, SMALL, SMALL])
    assert [o.shape for o in mobilenet_voc.raw_outputs(image)] == [[1, 75, 2, 2], [1, 75, 4, 4], [1, 75, 8, 8]]
    assert set(mobilenet_voc(image, paddle.to_tensor([[SMALL, SMALL]], dtype="int32"))) >= {"bbox", "bbox_num"}

    # Analytic FLOPs: on the 2×2 level-0 grid, 0.0.0 (1×1, 1024 in) and 0.0.1 (3×3, 1024 out) lose 256 channels each.
    cells = (SMALL // 32) ** 2
    removed = (1024 * 256 * 1 + 256 * 9 * 1024) * cells
    assert report.gflops_before == macs_before.gflops
    assert report.gflops_after == (macs_before.total - removed) / 2**30
    assert report.params_before - report.params_after == 256 * 1024 + 4 * 256 + 1024 * 256 * 9


def test_r578_plan_reproduces_the_legacy_model_zoo_figures(mobilenet_voc):
    # slim/README.md (release/0.4): 20.20 → 6.15 GFLOPs (−69.57%) at 608; parameters 92.65 → 30.09 MiB
    # (the published 93.37 / 30.81 MB include ≈0.72 MiB of file overhead),
    # docs/legacy.md, "Pruning and r578" and "FLOPs and size".
    plan = PruningPlan.from_flags(",".join(MODEL_ZOO_PRUNED_PARAMS), R578_RATIOS)
    report = plan.apply(mobilenet_voc, input_size=608)

    assert (round(report.gflops_before, 2), round(report.gflops_after, 2)) == (20.20, 6.15)
    assert round(report.flops_reduction, 2) == 69.57
    assert report.params_before == 24_286_881
    assert (round(report.mib_before, 2), round(report.mib_after, 2)) == (92.65, 30.09)
    assert [row.channels_after for row in report.rows] == (
        [256, 512, 256, 512, 256, 512] + [77, 154, 77, 154, 77, 154] + [26, 51, 26, 51, 26, 51]
    )  # docs/legacy.md, "Pruning and r578"
    shapes = {p.name: p.shape for p in mobilenet_voc.parameters()}
    assert shapes["yolo_output.0.conv.weights"] == [75, 512, 1, 1]
    assert shapes["yolo_transition.0.conv.weights"] == [256, 256, 1, 1]
    assert shapes["yolo_transition.1.conv.weights"] == [128, 77, 1, 1]
    assert shapes["yolo_output.2.conv.weights"] == [75, 51, 1, 1]
    assert shapes["yolo_block.1.0.0.conv.weights"] == [77, 768, 1, 1]  # concat width into block 1 unchanged
