"""One YOLOv3 geometry per config: read once, shared by head, loss, post-processing and the training targets;
a config whose copies of the strides or anchors disagree is refused before anything is built."""

from pathlib import Path

import pytest

from slimdet.config import ConfigProblems, load_config
from slimdet.config.geometry import YOLOv3Geometry, geometry_problems
from slimdet.errors import ConfigError

SHAPES = Path(__file__).resolve().parents[2] / "configs" / "shapes_yolov3_mobilenet_v1.yml"


def test_a_config_whose_two_downsample_lists_disagree_is_refused_with_both_named():
    with pytest.raises(ConfigProblems) as err:
        load_config(SHAPES, ["YOLOv3Loss.downsample=[32,16,16]"])
    assert "YOLOv3Loss.downsample [32, 16, 16] disagrees with YOLOv3Head.downsample [32, 16, 8]" in str(err.value)


def test_target_assignment_that_spells_other_strides_is_refused(synthetic_voc):
    cfg = load_config(SHAPES, [f"TrainReader.dataset.dataset_dir={synthetic_voc}"]).to_dict()
    target = next(t for t in cfg["TrainReader"]["batch_transforms"] if t["type"] == "Gt2YoloTarget")
    target["downsample_ratios"] = [32, 16, 4]
    assert geometry_problems(cfg) == []  # a model built from it (a teacher, an export) is fine

    from slimdet.data import build_loader

    with pytest.raises(ConfigError, match=r"Gt2YoloTarget\)\.downsample_ratios \[32, 16, 4\] disagrees with"):
        build_loader(cfg, "train")


def test_head_loss_post_process_and_targets_get_the_one_geometry(synthetic_voc):
    from slimdet.data import build_pipeline
    from slimdet.data.transforms import Gt2YoloTarget
    from slimdet.modeling.build import build_model

    cfg = load_config(SHAPES, [f"TrainReader.dataset.dataset_dir={synthetic_voc}"]).to_dict()
    geometry = YOLOv3Geometry.from_config(cfg)
    assert geometry == YOLOv3Geometry(num_classes=3)  # the legacy anchors, masks and strides
    model = build_model(cfg, geometry=geometry)
    assert model.head.geometry is model.post_process.geometry is model.loss.geometry is geometry
    [targets] = build_pipeline(cfg, "train", geometry=geometry).find(Gt2YoloTarget)
    assert targets.anchor_masks == [list(m) for m in geometry.anchor_masks]
    assert targets.downsample_ratios == list(geometry.strides) and targets.num_classes == 3
