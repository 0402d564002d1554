"""``slimdet curves``: a run's picture drawn again from its checkpoint's state (beside it by default), and bad
input as one line with exit 2. Overlaying two runs: tests/cli/test_distill_prune.py (a distill-pruned run against
the training it started from)."""

import json
import shutil

import pytest
from typer.testing import CliRunner

from slimdet.cli import app
from tests.cli.one_line import one_error_line


def run(*args):
    return CliRunner().invoke(app, ["curves", *map(str, args)])


@pytest.fixture
def copied_run(overfit_tiny, tmp_path):
    """The overfit tiny run's final state (40 steps, a window every 2, evaluated at the end), copied: the
    command's default picture goes beside it, and the shared run's folder must stay as it is."""
    folder = tmp_path / "overfit"
    folder.mkdir()
    shutil.copy(overfit_tiny.weights.with_name("model_final.state.json"), folder)
    return folder / "model_final"


def test_one_run_is_drawn_beside_its_checkpoint_and_reported_as_json(copied_run):
    result = run(copied_run, "--json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["path"] == str(copied_run.parent / "curves.png")
    assert (copied_run.parent / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (drawn,) = report["runs"]
    state = json.loads(copied_run.with_suffix(".state.json").read_text())
    windows = state["hooks"]["LossHistory"]["terms"]
    assert drawn["checkpoint"] == str(copied_run) and drawn["label"] == "overfit/model_final"
    assert drawn["terms"]["loss"] == [[w["iteration"], w["loss"]] for w in windows]
    assert drawn["mAP"] == [[40, state["hooks"]["EvalHook"]["history"][-1]["metrics"]["mAP"]]]


def test_bad_input_is_one_line_exit_2_and_writes_nothing(copied_run, tmp_path):
    state_file = copied_run.with_suffix(".state.json")
    old = json.loads(state_file.read_text())
    del old["hooks"]["LossHistory"]["terms"]  # as slimdet wrote states before it kept the loss terms
    state_file.write_text(json.dumps(old))
    (tmp_path / "empty").mkdir()

    cases = {
        tmp_path / "nowhere": "nowhere: no nowhere.state.json there; give a folder a training wrote",
        tmp_path / "empty": "empty holds no resumable checkpoint (<name>.pdparams, .pdopt and .state.json)",
        copied_run: f"{state_file} holds no loss curves (no LossHistory terms",
    }
    for source, fragment in cases.items():
        assert fragment in one_error_line(run(source, "--out", tmp_path / "curves.png"))
    assert not (tmp_path / "curves.png").exists() and not (copied_run.parent / "curves.png").exists()
