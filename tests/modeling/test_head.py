"""The YOLOv3 head: legacy names and shapes (docs/legacy.md, "Parameter names"), output shapes, route first."""

import paddle

from slimdet.config.geometry import YOLOv3Geometry
from slimdet.modeling.build import build_model
from slimdet.modeling.head import YOLOv3Head
from slimdet.slim.sensitivity_trials import resolve_params

# docs/legacy.md, "Pruning and r578": the 18 detection-block convs the legacy slim model zoo prunes, in its order
MODEL_ZOO_PRUNED_PARAMS = [
    "yolo_block.0.0.0.conv.weights",
    "yolo_block.0.0.1.conv.weights",
    "yolo_block.0.1.0.conv.weights",
    "yolo_block.0.1.1.conv.weights",
    "yolo_block.0.2.conv.weights",
    "yolo_block.0.tip.conv.weights",
    "yolo_block.1.0.0.conv.weights",
    "yolo_block.1.0.1.conv.weights",
    "yolo_block.1.1.0.conv.weights",
    "yolo_block.1.1.1.conv.weights",
    "yolo_block.1.2.conv.weights",
    "yolo_block.1.tip.conv.weights",
    "yolo_block.2.0.0.conv.weights",
    "yolo_block.2.0.1.conv.weights",
    "yolo_block.2.1.0.conv.weights",
    "yolo_block.2.1.1.conv.weights",
    "yolo_block.2.2.conv.weights",
    "yolo_block.2.tip.conv.weights",
]


def _head_table(first_in: tuple[int, int, int], conv_block_num: int = 2) -> list[tuple[str, list[int]]]:
    """docs/legacy.md, "Parameter names", in creation order; ``first_in`` = input channels of each .0.0 conv,
    ``conv_block_num`` the repeats of 1x1 → 3x3 before the route conv (j of ``yolo_block.i.j.k``)."""
    rows: list[tuple[str, list[int]]] = []

    def unit(name: str, shape: list[int]) -> None:
        rows.append((f"{name}.conv.weights", shape))
        rows.extend((f"{name}.bn.{s}", [shape[0]]) for s in ("scale", "offset", "mean", "var"))

    for i, ch in enumerate([512, 256, 128]):
        for j in range(conv_block_num):
            unit(f"yolo_block.{i}.{j}.0", [ch, first_in[i] if j == 0 else 2 * ch, 1, 1])
            unit(f"yolo_block.{i}.{j}.1", [2 * ch, ch, 3, 3])
        unit(f"yolo_block.{i}.2", [ch, 2 * ch, 1, 1])
        unit(f"yolo_block.{i}.tip", [2 * ch, ch, 3, 3])
        rows.append((f"yolo_output.{i}.conv.weights", [75, 2 * ch, 1, 1]))
        rows.append((f"yolo_output.{i}.conv.bias", [75]))
        if i < 2:
            unit(f"yolo_transition.{i}", [256 // 2**i, ch, 1, 1])
    return rows


def _head_state(model) -> list[tuple[str, list[int]]]:
    return [(t.name, list(t.shape)) for t in model.head.state_dict().values()]


def test_mobilenet_voc_head_has_all_106_legacy_entries(mobilenet_voc):
    expected = _head_table((1024, 768, 384))
    assert len(expected) == 106
    assert sorted(_head_state(mobilenet_voc)) == sorted(expected)
    assert sum(int(t.size) for t in mobilenet_voc.head.state_dict().values()) == 21_058_017


def test_r34_voc_head_differs_only_in_the_first_conv_of_each_block(r34_voc):
    expected = _head_table((512, 512, 256))
    assert sorted(_head_state(r34_voc)) == sorted(expected)
    assert sum(int(t.size) for t in r34_voc.head.state_dict().values()) == 20_713_953


def test_the_18_model_zoo_pruned_params_exist_in_both_voc_models(mobilenet_voc, r34_voc):
    for model in (mobilenet_voc, r34_voc):
        names = {p.name for p in model.parameters()}
        assert set(MODEL_ZOO_PRUNED_PARAMS) <= names
    assert resolve_params(None, mobilenet_voc) == tuple(MODEL_ZOO_PRUNED_PARAMS)  # sensitivity's default, in order


def test_conv_block_num_sets_the_repeats_before_the_route_as_the_legacy_key_did(mobilenet_voc_cfg):
    """One repeat instead of two: level i keeps ``.0.0``, ``.0.1``, the route ``.2`` and the tip, and loses
    a 1x1 and a 3x3 conv (5.2 million of level 0's weights alone)."""
    mobilenet_voc_cfg["YOLOv3Head"] = {**mobilenet_voc_cfg.get("YOLOv3Head", {}), "conv_block_num": 1}
    model = build_model(mobilenet_voc_cfg, random_init=False)
    expected = _head_table((1024, 768, 384), conv_block_num=1)
    assert len(expected) == 106 - 3 * 2 * 5
    assert sorted(_head_state(model)) == sorted(expected)
    assert sum(int(t.size) for t in model.head.state_dict().values()) == 21_058_017 - 6_892_032
    # the sensitivity analysis defaults to the block convs the head has: no yolo_block.{i}.1.{k}
    assert resolve_params(None, model) == tuple(name for name in MODEL_ZOO_PRUNED_PARAMS if name.split(".")[2] != "1")


def test_upsampled_route_comes_first_in_the_concatenation():
    """Zeroing the first 256 input columns of yolo_block.1.0.0 cuts the coarse level out of level 1.

    If the backbone feature came first instead, level 1 would still depend on the coarse input.
    """
    with paddle.utils.unique_name.guard():
        head = YOLOv3Head([16, 32, 64], YOLOv3Geometry(2))
    head.eval()
    first = head.blocks[1].body[0].conv.weight
    w = first.numpy()
    assert w.shape[1] == 256 + 32
    w[:, :256] = 0
    first.set_value(w)
    fine, mid = paddle.rand([1, 16, 16, 16]), paddle.rand([1, 32, 8, 8])
    out_a = head([fine, mid, paddle.rand([1, 64, 4, 4])])
    out_b = head([fine, mid, paddle.rand([1, 64, 4, 4])])
    assert not paddle.allclose(out_a[0], out_b[0])  # level 0 sees the coarse input
    assert paddle.allclose(out_a[1], out_b[1])  # level 1 no longer does


def test_output_shapes_at_608_and_320(mobilenet_voc):
    with paddle.no_grad():
        for size in (608, 320):
            outs = mobilenet_voc.raw_outputs(paddle.zeros([1, 3, size, size]))
            assert [list(o.shape) for o in outs] == [[1, 75, size // r, size // r] for r in (32, 16, 8)]
