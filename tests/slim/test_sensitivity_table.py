"""The sensitivity file: losses from the base mAP, atomic round trips, resume/merge compatibility, merge conflicts."""

import json
from pathlib import Path

import pytest

from slimdet.errors import SlimdetError
from slimdet.slim.sensitivity_table import SensitivityTable, load_table, merge_tables

PARAMS = ("yolo_block.0.0.0.conv.weights", "yolo_block.0.tip.conv.weights")


def hand_made_table(
    curves: dict[str, list[tuple[float, float]]], *, base_map: float = 0.8, weights_sha256: str = "abc"
) -> SensitivityTable:
    """A table whose results are given as {param: [(ratio, mAP), ...]} (no model needed)."""
    ratios = sorted({ratio for points in curves.values() for ratio, _ in points})
    table = SensitivityTable(
        model={"architecture": "YOLOv3", "backbone": "MobileNet", "num_classes": 3, "plan": None,
               "weights_sha256": weights_sha256},
        eval_set={"anno_path": "test.txt", "images": 8, "input_size": 96, "metric": "VOC", "map_type": "11point"},
        criterion="l1_norm",
        source={"config": "shapes.yml", "weights": "w.pdparams", "dataset_dir": "dataset/shapes"},
        base_map=base_map,
        params=tuple(curves),
        ratios=tuple(ratios),
    )  # fmt: skip
    for param, points in curves.items():
        for ratio, pruned_map in points:
            table = table.with_result(param, ratio, pruned_map)
    return table


def test_loss_is_relative_drop_from_the_base_map():
    table = hand_made_table({PARAMS[0]: [(0.5, 0.6), (0.1, 0.8)]}, base_map=0.8)

    assert table.losses(PARAMS[0]) == [(0.1, 0.0), (0.5, pytest.approx(0.25))]
    assert table.results[PARAMS[0]][0.5].map == 0.6


def test_file_round_trips_exactly_and_lists_ratios_in_order(tmp_path: Path):
    table = hand_made_table({PARAMS[0]: [(0.3, 0.7), (0.1, 0.79)], PARAMS[1]: [(0.2, 0.1234567890123)]})

    path = table.save(tmp_path / "sub" / "s.json")
    again = load_table(path)

    assert again == table
    document = json.loads(path.read_text())
    assert list(document["sensitivities"][PARAMS[0]]) == ["0.1", "0.3"]
    assert document["sensitivities"][PARAMS[1]]["0.2"]["mAP"] == 0.1234567890123
    assert [p.name for p in tmp_path.joinpath("sub").iterdir()] == ["s.json"]  # no temp file left behind


def test_zero_base_map_is_refused_with_a_fix():
    with pytest.raises(SlimdetError, match="mAP 0 .*check the weights"):
        hand_made_table({PARAMS[0]: [(0.1, 0.0)]}, base_map=0.0)


def test_other_weights_are_not_the_same_measurement():
    mine = hand_made_table({PARAMS[0]: [(0.1, 0.7)]}, weights_sha256="abc")
    other = hand_made_table({PARAMS[0]: [(0.1, 0.7)]}, weights_sha256="def")

    with pytest.raises(SlimdetError, match=r"model\.weights_sha256 differ\): delete it"):
        mine.check_same_measurement(other, what="the file", fix="delete it")


def test_base_maps_must_agree_to_be_the_same_measurement():
    mine = hand_made_table({PARAMS[0]: [(0.1, 0.7)]}, base_map=0.8)
    other = hand_made_table({PARAMS[0]: [(0.1, 0.7)]}, base_map=0.8001)

    with pytest.raises(SlimdetError, match="base mAP 0.8, not 0.8001"):
        mine.check_same_measurement(other, what="the file", fix="delete it")


def test_merge_unites_disjoint_shards_in_the_first_files_order():
    first = hand_made_table({PARAMS[0]: [(0.1, 0.7)], PARAMS[1]: [(0.3, 0.5)]})
    second = hand_made_table({PARAMS[1]: [(0.1, 0.6)], PARAMS[0]: [(0.3, 0.4)]})

    merged = merge_tables([("a.json", first), ("b.json", second)])

    assert merged.params == PARAMS
    assert merged.losses(PARAMS[0]) == [(0.1, pytest.approx(0.125)), (0.3, pytest.approx(0.5))]
    assert merged.losses(PARAMS[1]) == [(0.1, pytest.approx(0.25)), (0.3, pytest.approx(0.375))]
    assert merged.missing() == []


def test_merge_names_every_conflicting_result_and_its_files():
    first = hand_made_table({PARAMS[0]: [(0.1, 0.7), (0.3, 0.5)]})
    second = hand_made_table({PARAMS[0]: [(0.1, 0.7), (0.3, 0.45)]})

    with pytest.raises(SlimdetError) as err:
        merge_tables([("a.json", first), ("b.json", second)])

    message = str(err.value)
    assert "1 result(s)" in message
    assert f"{PARAMS[0]} at 0.3: mAP 0.5 in a.json, 0.45 in b.json" in message


def test_merge_refuses_files_of_another_analysis():
    first = hand_made_table({PARAMS[0]: [(0.1, 0.7)]})
    second = hand_made_table({PARAMS[0]: [(0.3, 0.7)]}, weights_sha256="other")

    with pytest.raises(SlimdetError, match=r"b\.json \(compared with a\.json\) was measured on something else"):
        merge_tables([("a.json", first), ("b.json", second)])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x80\x04\x95 legacy pickle", "not a JSON sensitivity file"),
        (b'{"format": "something-else"}', "not a slimdet sensitivity file"),
        (b'{"format": "slimdet-sensitivity", "version": 1, "model": {}}', "is damaged"),
    ],
)
def test_unreadable_files_are_user_errors(tmp_path: Path, content: bytes, message: str):
    path = tmp_path / "s.json"
    path.write_bytes(content)

    with pytest.raises(SlimdetError, match=message):
        load_table(path)


def test_missing_file_says_how_to_make_it(tmp_path: Path):
    with pytest.raises(SlimdetError, match="not found: run `slimdet sensitivity"):
        load_table(tmp_path / "nope.json")
