"""The demo's building blocks: the configs it writes, the stage runner's reuse, the fast/full guard."""

import pytest

from slimdet.commands import demo
from slimdet.commands.demo import _claim, _saved_scores, _scores, _Stages
from slimdet.commands.demo_configs import (
    FAST,
    FULL,
    STUDENT_BASE,
    TEACHER_BASE,
    demo_config,
    estimated_seconds,
    shipped_configs,
)
from slimdet.config import load_config
from slimdet.errors import SlimdetError


@pytest.mark.parametrize("base", [TEACHER_BASE, STUDENT_BASE])
def test_demo_configs_load_and_train_evaluate_and_export_at_the_chosen_size(base, tmp_path):
    path = tmp_path / "demo_x.yml"
    pretrain = tmp_path / "start.pdparams"
    path.write_text(
        demo_config(
            shipped_configs() / base,
            FULL,
            dataset=tmp_path / "shapes",
            save_dir=tmp_path / "out",
            name="demo_x",
            iters=7,
            pretrain=pretrain,
        )
    )
    cfg = load_config(path)
    assert (cfg.max_iters, cfg.snapshot_iter, cfg.num_classes) == (7, 7, 3)
    assert cfg.pretrain_weights == str(pretrain)
    assert cfg.weights == str(tmp_path / "out" / "demo_x" / "model_final")
    train = cfg.section("TrainReader")
    assert train["batch_size"] == FULL.batch_size
    assert train["batch_transforms"][0]["sizes"] == [FULL.input_size]
    assert train["dataset"]["dataset_dir"] == str(tmp_path / "shapes")
    assert cfg.section("EvalReader")["sample_transforms"][1]["target_size"] == FULL.input_size
    assert cfg.section("TestReader")["inputs_def"]["image_shape"] == [3, FULL.input_size, FULL.input_size]
    milestones = cfg.section("LearningRate")["schedulers"][0]["milestones"]
    assert milestones == sorted(set(milestones)) and milestones[-1] <= 7


def test_a_fast_demo_is_smaller_than_the_full_one_in_every_stage():
    for field in ("num_train", "num_test", "input_size", "teacher_iters", "student_iters", "finetune_iters"):
        assert getattr(FAST, field) < getattr(FULL, field), field
    assert set(FAST.sensitivity_params) < set(FULL.sensitivity_params)


def test_the_full_demo_is_estimated_to_fit_25_minutes_on_the_slow_machine_with_a_teacher_trained_far_longer():
    assert estimated_seconds(FULL) <= 25 * 60 * 0.9  # a tenth kept for the machine's bad days
    assert FULL.teacher_iters >= 2 * (FULL.student_iters + FULL.finetune_iters)


def test_a_stage_whose_output_exists_is_reused_and_not_run(tmp_path):
    ran, announced = [], []
    stages = _Stages(lambda time: announced.append((time.stage, time.reused)))
    (tmp_path / "done").touch()
    assert stages.run("old", tmp_path / "done", lambda: ran.append("old")) is None
    assert stages.run("new", tmp_path / "missing", lambda: ran.append("new") or 42) == 42
    assert stages.run("always", None, lambda: 7) == 7
    assert ran == ["new"]
    assert announced == [("old", True), ("new", False), ("always", False)]
    assert [(t.stage, t.reused) for t in stages.times] == [("old", True), ("new", False), ("always", False)]


def test_a_full_demo_folder_refuses_a_fast_run_and_the_other_way_round(tmp_path):
    _claim(tmp_path / "demo.json", fast=False)
    _claim(tmp_path / "demo.json", fast=False)  # the same mode continues
    with pytest.raises(SlimdetError, match="holds a full demo: run without --fast"):
        _claim(tmp_path / "demo.json", fast=True)


def test_a_score_is_kept_as_long_as_its_weights_and_measured_again_once_they_change(tmp_path, monkeypatch):
    measured = []
    monkeypatch.setattr(demo, "_score", lambda config, weights: measured.append(weights.name) or {"mAP": len(measured)})
    models = {name: (tmp_path / f"{name}.yml", tmp_path / f"{name}.pdparams") for name in ("teacher", "student")}
    for _, weights in models.values():
        weights.write_bytes(b"first")
    path = tmp_path / "scores.json"
    assert _scores(path, models, _saved_scores(path, models)) == {"teacher": {"mAP": 1}, "student": {"mAP": 2}}
    assert _saved_scores(path, models) == {"teacher": {"mAP": 1}, "student": {"mAP": 2}}

    models["student"][1].write_bytes(b"retrained")  # a stage re-run: other weights, the old score is stale
    saved = _saved_scores(path, models)
    assert saved == {"teacher": {"mAP": 1}}
    assert _scores(path, models, saved) == {"teacher": {"mAP": 1}, "student": {"mAP": 3}}
    assert measured == ["teacher.pdparams", "student.pdparams", "student.pdparams"]
    assert _saved_scores(path, models) == {"teacher": {"mAP": 1}, "student": {"mAP": 3}}
