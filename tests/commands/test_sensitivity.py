"""Sensitivity runs on the tiny shapes model: stable, resumable, the same with workers or shards.

One reference run (2 convs × 3 ratios, 8 images of 96 px) is made once per module; every other way of
computing the same grid must write the very same file.
"""

import json
import multiprocessing
import os
import signal
from pathlib import Path

import pytest

from slimdet.commands.sensitivity import Shard, parse_params, parse_ratios, run_sensitivity
from slimdet.errors import PlanError, SlimdetError
from slimdet.interrupts import Interrupted, sigterm_raises
from slimdet.slim.sensitivity_table import load_table, merge_tables
from slimdet.slim.sensitivity_trials import TrialSpec
from tests.slim.test_sensitivity_trials import PARAMS, RATIOS, shapes_spec
from tests.visualdl_log import read_scalars

from ..processes import signal_on_start


@pytest.fixture(scope="module")
def spec(small_shapes_checkpoint) -> TrialSpec:
    return shapes_spec(small_shapes_checkpoint[0])


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
        run_sensitivity(spec, path, workers=2, on_trial=stop_after_two, vdl_log_dir=tmp_path / "vdl")
    assert stop.value.signum == signal.SIGTERM
    assert str(stop.value) == (
        f"terminated with 4 grid points still missing; run the same command again to continue the sensitivities file {path}"
    )
    assert not multiprocessing.active_children()  # the workers were stopped with the run
    assert sorted(load_table(path).missing()) == sorted(set((p, r) for p in PARAMS for r in RATIOS) - set(seen))

    resumed = run_sensitivity(spec, path, workers=2, vdl_log_dir=tmp_path / "vdl")

    assert (resumed.computed, resumed.skipped, resumed.workers) == (4, 2, 2)
    assert path.read_bytes() == reference.read_bytes()
    table = load_table(reference)  # the VisualDL log holds every trial once: a loss curve per conv, step = ratio %
    assert read_scalars(tmp_path / "vdl") == {
        f"sensitivity/{param}": [(round(100 * ratio), pytest.approx(loss)) for ratio, loss in table.losses(param)]
        for param in PARAMS
    }


def test_two_shards_merged_give_the_same_file(spec, reference: Path, tmp_path: Path):
    first = run_sensitivity(spec, tmp_path / "a.json", shard=Shard(1, 2))
    second = run_sensitivity(spec, tmp_path / "b.json", shard=Shard(2, 2))

    assert (first.computed, first.missing, second.computed) == (3, 3, 3)
    measured = [set((p, r) for p, trials in run.table.results.items() for r in trials) for run in (first, second)]
    assert not measured[0] & measured[1]
    merged = merge_tables([("a.json", first.table), ("b.json", second.table)]).save(tmp_path / "merged.json")
    assert merged.read_bytes() == reference.read_bytes()


def test_resuming_a_file_of_other_weights_is_refused(spec, reference: Path, tmp_path: Path):
    document = json.loads(reference.read_text())
    document["model"]["weights_sha256"] = "0" * 64
    path = tmp_path / "other.json"
    path.write_text(json.dumps(document))

    with pytest.raises(SlimdetError, match=r"weights_sha256 differ\): pass another --sensitivities_file"):
        run_sensitivity(spec, path)


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
