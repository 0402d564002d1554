"""Which backend "auto" picks: compiling a graph only where the work of one call pays for it."""

import pytest

from slimdet.errors import SlimdetError
from slimdet.inference import COMPILE_PAYS_OFF_AT, resolve_backend


def test_auto_compiles_on_a_cpu_when_the_work_is_unknown_or_large_enough():
    assert resolve_backend("auto", "cpu") == "inference"
    assert resolve_backend("auto", "cpu", images=2, input_size=608) == "inference"
    assert resolve_backend("auto", "cpu", images=256, input_size=96) == "inference"  # the benchmark's eval set


def test_auto_keeps_dygraph_where_compiling_would_cost_more_than_it_saves():
    assert resolve_backend("auto", "cpu", images=1, input_size=608) == "dygraph"
    assert resolve_backend("auto", "cpu", images=8, input_size=64) == "dygraph"  # the fast demo's eval set
    # The threshold is an amount of work: the same pixels at another size decide alike.
    at_608 = COMPILE_PAYS_OFF_AT
    assert resolve_backend("auto", "cpu", images=int(at_608 * 16), input_size=152) == "inference"
    assert resolve_backend("auto", "cpu", images=int(at_608 * 16) - 1, input_size=152) == "dygraph"


def test_a_gpu_and_an_explicit_choice_ignore_the_amount_of_work():
    assert resolve_backend("auto", "gpu:0", images=10_000) == "dygraph"
    assert resolve_backend("inference", "cpu", images=1, input_size=32) == "inference"
    assert resolve_backend("dygraph", "cpu", images=10_000) == "dygraph"


def test_an_unknown_engine_is_a_user_error_naming_the_choices():
    with pytest.raises(SlimdetError, match="unknown backend 'onnx': choose one of auto, inference, dygraph"):
        resolve_backend("onnx", "cpu")
