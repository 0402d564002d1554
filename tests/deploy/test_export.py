"""Export: the folder layout, the graph's interface, parity with the model, pruned size, atomic writes."""

import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from slimdet.deploy import export as export_module
from slimdet.deploy.export import export_model
from slimdet.deploy.infer_cfg import InferConfig
from slimdet.deploy.parity import check_parity, compare_detections
from slimdet.deploy.predictor import DygraphPredictor, OnnxPredictor, PaddlePredictor
from slimdet.deploy.preprocess import Preprocessor
from slimdet.errors import SlimdetError
from tests.conftest import R578_LIKE


def _has_onnx_extra() -> bool:
    try:
        export_module.import_onnx_tools()
    except SlimdetError:
        return False
    return True


def test_writes_model_params_and_infer_cfg_into_the_named_folder(exported):
    folder = Path(exported.out_dir)
    assert folder.name == "shapes_small"
    for name in ("model.pdmodel", "model.pdiparams", "infer_cfg.yml"):
        assert (folder / name).is_file()
        assert exported.files[name] == (folder / name).stat().st_size
    assert not (folder / "model.plan.json").exists()  # unpruned: no plan
    assert [p.name for p in folder.parent.iterdir()] == ["shapes_small"]  # no temp folder left
    assert b'File "' not in (folder / "model.pdmodel").read_bytes()  # traced without the ops' Python call stacks


def test_infer_cfg_describes_the_eval_reader_and_the_classes(exported, shapes_labels):
    infer_cfg = InferConfig.read(Path(exported.out_dir))
    assert infer_cfg.input_size == exported.input_size == 96
    assert infer_cfg.arch == "YOLO" and infer_cfg.metric == "VOC"
    assert [s["type"] for s in infer_cfg.preprocess] == ["Resize", "Normalize", "Permute"]
    assert infer_cfg.preprocess[0]["interp"] == 2
    assert infer_cfg.label_list == tuple(shapes_labels)


def test_graph_takes_a_batch_and_returns_rows_and_counts_per_image(exported):
    predictor = PaddlePredictor(Path(exported.out_dir), threads=1)
    image = np.random.default_rng(3).standard_normal((3, 3, 96, 96)).astype(np.float32)
    out = predictor(image, np.array([[96, 96], [200, 100], [50, 300]], np.int32))
    assert out.bbox.shape[1] == 6 and out.bbox_num.shape == (3,)
    assert int(out.bbox_num.sum()) == out.bbox.shape[0] > 0
    for rows, (h, w) in zip(out.per_image(), [(96, 96), (200, 100), (50, 300)]):
        assert set(np.unique(rows[:, 0])) <= {0.0, 1.0, 2.0}
        assert (rows[:, 2] >= 0).all() and (rows[:, 4] <= w - 1 + 1e-3).all()  # clipped to the original size
        assert (rows[:, 3] >= 0).all() and (rows[:, 5] <= h - 1 + 1e-3).all()


def test_paddle_inference_gives_the_dygraph_detections_on_real_images(exported, shapes_model, test_images):
    infer_cfg = InferConfig.read(Path(exported.out_dir))
    report = check_parity(
        DygraphPredictor(shapes_model), PaddlePredictor(Path(exported.out_dir), threads=1), test_images, infer_cfg
    )
    assert report.images == 4
    assert report.detections >= 4 * 50  # plenty of boxes to compare, not a vacuous pass
    assert report.ok, report.to_dict()
    assert report.max_box_diff <= 1e-3 and report.max_score_diff <= 1e-5
    assert exported.parity.ok  # the check export itself ran


def test_deployed_preprocessing_feeds_exactly_what_eval_feeds(exported, shapes_cfg, synthetic_voc):
    from slimdet.data import build_loader

    batch = next(iter(build_loader(shapes_cfg, "eval", workers=0)))
    first = synthetic_voc / (synthetic_voc / "test.txt").read_text().split()[0]
    _, image, im_size = Preprocessor(InferConfig.read(Path(exported.out_dir)).preprocess).prepare(first)
    np.testing.assert_allclose(image[0], batch["image"][0], atol=1e-5)
    np.testing.assert_array_equal(im_size[0], batch["im_size"][0])


@pytest.mark.skipif(not _has_onnx_extra(), reason="the onnx extra (paddle2onnx, onnxruntime) is not installed")
def test_onnx_model_gives_the_paddle_inference_detections(exported, test_images):
    folder = Path(exported.out_dir)
    assert exported.onnx_parity is not None and exported.onnx_parity.ok
    report = check_parity(
        PaddlePredictor(folder, threads=1),
        OnnxPredictor(folder / "model.onnx", threads=1),
        test_images,
        InferConfig.read(folder),
    )
    assert report.detections >= 4 * 50
    assert report.ok, report.to_dict()


@pytest.mark.skipif(not _has_onnx_extra(), reason="the onnx extra (paddle2onnx, onnxruntime) is not installed")
def test_onnx_nms_agrees_when_no_box_one_box_or_several_survive(
    exported, shapes_model, shapes_cfg, shapes_labels, test_images, tmp_path, monkeypatch, capfd
):
    """paddle2onnx's NMS graph failed in onnxruntime when exactly one box was kept on an image: re-export with a
    score threshold between an image's two best scores, so that only its best box survives. paddle2onnx's own
    warnings (from C++, on the process's file descriptors) stay out of the user's stdout and stderr."""
    folder = Path(exported.out_dir)
    _, image, im_size = Preprocessor(InferConfig.read(folder).preprocess).prepare(test_images[0])
    several = PaddlePredictor(folder, threads=1)(image, im_size)
    best, second = np.sort(several.bbox[:, 1])[::-1][:2]
    assert best > second
    post = shapes_model.post_process
    monkeypatch.setattr(post, "nms", replace(post.nms, score_threshold=float(best + second) / 2))
    capfd.readouterr()
    strict = export_model(shapes_model, shapes_cfg, None, tmp_path / "m", label_list=shapes_labels, onnx=True)
    assert capfd.readouterr() == ("", "")
    assert strict.onnx_parity is not None and strict.onnx_parity.ok

    blank = np.zeros_like(image)  # the normalised mean colour: nothing reaches the threshold
    cases = [(folder, image, several.bbox_num[0]), (tmp_path / "m", image, 1), (tmp_path / "m", blank, 0)]
    for model_dir, batch, kept in cases:
        paddle_out = PaddlePredictor(model_dir, threads=1)(batch, im_size)
        onnx_out = OnnxPredictor(model_dir / "model.onnx", threads=1)(batch, im_size)
        assert paddle_out.bbox_num.tolist() == onnx_out.bbox_num.tolist() == [kept]
        report = compare_detections(
            [(paddle_out, onnx_out)], reference="paddle", candidate="onnx", box_tol=1e-4, score_tol=1e-4
        )
        assert report.ok, report.to_dict()
    assert several.bbox_num[0] >= 2


def test_onnx_without_the_extra_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail
    with pytest.raises(SlimdetError, match=r"pip install 'slimdet\[onnx\]'"):
        export_module.import_onnx_tools()


@pytest.fixture(scope="module")
def pruned_export(shapes_cfg, shapes_labels, tmp_path_factory):
    import paddle

    from slimdet.modeling.build import build_model
    from slimdet.slim.plan import PruningPlan

    paddle.seed(1)
    model = build_model(shapes_cfg)
    plan = PruningPlan(ratios=R578_LIKE)
    report = plan.apply(model, input_size=96)
    result = export_model(model, shapes_cfg, plan, tmp_path_factory.mktemp("pruned") / "r578", label_list=shapes_labels)
    return result, plan, report, model


def test_pruned_export_is_smaller_by_the_pruned_parameter_fraction(exported, pruned_export):
    result, _, report, _ = pruned_export
    disk_ratio = result.files["model.pdiparams"] / exported.files["model.pdiparams"]
    param_ratio = report.params_after / report.params_before
    assert disk_ratio < 0.5  # r578 removes about two thirds of MobileNetV1-YOLOv3's parameters
    assert disk_ratio == pytest.approx(param_ratio, rel=0.01)
    assert result.gflops < exported.gflops
    assert result.parity.ok and result.parity.detections > 0  # export's own check compared boxes


def test_pruned_export_gives_the_pruned_models_detections_on_real_images(pruned_export, test_images):
    result, _, _, model = pruned_export
    folder = Path(result.out_dir)
    exported_model = PaddlePredictor(folder, threads=1)
    report = check_parity(DygraphPredictor(model), exported_model, test_images, InferConfig.read(folder))
    assert report.images == 4
    assert report.detections >= 4 * 50  # plenty of boxes to compare, not a vacuous pass
    assert report.ok, report.to_dict()


def test_pruned_export_keeps_its_plan_beside_the_model(pruned_export):
    from slimdet.slim.plan import load_plan

    result, plan, _, _ = pruned_export
    saved = load_plan(Path(result.out_dir) / "model")
    assert saved is not None and saved.same_structure(plan)
    assert result.plan == plan.to_dict()


def test_reexport_replaces_the_old_folder_whole(shapes_model, shapes_cfg, shapes_labels, tmp_path):
    target = tmp_path / "m"
    target.mkdir()
    (target / "stale.txt").write_text("from an older export")
    export_model(shapes_model, shapes_cfg, None, target, label_list=shapes_labels)
    assert not (target / "stale.txt").exists()
    assert (target / "model.pdmodel").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def test_failed_export_leaves_nothing_behind(shapes_model, shapes_cfg, shapes_labels, tmp_path, monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(export_module, "write_onnx", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        export_model(shapes_model, shapes_cfg, None, tmp_path / "m", label_list=shapes_labels, onnx=True)
    assert list(tmp_path.iterdir()) == []


def test_result_is_plain_data(exported):
    data = json.loads(json.dumps(exported.to_dict()))
    assert data["ok"] is True and data["input_size"] == 96 and data["parity"]["ok"] is True
