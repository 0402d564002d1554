"""checks.py: plain data against type annotations, one readable problem per key path."""

from typing import Annotated, Any, Literal, Required, TypedDict

import pytest

from slimdet.config.checks import AtLeast, Note, Open, check, check_keys, describe


class Piecewise(TypedDict, total=False):
    type: Required[Literal["PiecewiseDecay"]]
    milestones: list[int]


class Warmup(TypedDict, total=False):
    type: Required[Literal["LinearWarmup"]]
    steps: int


class Nms(TypedDict, total=False):
    type: Literal["MultiClassNMS"]
    keep_top_k: int


class Entry(TypedDict, total=False):
    type: Required[str]


class Section(TypedDict, total=False):
    batch_size: Required[Annotated[int, AtLeast(1)]]
    shuffle: bool
    lr: float
    name: str | None
    metric: Literal["VOC", "COCO"]
    schedulers: list[Piecewise | Warmup]
    nms: Nms
    transforms: list[Annotated[Entry, Open()]]
    spp: Annotated[Literal[False], Note("not built")]
    extra: dict[str, Any]


def test_valid_section_has_no_problems():
    value = {
        "batch_size": 8,
        "shuffle": True,
        "lr": 1,  # an integer is a fine number
        "name": None,
        "metric": "COCO",
        "schedulers": [{"type": "PiecewiseDecay", "milestones": [1, 2]}, {"type": "LinearWarmup", "steps": 3}],
        "nms": {"keep_top_k": 100},  # type may be left out
        "transforms": [{"type": "Resize", "target_size": 160}],  # open: arguments are someone else's job
        "spp": False,
        "extra": {"anything": [1]},
    }
    assert check(value, Section, "S") == []


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("batch_size", "four", "S.batch_size: expected an integer, got 'four'"),
        ("batch_size", True, "S.batch_size: expected an integer, got true"),
        ("batch_size", 0, "S.batch_size: expected at least 1, got 0"),
        ("shuffle", 1, "S.shuffle: expected true or false, got 1"),
        ("lr", "0.1", "S.lr: expected a number, got '0.1'"),
        ("name", 3, "S.name: expected a string or null, got 3"),
        ("metric", "COCOO", "S.metric: expected one of 'VOC', 'COCO', got 'COCOO' (did you mean 'COCO'?)"),
        ("spp", True, "S.spp: expected false, got true (not built)"),
        ("extra", [1], "S.extra: expected a mapping, got [1]"),
        ("transforms", [{"size": 3}], "missing key 'S.transforms[0].type'"),
        ("transforms", [{"type": 3}], "S.transforms[0].type: expected a string, got 3"),
        ("nms", {"type": "MatrixNMS"}, "S.nms.type: expected 'MultiClassNMS', got 'MatrixNMS'"),
    ],
)
def test_each_wrong_value_gives_path_expected_type_and_value(key: str, value: Any, problem: str):
    assert check({"batch_size": 1, key: value}, Section, "S") == [problem]


def test_tagged_union_dispatches_on_type():
    schedulers = [{"type": "LinearWarmup", "milestones": [1]}, {"type": "PiecewiseDecy"}, {"steps": 1}]
    assert check({"batch_size": 1, "schedulers": schedulers}, Section, "S") == [
        "unknown key 'S.schedulers[0].milestones'",
        "S.schedulers[1].type: expected one of 'PiecewiseDecay', 'LinearWarmup', got 'PiecewiseDecy'"
        " (did you mean 'PiecewiseDecay'?)",
        "missing key 'S.schedulers[2].type' (one of 'PiecewiseDecay', 'LinearWarmup')",
    ]


def test_unknown_and_missing_keys_are_reported_with_suggestions():
    assert check({"batch_szie": 2, "shufle": True}, Section, "S") == [
        "missing key 'S.batch_size'",
        "unknown key 'S.batch_szie' (did you mean 'batch_size'?)",
        "unknown key 'S.shufle' (did you mean 'shuffle'?)",
    ]


def test_top_level_keys_have_no_path_prefix():
    assert check_keys({"snapshot_iters": 5}, {"snapshot_iter": int}, frozenset(), path="") == [
        "unknown key 'snapshot_iters' (did you mean 'snapshot_iter'?)"
    ]


def test_every_problem_is_reported_not_just_the_first():
    problems = check({"batch_size": "x", "shuffle": "y", "lr": "z", "oops": 1}, Section, "S")
    assert len(problems) == 4


def test_descriptions_read_as_words():
    assert describe(list[list[int]]) == "a list of lists of integers"
    assert describe(float | list[float]) == "a number or a list of numbers"
    assert describe(Literal["11point", "integral"]) == "one of '11point', 'integral'"
    assert describe(tuple[str, ...]) == "a list of strings"
