"""``slimdet demo --fast`` end to end: the table, the pictures, and reuse on a re-run.

The first run is a user's first: ``python -m slimdet demo`` from a wheel install, in an empty folder, so the
shipped configs must come with the package (package data), not from the clone.
"""

import json
import math

import pytest
from typer.testing import CliRunner

from slimdet.cli import app
from slimdet.commands.demo_configs import FAST, STUDENT_BASE

pytestmark = pytest.mark.slow  # the whole demo, every stage for real

TRAINING_STAGES = {"data", "teacher", "student", "baseline", "prune-only", "distill-prune", "export"}


@pytest.fixture(scope="module")
def fast_demo(wheel_install, tmp_path_factory):
    empty = tmp_path_factory.mktemp("empty")
    first = wheel_install.python("-m", "slimdet", "demo", "--fast", "--json", cwd=empty, timeout=900)
    assert first.returncode == 0, first.stderr[-3000:]
    out = empty / "demo_output"  # --out's default, in the working directory
    written = (out / "configs" / "demo_student.yml").read_text().splitlines()
    assert f"_BASE_: {wheel_install.site / 'slimdet' / 'configs' / STUDENT_BASE}" in written  # the install's configs
    return out, json.loads(first.stdout)


def test_fast_demo_ends_with_the_zoo_table_and_drawn_pictures(fast_demo):
    out, result = fast_demo
    assert [row["model"] for row in result["rows"]] == ["baseline", "prune-only", "distill-pruned"]
    baseline, pruned, distilled = result["rows"]
    assert baseline["flops_cut"] == 0.0
    assert {row["iterations"] for row in result["rows"]} == {FAST.student_iters + FAST.finetune_iters}  # all alike
    assert result["teacher"]["iterations"] == FAST.teacher_iters
    assert pruned["gflops"] == pytest.approx(distilled["gflops"])  # one plan for both
    assert pruned["flops_cut"] >= 0.1 - 1e-3  # the fast demo's --target-flops
    assert 0 < distilled["size_cut"] < 1
    assert all(0.0 <= row["map"] <= 1.0 for row in [*result["rows"], result["teacher"]])
    # Scored, not a placeholder: the fast demo's few steps leave small mAPs (0.4-0.6% here), but never none.
    assert all(math.isfinite(row["map"]) and row["map"] > 0 for row in (pruned, distilled))
    assert result["pictures"] and all(
        (out / "infer").joinpath(p.rsplit("/", 1)[-1]).is_file() for p in result["pictures"]
    )
    detections = json.loads((out / "infer" / "detections.json").read_text())
    assert detections["threshold"] == result["draw_threshold"] == 0.2  # not the exported 0.5
    assert (out / "export" / "demo_distill_prune" / "infer_cfg.yml").is_file()
    assert all(not stage["reused"] for stage in result["stages"] if stage["stage"] != "data")


def test_a_second_run_reuses_every_finished_stage_and_prints_the_table(fast_demo):
    out, first = fast_demo
    again = CliRunner().invoke(app, ["demo", "--out", str(out), "--fast"])
    assert again.exit_code == 0, again.output
    assert "distill-pruned" in again.stdout and "pictures (boxes scoring above 0.2):" in again.stdout
    assert all(f"{stage} (reused)" in again.stderr for stage in [*TRAINING_STAGES, "eval"]), again.stderr
    for row in [*first["rows"], first["teacher"]]:  # the saved scores, not other ones
        assert f"{row['map']:.2%}" in again.stdout
    for picture in first["pictures"]:
        assert picture in again.stdout


def test_a_fast_run_in_a_full_demo_folder_is_a_user_error(tmp_path):
    (tmp_path / "demo.json").write_text(json.dumps({"mode": "full"}))
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path), "--fast"])
    assert result.exit_code == 2
    assert "holds a full demo" in result.stderr and len(result.stderr.strip().splitlines()) == 1
