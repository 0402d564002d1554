"""build_model: legacy configs → models with the legacy totals, prefixes, loss wiring and config errors."""

import copy

import pytest

from slimdet.errors import ConfigError
from slimdet.modeling.build import build_model
from slimdet.modeling.losses import YOLOv3Loss
from slimdet.slim.flops import count_conv_macs, parameter_mib


def _names(model) -> list[str]:
    return [t.name for t in model.state_dict().values()]


def test_voc_models_have_the_legacy_persistable_and_parameter_counts(mobilenet_voc, r34_voc):
    # docs/legacy.md, "Parameter names": 241 / 291 persistables, 24,286,881 / 42,020,001 values
    for model, files, values in [(mobilenet_voc, 241, 24_286_881), (r34_voc, 291, 42_020_001)]:
        names = _names(model)
        assert len(names) == len(set(names)) == files
        assert sum(int(t.size) for t in model.state_dict().values()) == values


def test_mobilenet_voc_size_and_gflops_match_the_legacy_tables(mobilenet_voc):
    # docs/legacy.md, "FLOPs and size": 92.65 MiB; 20.20 GFLOPs at 608, 9.46 at 416, 5.60 at 320 (conv MACs / 2^30)
    assert round(parameter_mib(mobilenet_voc), 2) == 92.65
    assert round(count_conv_macs(mobilenet_voc, 608).gflops, 2) == 20.20
    assert round(count_conv_macs(mobilenet_voc, 320).gflops, 2) == 5.60


def test_teacher_prefix_gives_distinct_names_next_to_a_student(mobilenet_voc_cfg):
    student = build_model(mobilenet_voc_cfg, random_init=False)  # names only: no random draws needed
    teacher = build_model(mobilenet_voc_cfg, name_prefix="teacher_", random_init=False)
    student_names, teacher_names = _names(student), _names(teacher)
    assert teacher_names == ["teacher_" + n for n in student_names]
    assert not set(student_names) & set(teacher_names)
    assert teacher.name_prefix == "teacher_" and student.name_prefix == ""


def test_the_same_config_builds_twice_in_one_process(mobilenet_voc_cfg):
    first, second = build_model(mobilenet_voc_cfg, random_init=False), build_model(mobilenet_voc_cfg, random_init=False)
    assert _names(first) == _names(second)
    first.head.outputs[0].bias.set_value(first.head.outputs[0].bias.numpy() + 1)
    assert float(second.head.outputs[0].bias.numpy().max()) == 0.0  # separate tensors, not shared ones


def test_loss_comes_from_the_config(mobilenet_voc_cfg):
    mobilenet_voc_cfg["use_fine_grained_loss"] = True
    model = build_model(mobilenet_voc_cfg, random_init=False)
    assert isinstance(model.loss, YOLOv3Loss)
    assert model.loss.use_fine_grained_loss and model.loss.num_classes == 20
    assert model.num_classes == 20 and model.downsample_ratios == [32, 16, 8]


def test_darknet_backbone_builds_from_its_section(mobilenet_voc_cfg):
    cfg = {**mobilenet_voc_cfg, "YOLOv3": {"backbone": "DarkNet", "yolo_head": "YOLOv3Head"}, "DarkNet": {"depth": 53}}
    names = set(_names(build_model(cfg, random_init=False)))
    assert {"yolo_input.conv.weights", "stage.4.3.1.bn.var", "yolo_block.0.0.0.conv.weights"} <= names


@pytest.mark.parametrize(
    "change, message",
    [
        ({"YOLOv3": {"backbone": "Mobilenet"}}, "did you mean 'MobileNet'"),
        ({"architecture": "FasterRCNN"}, "architecture"),
        ({"YOLOv3Head": {"anchor_masks": [[6, 7, 9], [3, 4, 5], [0, 1, 2]]}}, "indices \\[9\\]"),
        ({"YOLOv3Head": {"spp": True}}, "YOLOv3Head.spp"),
        ({"ResNet": {"depth": 34, "feature_maps": [4, 5]}}, "2 feature maps"),
    ],
)
def test_config_mistakes_are_config_errors(r34_voc_cfg, change, message):
    cfg = copy.deepcopy(r34_voc_cfg)
    cfg.update(change)
    with pytest.raises(ConfigError, match=message):
        build_model(cfg)


def test_without_random_init_the_same_model_starts_at_zero_where_it_would_be_random(mobilenet_voc_cfg):
    import numpy as np
    import paddle

    paddle.seed(3)
    random = build_model(mobilenet_voc_cfg)
    zeros = build_model(mobilenet_voc_cfg, random_init=False)
    paddle.seed(3)
    again = build_model(mobilenet_voc_cfg)
    drawn = {p.name: p.numpy() for p in random.state_dict().values()}
    blank = {p.name: p.numpy() for p in zeros.state_dict().values()}
    assert {name: a.shape for name, a in drawn.items()} == {name: a.shape for name, a in blank.items()}
    for name, value in drawn.items():
        if np.all(value == 0) or np.all(value == 1):  # BN, biases and statistics: constants either way
            assert np.array_equal(blank[name], value), name
        else:  # conv weights: random by default, zeros without
            assert not blank[name].any(), name
    assert all(np.array_equal(p.numpy(), drawn[p.name]) for p in again.state_dict().values())  # default unchanged
    assert build_model(mobilenet_voc_cfg).head.parameters()[0].numpy().any()  # the switch did not stick
