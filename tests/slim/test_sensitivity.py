"""Sensitivity runs on the tiny shapes model: stable, resumable, the same with workers or shards, weights intact.

One reference run (2 convs × 3 ratios, 8 images of 96 px) is made once per module; every other way of
computing the same grid must write the very same file.
"""

import json
import multiprocessing
import os
import signal
from pathlib import Path

import numpy as np
import pytest

from slimdet.errors import PlanError, SlimdetError
from slimdet.interrupts import Interrupted, sigterm_raises
from slimdet.slim.sensitivity import Shard, parse_params, parse_ratios, run_sensitivity
from slimdet.slim.sensitivity_file import load_table, merge_tables
from slimdet.slim.sensitivity_trials import TrialSession, TrialSpec

from ..processes import signal_on_start

PARAMS = ("yolo_block.0.2.conv.weights", "yolo_block.2.tip.conv.weights")  # a route conv (two consumers), a tip
RATIOS = (0.2, 0.5, 0.8)


@pytest.fixture(scope="module")
def spec(small_shapes_checkpoint) -> TrialSpec:
    config, _ = small_shapes_checkpoint
    return TrialSpec(config=str(config), params=PARAMS, ratios=RATIOS, data_workers=0)


@pytest.fixture(scope="module")
def reference(spec, tmp_path_factory) -> Path:
    """The file of one uninterrupted single-process run."""
    path = tmp_path_factory.mktemp("reference") / "sens.json"
    run = run_sensitivity(spec, path)
    assert (run.computed, run.skipped, run.missing) == (6, 0, 0)
    return path


def test_reference_run_records_losses_relative_to_the_base_map(reference: Path):
    document = json.loads(reference.read_text())

    assert document["params"] == list(PARAMS) and document["ratios"] == list(RATIOS)
    assert document["base_mAP"] > 0
    for param in PARAMS:
        trials = document["sensitivities"][param]
        assert list(trials) == ["0.2", "0.5", "0.8"]
        for trial in trials.values():
            assert trial["loss"] == pytest.approx((document["base_mAP"] - trial["mAP"]) / document["base_mAP"])
    assert document["eval_set"]["images"] == 8 and document["eval_set"]["input_size"] == 96


def test_losses_are_the_same_in_another_run_in_another_order(spec, reference: Path, tmp_path: Path):
    from dataclasses import replace

    run = run_sensitivity(replace(spec, params=PARAMS[::-1]), tmp_path / "again.json")

    again, first = run.table, load_table(reference)
    assert again.base_map == first.base_map
    for param in PARAMS:
        assert again.losses(param) == first.losses(param)


def test_a_run_with_two_workers_interrupted_then_resumed_writes_the_same_file(spec, reference, tmp_path, monkeypatch):
    signal_on_start(monkeypatch, signal.SIGINT, signal.SIGTERM)  # as a process group's would reach them: ignored
    path = tmp_path / "sens.json"
    seen = []

    def stop_after_two(param, ratio, trial):
        seen.append((param, ratio))
        if len(seen) == 2:
            os.kill(os.getpid(), signal.SIGTERM)  # right after the second result was written

    with sigterm_raises(), pytest.raises(Interrupted) as stop:  # as the CLI does
        run_sensitivity(spec, path, workers=2, on_trial=stop_after_two)
    assert stop.value.signum == signal.SIGTERM
    assert str(stop.value) == (
        f"terminated with 4 grid points still missing; run the same command again to continue the sensitivities file {path}"
    )
    assert not multiprocessing.active_children()  # the workers were stopped with the run
    assert sorted(load_table(path).missing()) == sorted(set((p, r) for p in PARAMS for r in RATIOS) - set(seen))

    resumed = run_sensitivity(spec, path, workers=2)

    assert (resumed.computed, resumed.skipped, resumed.workers) == (4, 2, 2)
    assert path.read_bytes() == reference.read_bytes()


def test_two_shards_merged_give_the_same_file(spec, reference: Path, tmp_path: Path):
    first = run_sensitivity(spec, tmp_path / "a.json", shard=Shard(1, 2))
    second = run_sensitivity(spec, tmp_path / "b.json", shard=Shard(2, 2))

    assert (first.computed, first.missing, second.computed) == (3, 3, 3)
    measured = [set((p, r) for p, trials in run.table.results.items() for r in trials) for run in (first, second)]
    assert not measured[0] & measured[1]
    merged = merge_tables([("a.json", first.table), ("b.json", second.table)]).save(tmp_path / "merged.json")
    assert merged.read_bytes() == reference.read_bytes()


@pytest.fixture(scope="module")
def session(spec) -> TrialSession:
    return TrialSession(spec)


def test_weights_after_the_trials_equal_the_loaded_ones(session, small_shapes_checkpoint):
    from slimdet.weights import legacy_state, read_weights

    _, weights = small_shapes_checkpoint
    for param in PARAMS:
        session.trial_map(param, 0.8)

    state = legacy_state(session.model)
    loaded = read_weights(weights)
    assert state.keys() == loaded.keys()
    for name, tensor in state.items():
        np.testing.assert_array_equal(tensor.numpy(), loaded[name], err_msg=name)
    session.check_restored()


def test_head_only_trials_score_like_a_full_forward(session):
    from slimdet.engine.evaluate import run_inference

    assert session.eval_set.mode.startswith("head only")

    with session.pruner.pruned({PARAMS[0]: 0.5}):
        full = run_inference(session.model, session.batches, session.evaluator)["mAP"]
    assert session.trial_map(PARAMS[0], 0.5) == full


def test_inference_trials_score_like_dygraph_up_to_float_rounding(session):
    from slimdet.engine.evaluate import run_inference

    assert session.engine == "dygraph"  # auto: 8 tiny images score faster than a graph compiles
    with session.pruner.pruned({PARAMS[0]: 0.5}):
        dygraph = session.eval_set.evaluate(session.model, session.evaluator, "dygraph")["mAP"]
        head_graph = session.eval_set.evaluate(session.model, session.evaluator, "inference")["mAP"]
        full_graph = run_inference(session.model, session.batches, session.evaluator, engine="inference")["mAP"]
    assert dygraph > 0
    assert head_graph == pytest.approx(dygraph, abs=1e-3) and full_graph == pytest.approx(dygraph, abs=1e-3)
    session.check_restored()


def test_a_backbone_conv_makes_trials_run_the_full_forward(spec):
    from dataclasses import replace

    session = TrialSession(replace(spec, params=("conv6_sep_weights",), ratios=(0.5,)))

    assert session.eval_set.mode == "full forward, images cached"


def test_resuming_a_file_of_other_weights_is_refused(spec, reference: Path, tmp_path: Path):
    document = json.loads(reference.read_text())
    document["model"]["weights_sha256"] = "0" * 64
    path = tmp_path / "other.json"
    path.write_text(json.dumps(document))

    with pytest.raises(SlimdetError, match=r"weights_sha256 differ\): pass another --sensitivities_file"):
        run_sensitivity(spec, path)


def test_unknown_param_is_a_plan_error_with_a_suggestion(spec):
    from dataclasses import replace

    with pytest.raises(PlanError, match="did you mean 'yolo_block.0.2.conv.weights'"):
        TrialSession(replace(spec, params=("yolo_block.0.2.conv.weight",)))


def test_flags_parse_like_the_legacy_tool():
    assert parse_params("a.weights,b.weights c.weights") == ("a.weights", "b.weights", "c.weights")
    assert parse_params(None) is None
    assert parse_ratios(None) == (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
    assert parse_ratios("0.5 0.1,0.5") == (0.1, 0.5)
    with pytest.raises(PlanError, match="strictly between 0 and 1"):
        parse_ratios("0.5 1.0")
    assert Shard.parse("2/3").select(list(range(8))) == [1, 4, 7]
    with pytest.raises(SlimdetError, match="1 ≤ i ≤ n"):
        Shard.parse("0/2")
