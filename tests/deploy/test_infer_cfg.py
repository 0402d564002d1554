"""infer_cfg.yml: written from the config's EvalReader, read back by the deploy side."""

import copy

import pytest
import yaml

from slimdet.deploy.infer_cfg import InferConfig
from slimdet.errors import ConfigError

LEGACY_EVAL_READER = {
    "sample_transforms": [
        {"type": "DecodeImage", "to_rgb": True},
        {"type": "ResizeImage", "target_size": 608, "interp": 2},
        {
            "type": "NormalizeImage",
            "mean": [0.485, 0.456, 0.406],
            "std": [0.229, 0.224, 0.225],
            "is_scale": True,
            "is_channel_first": False,
        },
        {"type": "PadBox", "num_max_boxes": 50},
        {"type": "Permute", "to_bgr": False, "channel_first": True},
    ],
    "batch_size": 8,
}
CFG = {"architecture": "YOLOv3", "metric": "VOC", "num_classes": 3, "EvalReader": LEGACY_EVAL_READER}
LABELS = ["circle", "square", "triangle"]


def test_preprocess_follows_the_eval_reader_minus_decode_and_box_steps():
    steps = InferConfig.from_config(CFG, LABELS).to_dict()["Preprocess"]
    assert [s["type"] for s in steps] == ["Resize", "Normalize", "Permute"]
    resize, normalize, permute = steps
    assert resize["target_size"] == 608 and resize["interp"] == 2 and resize["image_shape"] == [608, 608]
    assert resize["max_size"] == 0
    assert normalize["mean"] == [0.485, 0.456, 0.406] and normalize["std"] == [0.229, 0.224, 0.225]
    assert normalize["is_scale"] is True and normalize["is_channel_first"] is False
    assert permute["to_bgr"] is False and permute["channel_first"] is True


def test_written_file_has_the_fields_paddledetection_deploy_reads(tmp_path):
    path = InferConfig.from_config(CFG, LABELS).write(tmp_path)
    data = yaml.safe_load(path.read_text())
    assert data["arch"] == "YOLO"
    assert data["min_subgraph_size"] == 3
    assert data["with_background"] is False
    assert data["draw_threshold"] == 0.5
    assert data["metric"] == "VOC"
    assert data["label_list"] == LABELS
    assert "mode" in data
    assert [p.name for p in tmp_path.iterdir()] == ["infer_cfg.yml"]  # no temp file left behind


def test_round_trip_through_the_file(tmp_path):
    written = InferConfig.from_config(CFG, LABELS)
    written.write(tmp_path)
    read = InferConfig.read(tmp_path)
    assert read == written
    assert read.input_size == 608


def test_input_size_comes_from_the_resize_step():
    cfg = copy.deepcopy(CFG)
    cfg["EvalReader"]["sample_transforms"][1]["target_size"] = 128
    assert InferConfig.from_config(cfg, LABELS).input_size == 128


def test_missing_legacy_keys_take_the_legacy_defaults():
    cfg = copy.deepcopy(CFG)
    cfg["EvalReader"]["sample_transforms"][1] = {"type": "ResizeImage", "target_size": 96}
    resize = InferConfig.from_config(cfg, LABELS).preprocess[0]
    assert resize["interp"] == 1 and resize["max_size"] == 0


def test_rejects_a_non_yolo_architecture():
    with pytest.raises(ConfigError, match="YOLOv3 only"):
        InferConfig.from_config({**CFG, "architecture": "FasterRCNN"}, LABELS)


def test_rejects_a_transform_it_cannot_deploy_with_a_suggestion():
    cfg = copy.deepcopy(CFG)
    cfg["EvalReader"]["sample_transforms"].insert(2, {"type": "NormaliseImage"})
    with pytest.raises(ConfigError, match="did you mean 'NormalizeImage'"):
        InferConfig.from_config(cfg, LABELS)


def test_rejects_keep_ratio_resize_because_the_graph_has_a_fixed_square_input():
    cfg = copy.deepcopy(CFG)
    cfg["EvalReader"]["sample_transforms"][1]["max_size"] = 1333
    with pytest.raises(ConfigError, match="max_size must be 0"):
        InferConfig.from_config(cfg, LABELS)


def test_rejects_labels_that_disagree_with_num_classes():
    with pytest.raises(ConfigError, match="num_classes is 3"):
        InferConfig.from_config(CFG, ["a", "b"])


def test_reading_a_missing_or_broken_file_says_how_to_fix_it(tmp_path):
    with pytest.raises(ConfigError, match="slimdet export"):
        InferConfig.read(tmp_path)
    (tmp_path / "infer_cfg.yml").write_text("mode: paddle\nlabel_list: [a]\n")
    with pytest.raises(ConfigError, match="lacks Preprocess"):
        InferConfig.read(tmp_path)
    (tmp_path / "infer_cfg.yml").write_text("Preprocess: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        InferConfig.read(tmp_path)
