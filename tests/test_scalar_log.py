"""VisualDL scalar logs: a log opened again keeps the steps up to the resume point and shows each step once; a
damaged log or a missing VisualDL is one error that says what to do."""

import re
import sys

import pytest

from slimdet.errors import SlimdetError
from slimdet.scalar_log import INSTALL, ScalarLog, log_dir, require_visualdl
from tests.visualdl_log import read_scalars


def test_a_log_opened_again_keeps_the_steps_up_to_the_resume_point_and_writes_each_step_once(tmp_path):
    with ScalarLog(tmp_path) as first:  # a run that logged steps 1 … 5, then was resumed from its checkpoint at 3
        for step in range(1, 6):
            first.add("train/loss", 10.0 * step, step)
    with ScalarLog(tmp_path, keep_through=3) as resumed:
        resumed.add("train/loss", -3.0, 3)  # the step it resumed at comes again (a repeated evaluation): not twice
        for step in range(4, 7):
            resumed.add("train/loss", 100.0 * step, step)
        resumed.add("train/lr", 0.5, 6)

    assert read_scalars(tmp_path) == {
        "train/loss": [(1, 10.0), (2, 20.0), (3, 30.0), (4, 400.0), (5, 500.0), (6, 600.0)],
        "train/lr": [(6, 0.5)],
    }
    assert [path.name for path in tmp_path.iterdir()] == [resumed.path.name]  # the older file went

    with ScalarLog(tmp_path) as fresh:  # a new run in the same folder starts the log over
        fresh.add("train/loss", 1.0, 1)
    assert read_scalars(tmp_path) == {"train/loss": [(1, 1.0)]}


def test_the_flags_ask_for_a_log_in_the_folder_given_or_else_the_default(tmp_path):
    default = tmp_path / "vdl"
    assert log_dir(False, None, default) is None
    assert log_dir(True, None, default) == default
    assert log_dir(False, tmp_path / "mine", default) == tmp_path / "mine"  # a folder given asks for a log


def test_a_damaged_log_is_one_error_that_names_it(tmp_path):
    with ScalarLog(tmp_path) as log:
        log.add("train/loss", 1.0, 1)
        log.add("train/loss", 2.0, 2)
    log.path.write_bytes(log.path.read_bytes()[:-7])  # a record cut short

    with pytest.raises(SlimdetError, match=rf"cannot read the VisualDL log {log.path} .*move it away"):
        ScalarLog(tmp_path, keep_through=2)


def test_without_visualdl_a_log_is_refused_with_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "visualdl", None)  # as if not installed: importing it fails

    assert log_dir(False, None, tmp_path / "vdl") is None  # no log asked for: nothing to check, no error
    for refused in (require_visualdl, lambda: log_dir(True, None, tmp_path), lambda: ScalarLog(tmp_path)):
        with pytest.raises(SlimdetError, match=f"VisualDL.*: {re.escape(INSTALL)}$"):
            refused()
