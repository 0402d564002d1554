"""config.py: load_config end to end, on configs written the way PaddleDetection 0.x wrote them."""

import dataclasses
from pathlib import Path

import pytest
import yaml

from slimdet.config import Config, ConfigProblems, load_config
from slimdet.config.tags import parse_yaml
from slimdet.errors import ConfigError

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
# Files meant to be included, not run: they hold readers only.
PARTIAL_CONFIGS = {"yolov3_reader.yml", "shapes_reader.yml"}

LEGACY_READER = """
TrainReader:
  inputs_def:
    fields: ['image', 'gt_bbox', 'gt_class', 'gt_score']
    num_max_boxes: 50
  dataset:
    !COCODataSet
      image_dir: train2017
      anno_path: annotations/instances_train2017.json
      dataset_dir: dataset/coco
      with_background: false
  sample_transforms:
    - !DecodeImage
      to_rgb: True
      with_mixup: True
    - !ColorDistort {}
  batch_transforms:
  - !RandomShape
    sizes: [320, 352, 384]
    random_inter: True
  batch_size: 8
  shuffle: true
  mixup_epoch: 250
  drop_last: true
  worker_num: 8
  bufsize: 16
  use_process: true
"""

LEGACY_MAIN = """
architecture: YOLOv3
use_gpu: true
max_iters: 70000
log_smooth_window: 20
save_dir: output
snapshot_iter: 2000
metric: VOC
map_type: 11point
pretrain_weights: http://paddle-imagenet-models-name.bj.bcebos.com/MobileNetV1_pretrained.tar
weights: output/yolov3_mobilenet_v1_voc/model_final
num_classes: 20
use_fine_grained_loss: false

YOLOv3:
  backbone: MobileNet
  yolo_head: YOLOv3Head

MobileNet:
  norm_type: sync_bn
  norm_decay: 0.
  conv_group_scale: 1
  with_extra_blocks: false

YOLOv3Head:
  anchor_masks: [[6, 7, 8], [3, 4, 5], [0, 1, 2]]
  anchors: [[10, 13], [16, 30], [33, 23],
            [30, 61], [62, 45], [59, 119],
            [116, 90], [156, 198], [373, 326]]
  norm_decay: 0.
  yolo_loss: YOLOv3Loss
  nms:
    background_label: -1
    keep_top_k: 100
    nms_threshold: 0.45
    nms_top_k: 1000
    normalized: false
    score_threshold: 0.01

YOLOv3Loss:
  batch_size: 8
  ignore_thresh: 0.7
  label_smooth: false

LearningRate:
  base_lr: 0.001
  schedulers:
  - !PiecewiseDecay
    gamma: 0.1
    milestones:
    - 55000
    - 62000
  - !LinearWarmup
    start_factor: 0.
    steps: 1000

OptimizerBuilder:
  optimizer:
    momentum: 0.9
    type: Momentum
  regularizer:
    factor: 0.0005
    type: L2

_READER_: 'yolov3_reader.yml'
TrainReader:
  dataset:
    !VOCDataSet
    dataset_dir: dataset/voc
    anno_path: trainval.txt
    use_default_label: true
    with_background: false
"""


@pytest.fixture
def legacy_config(write_yaml) -> Path:
    write_yaml("yolov3_reader.yml", LEGACY_READER)
    return write_yaml("yolov3_mobilenet_v1_voc.yml", LEGACY_MAIN)


def test_legacy_config_loads_with_typed_globals(legacy_config: Path):
    cfg = load_config(legacy_config)
    assert cfg.path == legacy_config and cfg.name == "yolov3_mobilenet_v1_voc"
    assert (cfg.architecture, cfg.max_iters, cfg.snapshot_iter, cfg.num_classes) == ("YOLOv3", 70000, 2000, 20)
    assert (cfg.metric, cfg.map_type, cfg.use_gpu, cfg.use_fine_grained_loss) == ("VOC", "11point", True, False)
    assert cfg.weights == "output/yolov3_mobilenet_v1_voc/model_final"
    assert cfg.log_iter == 20  # from 0.4's log_smooth_window


def test_tags_are_plain_data_in_sections_and_to_dict(legacy_config: Path):
    cfg = load_config(legacy_config)
    data = cfg.to_dict()
    assert data["TrainReader"]["dataset"] == {
        "type": "VOCDataSet",
        "dataset_dir": "dataset/voc",
        "anno_path": "trainval.txt",
        "use_default_label": True,
        "with_background": False,
    }
    assert data["LearningRate"]["schedulers"][1] == {"type": "LinearWarmup", "start_factor": 0.0, "steps": 1000}
    assert cfg.section("TrainReader")["batch_transforms"][0]["sizes"] == [320, 352, 384]
    assert yaml.safe_load(yaml.safe_dump(data)) == data  # only plain types left


def test_section_and_to_dict_are_copies(legacy_config: Path):
    cfg = load_config(legacy_config)
    cfg.section("YOLOv3Head")["anchors"].clear()
    cfg.to_dict()["TrainReader"]["batch_size"] = 1
    assert len(cfg.section("YOLOv3Head")["anchors"]) == 9
    assert cfg.to_dict()["TrainReader"]["batch_size"] == 8


def test_absent_known_section_is_empty_and_unknown_name_is_a_key_error(legacy_config: Path):
    cfg = load_config(legacy_config)
    assert cfg.section("DarkNet") == {}
    with pytest.raises(KeyError, match="did you mean 'YOLOv3Head'"):
        cfg.section("YOLOv3Hed")


def test_config_is_frozen(legacy_config: Path):
    cfg = load_config(legacy_config)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.max_iters = 1  # type: ignore[misc]


def test_missing_globals_get_defaults(write_yaml):
    path = write_yaml("min.yml", "architecture: YOLOv3\nmax_iters: 10\nnum_classes: 3\nYOLOv3: {backbone: ResNet}\n")
    cfg = load_config(path)
    assert (cfg.log_iter, cfg.snapshot_iter, cfg.save_dir) == (20, 2000, "output")
    assert (cfg.metric, cfg.map_type) == ("VOC", "11point")
    assert (cfg.use_fine_grained_loss, cfg.weights, cfg.pretrain_weights) == (False, None, None)
    assert cfg.finetune_exclude_pretrained_params == ()
    assert cfg.to_dict()["log_iter"] == 20 and cfg.to_dict()["finetune_exclude_pretrained_params"] == []


def test_overrides_apply_on_top_of_files(legacy_config: Path):
    cfg = load_config(
        legacy_config,
        [
            "use_fine_grained_loss=true",
            "TrainReader.batch_size=4",
            "TrainReader.dataset.dataset_dir=/data/voc",
            "TrainReader.dataset.anno_path=small.txt",
            "finetune_exclude_pretrained_params=['yolo_output']",
        ],
    )
    assert cfg.use_fine_grained_loss is True
    assert cfg.finetune_exclude_pretrained_params == ("yolo_output",)
    train = cfg.section("TrainReader")
    assert train["batch_size"] == 4
    assert train["dataset"]["type"] == "VOCDataSet"
    assert (train["dataset"]["dataset_dir"], train["dataset"]["anno_path"]) == ("/data/voc", "small.txt")


RESNET_MINIMAL = "architecture: YOLOv3\nmax_iters: 10\nnum_classes: 3\nYOLOv3: {backbone: ResNet}\n"


def test_shared_overrides_skip_sections_the_config_lacks_and_own_overrides_win(write_yaml):
    """distill-prune's teacher gets the student's -o: a ResNet config without readers skips MobileNet.… and
    TrainReader.…, keeps globals and what its model is built from (written or not), then its own items win."""
    path = write_yaml("teacher.yml", RESNET_MINIMAL)
    shared = ["num_classes=4", "MobileNet.norm_decay=0.0", "ResNet.depth=50", "YOLOv3Head.nms.keep_top_k=7",
              "TrainReader.batch_size=2", "use_fine_grained_loss=true"]  # fmt: skip
    cfg = load_config(path, ["num_classes=5"], shared=shared)
    assert cfg.overrides == ("num_classes=4", "ResNet.depth=50", "YOLOv3Head.nms.keep_top_k=7",
                             "use_fine_grained_loss=true", "num_classes=5")  # fmt: skip
    assert cfg.num_classes == 5 and cfg.use_fine_grained_loss is True
    assert cfg.section("ResNet") == {"depth": 50} and cfg.section("YOLOv3Head") == {"nms": {"keep_top_k": 7}}
    assert "MobileNet" not in cfg.to_dict() and "TrainReader" not in cfg.to_dict()
    assert load_config(path, ["MobileNet.norm_decay=0.0"]).section("MobileNet") == {"norm_decay": 0.0}


def test_shared_overrides_are_validated_unless_skipped(write_yaml):
    path = write_yaml("teacher.yml", RESNET_MINIMAL)
    with pytest.raises(ConfigProblems) as caught:
        load_config(path, shared=["snapshot_iters=5", "Foo.bar=1", "MobileNet.norm_decay=-1", "ResNet.depth=35"])
    assert sorted(caught.value.problems) == [
        "ResNet.depth: expected one of 18, 34, 50, 101, 152, got 35",
        "unknown key 'Foo'",
        "unknown key 'snapshot_iters' (did you mean 'snapshot_iter'?)",
    ]


def test_unknown_key_suggests_the_close_one(legacy_config: Path):
    with pytest.raises(ConfigProblems) as caught:
        load_config(legacy_config, ["snapshot_iters=5"])
    assert caught.value.problems == ("unknown key 'snapshot_iters' (did you mean 'snapshot_iter'?)",)
    assert str(caught.value) == f"{legacy_config}: unknown key 'snapshot_iters' (did you mean 'snapshot_iter'?)"


def test_bad_type_names_path_expected_type_and_value(legacy_config: Path):
    with pytest.raises(ConfigError, match=r"TrainReader\.batch_size: expected an integer, got 'four'$"):
        load_config(legacy_config, ["TrainReader.batch_size=four"])


def test_all_problems_are_reported_together(legacy_config: Path, write_yaml):
    write_yaml("bad.yml", "_BASE_: [yolov3_mobilenet_v1_voc.yml]\nmetric: voc\nYOLOv3Head: {anchor_masks: [[9, 1]]}\n")
    with pytest.raises(ConfigProblems) as caught:
        load_config(
            legacy_config.parent / "bad.yml",
            ["max_iters=many", "no_equals", "TrainReader.shufle=false", "YOLOv3.backbone=MobileNetV3"],
        )
    assert caught.value.problems == (
        "override 'no_equals' is not key=value (e.g. -o TrainReader.batch_size=4)",
        "max_iters: expected an integer, got 'many'",
        "metric: expected one of 'VOC', 'COCO', got 'voc' (did you mean 'VOC'?)",
        "YOLOv3.backbone: expected one of 'MobileNet', 'ResNet', 'DarkNet', got 'MobileNetV3'"
        " (did you mean 'MobileNet'?)",
        "unknown key 'TrainReader.shufle' (did you mean 'shuffle'?)",
        "YOLOv3Head.anchor_masks: index 9 names no anchor (there are 9)",
    )
    assert str(caught.value).startswith(f"{legacy_config.parent / 'bad.yml'}: 6 problems: override 'no_equals'")


def test_missing_required_globals_are_named(write_yaml):
    with pytest.raises(ConfigProblems) as caught:
        load_config(write_yaml("empty.yml", ""))
    assert caught.value.problems == (
        "missing key 'architecture'",
        "missing key 'max_iters'",
        "missing key 'num_classes'",
    )


def test_missing_config_file(tmp_path: Path):
    with pytest.raises(ConfigError, match=f"^config file not found: {tmp_path / 'nope.yml'}$"):
        load_config(tmp_path / "nope.yml")


def test_harmless_legacy_keys_are_accepted(legacy_config: Path, write_yaml):
    write_yaml(
        "legacy.yml",
        """
        _BASE_: [yolov3_mobilenet_v1_voc.yml]
        train_batch_size: 8
        MobileNet: {weight_prefix_name: '', conv_decay: 0., conv_learning_rate: 1.0}
        ResNet: {variant: b, freeze_at: 0, freeze_norm: false, norm_type: bn, dcn_v2_stages: []}
        YOLOv3Head: {iou_aware: false, iou_aware_factor: 0.4, clip_bbox: true, scale_x_y: 1.0, drop_block: false,
                     conv_block_num: 2, weight_prefix_name: '', nms: !MultiClassNMS {nms_eta: 1.0}}
        YOLOv3Loss: {batch_size: 8, use_fine_grained_loss: false, iou_loss: null, scale_x_y: 1.0}
        TrainReader: {bufsize: 32, use_process: false, mixup_epoch: -1, memsize: 2G}
        EvalReader: {drop_empty: false, inputs_def: {fields: [image, im_size, im_id], num_max_boxes: 50}}
        TestReader: {inputs_def: {image_shape: [3, 608, 608], use_dataloader: true}}
        """,
    )
    cfg = load_config(legacy_config.parent / "legacy.yml")
    assert cfg.section("YOLOv3Head")["nms"]["type"] == "MultiClassNMS"


def test_options_slimdet_does_not_build_are_refused_when_switched_on(legacy_config: Path):
    with pytest.raises(ConfigProblems) as caught:
        load_config(legacy_config, ["YOLOv3Head.iou_aware=true", "YOLOv3Loss.iou_loss=IouLoss"])
    assert caught.value.problems == (
        "YOLOv3Head.iou_aware: expected false, got true (slimdet does not implement this option)",
        "YOLOv3Loss.iou_loss: expected null, got 'IouLoss'",
    )


def test_log_iter_wins_over_log_smooth_window(legacy_config: Path):
    assert load_config(legacy_config, ["log_iter=5"]).log_iter == 5


@pytest.mark.parametrize(
    "path", sorted(p for p in CONFIGS.glob("*.yml") if p.name not in PARTIAL_CONFIGS), ids=lambda p: p.name
)
def test_every_shipped_config_loads_and_validates(path: Path):
    cfg = load_config(path)
    assert isinstance(cfg, Config)
    assert cfg.weights == f"output/{cfg.name}/model_final"
    assert cfg.to_dict()["TrainReader"]["dataset"]["type"] in {"VOCDataSet", "COCODataSet"}


def test_files_skipped_above_are_really_includes_of_shipped_configs():
    included = set()
    for path in CONFIGS.glob("*.yml"):
        data = parse_yaml(path.read_text(), str(path))
        included.update([data.get("_READER_")] + list(data.get("_BASE_") or []))
    assert included >= PARTIAL_CONFIGS


@pytest.mark.parametrize(
    ("name", "classes", "metric"),
    [("yolov3_mobilenet_v1", 80, "COCO"), ("yolov3_r34", 80, "COCO"), ("yolov3_r34_voc", 20, "VOC")],
)
def test_shipped_model_configs_match_the_legacy_ones(name: str, classes: int, metric: str):
    cfg = load_config(CONFIGS / f"{name}.yml")
    assert (cfg.num_classes, cfg.metric) == (classes, metric)
    backbone = cfg.section("YOLOv3")["backbone"]
    assert backbone == ("MobileNet" if "mobilenet" in name else "ResNet")
    if backbone == "ResNet":
        assert cfg.section("ResNet")["depth"] == 34 and cfg.section("ResNet")["feature_maps"] == [3, 4, 5]
    dataset = cfg.section("TrainReader")["dataset"]
    if metric == "COCO":
        assert dataset == {
            "type": "COCODataSet",
            "dataset_dir": "dataset/coco",
            "anno_path": "annotations/instances_train2017.json",
            "image_dir": "train2017",
            "with_background": False,
        }


@pytest.mark.parametrize("name", ["shapes_yolov3_mobilenet_v1", "shapes_yolov3_r34"])
def test_shapes_demo_configs_are_small_fine_grained_and_offline(name: str):
    cfg = load_config(CONFIGS / f"{name}.yml")
    assert cfg.num_classes == 3 and cfg.use_fine_grained_loss
    assert cfg.pretrain_weights is None
    assert cfg.max_iters <= 1000 and cfg.snapshot_iter <= cfg.max_iters
    train, evaluate = cfg.section("TrainReader"), cfg.section("EvalReader")
    for reader, anno in ((train, "trainval.txt"), (evaluate, "test.txt")):
        assert reader["dataset"] == {
            "type": "VOCDataSet",
            "dataset_dir": "dataset/shapes",
            "anno_path": anno,
            "use_default_label": False,
            "label_list": "label_list.txt",
            "with_background": False,
        }
    sizes = next(t["sizes"] for t in train["batch_transforms"] if t["type"] == "RandomShape")
    assert max(sizes) <= 256
    resize = next(t for t in evaluate["sample_transforms"] if t["type"] == "ResizeImage")
    assert resize["target_size"] == max(sizes)  # evaluated at the size it trains at
    assert any(t["type"] == "Gt2YoloTarget" for t in train["batch_transforms"])
