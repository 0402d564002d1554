"""``slimdet eval``'s cores: a float export scores what its checkpoint scores."""

import pytest

from slimdet.commands.evaluate import EvalRequest, evaluate_checkpoint, evaluate_exported
from slimdet.commands.export import ExportRequest, export_checkpoint
from slimdet.config import load_config


def test_float_export_scores_the_mAP_of_its_trained_checkpoint(overfit_tiny, tmp_path):
    weights = overfit_tiny.weights
    dygraph = evaluate_checkpoint(EvalRequest(load_config(overfit_tiny.config), str(weights), backend="dygraph"))
    request = ExportRequest.from_flags(overfit_tiny.config, [f"weights={weights}"], output_dir=tmp_path / "exported")
    exported = export_checkpoint(request)

    scored = evaluate_exported(exported.out_dir, overfit_tiny.config, threads=1)
    assert scored.backend == "paddle_inference" and scored.precision == "float32" and scored.images == dygraph.images
    assert sum(row.num_det for row in scored.summary.classes) > 0  # not a vacuous comparison of empty outputs
    assert scored.summary.metrics["mAP"] == pytest.approx(dygraph.summary.metrics["mAP"], abs=1e-3)  # 0.1 point
    assert dygraph.summary.metrics["mAP"] > 0.3  # the overfit model: equal mAPs are not two zeros
    for ours, theirs in zip(scored.summary.classes, dygraph.summary.classes):
        assert (ours.name, ours.num_gt) == (theirs.name, theirs.num_gt)
        assert ours.num_det == pytest.approx(theirs.num_det, rel=0.02)  # boxes at the score threshold may flip
