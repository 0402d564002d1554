"""Backbones carry the legacy names and shapes of docs/legacy.md, "Parameter names" and give strides 8/16/32."""

import paddle
import pytest

from slimdet.errors import ConfigError
from slimdet.modeling.backbones import BACKBONES, DarkNet, MobileNetV1, ResNet


def _shapes(layer) -> dict[str, list[int]]:
    return {t.name: list(t.shape) for t in layer.state_dict().values()}


def _unit(weight: str, bn: str, shape: list[int]) -> dict[str, list[int]]:
    """The five persistables of an underscore-named unit (MobileNet / ResNet)."""
    out = shape[0]
    return {weight: shape, **{f"{bn}_{s}": [out] for s in ("scale", "offset", "mean", "variance")}}


def _dotted(unit: str, shape: list[int]) -> dict[str, list[int]]:
    out = shape[0]
    return {f"{unit}.conv.weights": shape, **{f"{unit}.bn.{s}": [out] for s in ("scale", "offset", "mean", "var")}}


def test_backbones_are_found_by_their_legacy_config_name():
    assert {"MobileNet": MobileNetV1, "ResNet": ResNet, "DarkNet": DarkNet} == BACKBONES


def test_mobilenet_v1_has_every_legacy_name_and_shape():
    # docs/legacy.md, "Parameter names"
    pairs = [
        ("conv2_1", 32, 64), ("conv2_2", 64, 128), ("conv3_1", 128, 128), ("conv3_2", 128, 256),
        ("conv4_1", 256, 256), ("conv4_2", 256, 512), *[(f"conv5_{i}", 512, 512) for i in range(1, 6)],
        ("conv5_6", 512, 1024), ("conv6", 1024, 1024),
    ]  # fmt: skip
    expected = _unit("conv1_weights", "conv1_bn", [32, 3, 3, 3])
    for unit, cin, cout in pairs:
        expected |= _unit(f"{unit}_dw_weights", f"{unit}_dw_bn", [cin, 1, 3, 3])
        expected |= _unit(f"{unit}_sep_weights", f"{unit}_sep_bn", [cout, cin, 1, 1])
    with paddle.utils.unique_name.guard():
        backbone = MobileNetV1()
    assert _shapes(backbone) == expected
    assert len(expected) == 135
    assert sum(int(p.size) for p in backbone.state_dict().values()) == 3_228_864


def test_resnet34_variant_b_has_every_legacy_name_and_shape():
    # docs/legacy.md, "Parameter names": 7x7 stem, BasicBlocks, projection shortcut in the first block of each stage
    expected = _unit("conv1_weights", "bn_conv1", [64, 3, 7, 7])
    cin = 64
    for stage, blocks, ch in [(2, 3, 64), (3, 4, 128), (4, 6, 256), (5, 3, 512)]:
        for letter in "abcdef"[:blocks]:
            unit = f"{stage}{letter}"
            expected |= _unit(f"res{unit}_branch2a_weights", f"bn{unit}_branch2a", [ch, cin, 3, 3])
            expected |= _unit(f"res{unit}_branch2b_weights", f"bn{unit}_branch2b", [ch, ch, 3, 3])
            if letter == "a":
                expected |= _unit(f"res{unit}_branch1_weights", f"bn{unit}_branch1", [ch, cin, 1, 1])
            cin = ch
    with paddle.utils.unique_name.guard():
        backbone = ResNet(depth=34)
    assert _shapes(backbone) == expected
    assert len(expected) == 185
    assert sum(int(p.size) for p in backbone.state_dict().values()) == 21_306_048


def test_darknet53_has_dotted_legacy_names():
    expected = _dotted("yolo_input", [32, 3, 3, 3]) | _dotted("yolo_input.downsample", [64, 32, 3, 3])
    for i, blocks in enumerate([1, 2, 8, 8, 4]):
        c = 32 * 2**i
        for j in range(blocks):
            expected |= _dotted(f"stage.{i}.{j}.0", [c, 2 * c, 1, 1]) | _dotted(f"stage.{i}.{j}.1", [2 * c, c, 3, 3])
        if i < 4:
            expected |= _dotted(f"stage.{i}.downsample", [4 * c, 2 * c, 3, 3])
    with paddle.utils.unique_name.guard():
        backbone = DarkNet()
    assert _shapes(backbone) == expected
    assert len(expected) == 260


@pytest.mark.parametrize(
    "make, channels",
    [(MobileNetV1, [256, 512, 1024]), (lambda: ResNet(depth=34), [128, 256, 512]), (DarkNet, [256, 512, 1024])],
)
def test_backbones_return_strides_8_16_32_finest_first(make, channels):
    with paddle.utils.unique_name.guard():
        backbone = make()
    backbone.eval()
    features = backbone(paddle.rand([1, 3, 64, 64]))
    assert [list(f.shape) for f in features] == [[1, c, 64 // s, 64 // s] for c, s in zip(channels, [8, 16, 32])]
    assert backbone.out_channels == channels


def test_resnet_freeze_at_stops_gradients_of_early_stages():
    with paddle.utils.unique_name.guard():
        backbone = ResNet(depth=18, freeze_at=2)
    backbone(paddle.rand([1, 3, 64, 64]))[-1].sum().backward()
    assert backbone.conv1.conv.weight.grad is None
    assert backbone.stages[0][0].branch2a.conv.weight.grad is None  # res2 frozen
    assert backbone.stages[1][0].branch2a.conv.weight.grad is not None  # res3 trains


@pytest.mark.parametrize(
    "cls, section, words",
    [
        (MobileNetV1, {"with_extra_blocks": True}, "MobileNet.with_extra_blocks"),
        (ResNet, {"variant": "d"}, "ResNet.variant"),
        (ResNet, {"depth": 50}, "ResNet.depth"),
        (DarkNet, {"depth": 21}, "DarkNet.depth"),
    ],
)
def test_options_the_models_do_not_implement_are_config_errors(cls, section, words):
    with pytest.raises(ConfigError, match=words.replace(".", r"\.")), paddle.utils.unique_name.guard():
        cls.from_section(section)
