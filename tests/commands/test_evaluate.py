"""``slimdet eval``'s cores: a float export scores what its checkpoint scores."""

import pytest

from slimdet.commands.evaluate import evaluate_checkpoint, evaluate_exported
from slimdet.commands.export import export_checkpoint
from slimdet.commands.train import train_from_config
from slimdet.config import load_config


def test_float_export_scores_the_mAP_of_its_trained_checkpoint(tiny_train_config, tmp_path):
    trained = train_from_config(load_config(tiny_train_config), quiet=True)
    weights = trained.final_checkpoint
    cfg = load_config(tiny_train_config, [f"weights={weights}"])
    dygraph = evaluate_checkpoint(cfg)
    exported = export_checkpoint(tiny_train_config, [f"weights={weights}"], output_dir=tmp_path / "exported")

    scored = evaluate_exported(exported.out_dir, tiny_train_config, threads=1)
    assert scored.engine == "paddle_inference" and scored.precision == "float32" and scored.images == dygraph.images
    assert sum(row.num_det for row in scored.summary.classes) > 0  # not a vacuous comparison of empty outputs
    assert scored.summary.metrics["mAP"] == pytest.approx(dygraph.summary.metrics["mAP"], abs=1e-3)  # 0.1 point
    for ours, theirs in zip(scored.summary.classes, dygraph.summary.classes):
        assert (ours.name, ours.num_gt) == (theirs.name, theirs.num_gt)
        assert ours.num_det == pytest.approx(theirs.num_det, rel=0.02)  # boxes at the score threshold may flip
