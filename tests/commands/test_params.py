"""describe_parameters: every persistable with its conv's FLOPs share, the prunable rule, legacy totals."""

import pytest

from slimdet.commands.params import describe_parameters
from slimdet.config.sizes import eval_input_size
from slimdet.errors import SlimdetError
from tests.modeling.test_head import MODEL_ZOO_PRUNED_PARAMS
from tests.modeling.voc_configs import voc_cfg

MOBILENET_UNITS = [
    "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv4_1", "conv4_2",
    "conv5_1", "conv5_2", "conv5_3", "conv5_4", "conv5_5", "conv5_6", "conv6",
]  # fmt: skip


@pytest.fixture
def mobilenet_voc_cfg():
    return voc_cfg("yolov3_mobilenet_v1_voc")


@pytest.fixture(scope="module")
def report_320():
    return describe_parameters(voc_cfg("yolov3_mobilenet_v1_voc"), input_size=320)


def test_every_persistable_is_listed_with_model_totals(report_320):
    assert len(report_320.rows) == 241
    assert report_320.total_params == report_320.selected_params == 24_286_881
    assert round(report_320.size_mib, 2) == 92.65
    assert round(report_320.legacy_gflops, 2) == 5.60
    assert report_320.paddleslim_conv_flops == report_320.conv_macs  # PaddleSlim agrees on the conv MACs
    assert report_320.paddleslim_flops > report_320.conv_macs  # ... and adds BN/ReLU elements


def test_prunable_rule_keeps_plain_convs_and_leaves_out_depthwise_and_outputs(report_320):
    prunable = {row.name for row in report_320.rows if row.prunable}
    expected = (
        {"conv1_weights", "yolo_transition.0.conv.weights", "yolo_transition.1.conv.weights"}
        | {f"{u}_sep_weights" for u in MOBILENET_UNITS}
        | set(MODEL_ZOO_PRUNED_PARAMS)
    )
    assert prunable == expected


def test_flops_shares_belong_to_the_conv_and_sum_to_one(report_320):
    rows = {row.name: row for row in report_320.rows}
    weights = [row for row in report_320.rows if row.name == row.conv]
    assert len(weights) == 50
    assert sum(row.flops_share for row in weights) == pytest.approx(1.0)
    tip = rows["yolo_block.0.tip.conv.weights"]
    # 3x3, 512 -> 1024 at 10x10 (320 / 32): its MACs over all conv MACs
    assert tip.flops_share == pytest.approx(512 * 9 * 1024 * 10 * 10 / report_320.conv_macs)
    assert rows["yolo_block.0.tip.bn.var"].conv == tip.name
    assert rows["yolo_block.0.tip.bn.var"].flops_share == tip.flops_share
    assert rows["yolo_output.2.conv.bias"].conv == "yolo_output.2.conv.weights"


def test_prunable_only_and_filter_select_rows_but_not_totals(mobilenet_voc_cfg):
    report = describe_parameters(mobilenet_voc_cfg, prunable_only=True, name_filter=r"^yolo_block\.1\.", input_size=320)
    assert [row.name for row in report.rows] == MODEL_ZOO_PRUNED_PARAMS[6:12]
    assert report.total_params == 24_286_881
    assert report.to_dict()["totals"]["selected_rows"] == 6


def test_input_size_comes_from_the_eval_reader(mobilenet_voc_cfg):
    mobilenet_voc_cfg["EvalReader"] = {
        "sample_transforms": [{"type": "DecodeImage", "to_rgb": True}, {"type": "ResizeImage", "target_size": 416}]
    }
    assert eval_input_size(mobilenet_voc_cfg) == 416
    assert eval_input_size({}) == 608
    assert round(describe_parameters(mobilenet_voc_cfg, name_filter="^$").legacy_gflops, 2) == 9.46


@pytest.mark.parametrize(
    "kwargs, message",
    [({"name_filter": "yolo_block["}, "not a valid regular expression"), ({"input_size": 100}, "multiple of 32")],
)
def test_bad_filter_or_input_size_is_a_user_error(mobilenet_voc_cfg, kwargs, message):
    with pytest.raises(SlimdetError, match=message):
        describe_parameters(mobilenet_voc_cfg, **kwargs)
