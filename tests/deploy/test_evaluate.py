"""Scoring an exported folder: a float export scores what its checkpoint scores; mismatched classes are refused."""

import dataclasses

import pytest

from slimdet.commands.evaluate import evaluate_checkpoint
from slimdet.config import load_config
from slimdet.deploy.evaluate import check_classes, evaluate_exported
from slimdet.deploy.export import export_checkpoint
from slimdet.deploy.infer_cfg import InferConfig
from slimdet.errors import ConfigError


def test_float_export_scores_the_mAP_of_its_trained_checkpoint(overfit_tiny, tmp_path):
    weights = overfit_tiny.weights
    dygraph = evaluate_checkpoint(load_config(overfit_tiny.config), str(weights), engine="dygraph")
    exported = export_checkpoint(overfit_tiny.config, [f"weights={weights}"], output_dir=tmp_path / "exported")

    scored = evaluate_exported(exported.out_dir, overfit_tiny.config, threads=1)
    assert scored.engine == "paddle_inference" and scored.precision == "float32" and scored.images == dygraph.images
    assert sum(row.num_det for row in scored.summary.classes) > 0  # not a vacuous comparison of empty outputs
    assert scored.summary.metrics["mAP"] == pytest.approx(dygraph.summary.metrics["mAP"], abs=1e-3)  # 0.1 point
    assert dygraph.summary.metrics["mAP"] > 0.3  # the overfit model: equal mAPs are not two zeros
    for ours, theirs in zip(scored.summary.classes, dygraph.summary.classes):
        assert (ours.name, ours.num_gt) == (theirs.name, theirs.num_gt)
        assert ours.num_det == pytest.approx(theirs.num_det, rel=0.02)  # boxes at the score threshold may flip


def test_a_model_of_other_classes_is_refused():
    from slimdet.data.datasets.base import DetectionDataset

    infer_cfg = InferConfig(input_size=64, preprocess=(), label_list=("cat", "dog"))
    with pytest.raises(ConfigError, match="not the EvalReader's"):
        check_classes(infer_cfg, DetectionDataset([], ["dog", "cat"], with_background=False))
    check_classes(
        dataclasses.replace(infer_cfg, label_list=("dog", "cat")),
        DetectionDataset([], ["dog", "cat"], with_background=False),
    )
