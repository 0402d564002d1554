"""``slimdet export``: JSON result, the folder it writes, pruning from flags or sidecar, one-line errors."""

import json
import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from slimdet.cli import app
from tests.cli.one_line import one_error_line
from tests.conftest import R578_LIKE

R578_PARAMS = ",".join(R578_LIKE)
R578_RATIOS = ",".join(str(ratio) for ratio in R578_LIKE.values())


def _export(*args: str):
    return CliRunner().invoke(app, ["export", *args])


def test_table_output_shows_the_folder_and_parity(small_shapes_checkpoint, tmp_path):
    config, weights = small_shapes_checkpoint
    result = _export("-c", str(config), "-o", f"weights={weights}", "--output-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert f"exported to {tmp_path / config.stem}" in result.stdout
    assert "parity" in result.stdout and "dygraph" in result.stdout and "True" in result.stdout


@pytest.fixture(scope="module")
def pruned_checkpoint(small_shapes_checkpoint, tmp_path_factory) -> Path:
    """A r578-pruned copy of the small shapes weights, saved without its plan sidecar."""
    import paddle

    from slimdet.config import load_config
    from slimdet.modeling.build import build_model
    from slimdet.slim.plan import PruningPlan
    from slimdet.weights import save_weights

    config, _ = small_shapes_checkpoint
    paddle.seed(2)
    model = build_model(load_config(config).to_dict())
    PruningPlan.from_flags(R578_PARAMS, R578_RATIOS).apply(model, input_size=96)
    return save_weights(model, tmp_path_factory.mktemp("pruned") / "r578.pdparams")


def test_pruning_flags_rebuild_a_pruned_checkpoint(small_shapes_checkpoint, pruned_checkpoint, tmp_path):
    config, _ = small_shapes_checkpoint
    result = _export(
        "-c",
        str(config),
        "-o",
        f"weights={pruned_checkpoint}",
        "--pruned_params",
        R578_PARAMS,
        "--pruned_ratios",
        R578_RATIOS,
        "--output-dir",
        str(tmp_path),
        "--json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["ok"] is True and data["plan"]["ratios"]["yolo_block.2.tip.conv.weights"] == 0.8
    assert (tmp_path / config.stem / "model.plan.json").is_file()


def test_the_sidecar_alone_rebuilds_a_pruned_checkpoint(small_shapes_checkpoint, pruned_checkpoint, tmp_path):
    from slimdet.slim.plan import PruningPlan, save_plan

    config, _ = small_shapes_checkpoint
    weights = shutil.copy(pruned_checkpoint, tmp_path / "r578.pdparams")
    save_plan(PruningPlan.from_flags(R578_PARAMS, R578_RATIOS), weights)
    result = _export("-c", str(config), "-o", f"weights={weights}", "--output-dir", str(tmp_path / "out"), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["plan"]["ratios"]["yolo_block.0.0.0.conv.weights"] == 0.5


def test_pruned_weights_without_a_plan_do_not_fit(small_shapes_checkpoint, pruned_checkpoint, tmp_path):
    config, _ = small_shapes_checkpoint
    result = _export("-c", str(config), "-o", f"weights={pruned_checkpoint}", "--output-dir", str(tmp_path))
    assert "does not fit the model" in one_error_line(result)
    assert list(tmp_path.iterdir()) == []


def test_missing_weights_is_one_line(small_shapes_checkpoint, tmp_path):
    config, _ = small_shapes_checkpoint
    result = _export("-c", str(config), "-o", f"weights={tmp_path / 'missing.pdparams'}", "--output-dir", str(tmp_path))
    assert "missing.pdparams" in one_error_line(result)


def test_onnx_without_the_extra_is_one_line_naming_the_install(small_shapes_checkpoint, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "paddle2onnx", None)
    config, weights = small_shapes_checkpoint
    result = _export("-c", str(config), "-o", f"weights={weights}", "--output-dir", str(tmp_path), "--onnx")
    assert "pip install 'slimdet[onnx]'" in one_error_line(result)
    assert list(tmp_path.iterdir()) == []


def _without_dataset(tmp_path: Path) -> list[str]:
    """-o items that point every reader at a dataset folder that does not exist (a deployment machine)."""
    gone = tmp_path / "no_dataset_here"
    return [f"{reader}.dataset.dataset_dir={gone}" for reader in ("TrainReader", "EvalReader", "TestReader")]


def test_json_result_and_folder_named_after_the_config_and_no_dataset_needed_when_the_weights_name_the_classes(
    small_shapes_checkpoint, tmp_path
):
    from slimdet.data.labels import save_class_names

    config, weights = small_shapes_checkpoint
    deployed = tmp_path / "deployed" / "model.pdparams"
    deployed.parent.mkdir()
    shutil.copy(weights, deployed)
    save_class_names(["circle", "square", "triangle"], deployed)  # what training writes beside every checkpoint
    result = _export("-c", str(config), "-o", f"weights={deployed}", *_without_dataset(tmp_path),
                     "--output_dir", str(tmp_path / "out"), "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    folder = tmp_path / "out" / config.stem
    assert data["out_dir"] == str(folder) and data["ok"] is True and data["plan"] is None
    assert {"model.pdmodel", "model.pdiparams", "infer_cfg.yml"} <= set(data["files"])
    assert all((folder / name).is_file() for name in data["files"])
    assert "label_list: [circle, square, triangle]" in (folder / "infer_cfg.yml").read_text()


def test_export_without_dataset_or_recorded_names_is_one_line_and_writes_nothing(small_shapes_checkpoint, tmp_path):
    config, weights = small_shapes_checkpoint
    result = _export("-c", str(config), "-o", f"weights={weights}", *_without_dataset(tmp_path),
                     "--output-dir", str(tmp_path / "out"))  # fmt: skip
    line = one_error_line(result)
    assert "class names" in line and "random.labels.txt is not beside the weights" in line
    assert not (tmp_path / "out").exists()
