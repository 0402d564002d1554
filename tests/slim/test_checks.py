"""distill-prune pre-flight checks: configs and flags only, every problem at once, each with its fix."""

import copy
from pathlib import Path

import pytest

from slimdet.errors import SlimdetError
from slimdet.slim.checks import check_distillation
from slimdet.slim.distill_settings import DistillSettings

ANCHORS = [[10, 13], [16, 30], [33, 23], [30, 61], [62, 45], [59, 119], [116, 90], [156, 198], [373, 326]]
MASKS = [[6, 7, 8], [3, 4, 5], [0, 1, 2]]
CONFIGS = Path(__file__).resolve().parents[2] / "configs"
PARAMS = "yolo_block.0.0.0.conv.weights,yolo_block.0.0.1.conv.weights,yolo_block.0.1.0.conv.weights"


def config(**top):
    """A merged config shaped like Config.to_dict(), reduced to what the checks read."""
    return {
        "architecture": "YOLOv3",
        "num_classes": 20,
        "use_fine_grained_loss": True,
        "YOLOv3": {"backbone": "MobileNet", "yolo_head": "YOLOv3Head"},
        "YOLOv3Head": {"anchors": copy.deepcopy(ANCHORS), "anchor_masks": copy.deepcopy(MASKS)},
        **top,
    }


def check(student, teacher, teacher_pretrained, *, params=PARAMS, ratios="0.5"):
    return check_distillation(
        student, teacher, pruned_params=params, pruned_ratios=ratios, teacher_pretrained=teacher_pretrained
    )


@pytest.fixture
def teacher_weights(tmp_path):
    path = tmp_path / "yolov3_r34_voc.pdparams"
    path.write_bytes(b"")
    return str(path)


def test_valid_request_returns_its_pruning_plan(teacher_weights):
    plan = check(config(), config(), teacher_weights, ratios="0.2,0.3,0.4")
    assert list(plan.ratios.values()) == [0.2, 0.3, 0.4]


def test_teacher_weights_may_be_a_url_a_legacy_prefix_or_a_folder(tmp_path, teacher_weights):
    prefix = teacher_weights.removesuffix(".pdparams")
    for source in ("https://paddlemodels.bj.bcebos.com/object_detection/yolov3_r34_voc.tar", prefix, str(tmp_path)):
        check(config(), config(), source)


def test_fine_grained_loss_check_says_how_to_fix_it(teacher_weights):
    student = config(use_fine_grained_loss=False)
    with pytest.raises(SlimdetError, match="use_fine_grained_loss is false .*: set -o use_fine_grained_loss=true"):
        check(student, config(), teacher_weights)


@pytest.mark.parametrize(
    "key, teacher",
    [
        ("num_classes", config(num_classes=80)),
        ("YOLOv3Head.anchors", config(YOLOv3Head={"anchors": ANCHORS[::-1], "anchor_masks": MASKS})),
        ("YOLOv3Head.anchor_masks", config(YOLOv3Head={"anchors": ANCHORS, "anchor_masks": MASKS[::-1]})),
    ],
)
def test_teacher_and_student_must_agree_on_classes_and_anchors(key, teacher, teacher_weights):
    with pytest.raises(SlimdetError, match=f"disagree on {key} .*give the teacher config the student's {key}"):
        check(config(), teacher, teacher_weights)


def test_anchors_written_as_floats_still_agree(teacher_weights):
    teacher = config(YOLOv3Head={"anchors": [[float(w), float(h)] for w, h in ANCHORS], "anchor_masks": MASKS})
    check(config(), teacher, teacher_weights)


def test_missing_values_take_the_legacy_defaults_as_build_model_does(teacher_weights):
    # The student spells out the default anchors and masks; the teacher leaves them out.
    teacher = config(YOLOv3Head={})
    check(config(), teacher, teacher_weights)
    with pytest.raises(SlimdetError, match=r"disagree on num_classes \(20 vs None\)"):  # required: no default
        teacher_without_classes = {k: v for k, v in config().items() if k != "num_classes"}
        check(config(), teacher_without_classes, teacher_weights)


def test_every_problem_is_reported_at_once_each_with_its_fix(tmp_path):
    with pytest.raises(SlimdetError) as err:
        check_distillation(
            config(use_fine_grained_loss=False),
            config(num_classes=80),
            pruned_params=None,
            pruned_ratios=None,
            teacher_pretrained=str(tmp_path / "missing.pdparams"),
            teacher_backend="tensorrt",
            distill=DistillSettings(weight=-1.0, balance="per-pixel", temperature=0.0, confidence=1.0, feature=-1.0),
        )
    clauses = str(err.value).split("; ")
    assert len(clauses) == 10
    assert "set -o use_fine_grained_loss=true" in clauses[0]
    assert "disagree on num_classes (20 vs 80)" in clauses[1]
    assert "--pruned_params is required" in clauses[2]
    assert "missing.pdparams' does not exist: check the path" in clauses[3]
    assert "unknown teacher backend 'tensorrt': choose one of auto, inference, dygraph" in clauses[4]
    assert "--distill-weight must be 0 or above (legacy: 1000), got -1" in clauses[5]
    assert "unknown distill balance 'per-pixel': choose one of input-size, legacy" in clauses[6]
    assert "--distill-temperature must be above 0 (1: the legacy loss), got 0" in clauses[7]
    assert "--distill-confidence must be in [0, 1) (0: off, the legacy loss), got 1" in clauses[8]
    assert "--distill-feature must be 0 or above (0: off, the legacy loss), got -1" in clauses[9]


@pytest.mark.parametrize(
    "ratios, teacher_pretrained, message",
    [
        ("0.5,0.5", "given", "3 names but --pruned_ratios has 2 ratios"),
        ("0.5", None, "--teacher_pretrained is required"),
    ],
)
def test_flag_problems_are_reported_with_the_rest(ratios, teacher_pretrained, message, teacher_weights):
    source = teacher_weights if teacher_pretrained else None
    with pytest.raises(SlimdetError, match=message):
        check(config(), config(), source, ratios=ratios)


def test_legacy_readme_configs_pass_once_fine_grained_loss_is_switched_on(teacher_weights, synthetic_voc):
    # The distill_pruned_model README pairs these two configs; their use_fine_grained_loss is false.
    from slimdet.config import load_config

    data = [f"TrainReader.dataset.dataset_dir={synthetic_voc}", "TrainReader.dataset.anno_path=trainval.txt"]
    teacher = load_config(CONFIGS / "yolov3_r34_voc.yml").to_dict()
    student = load_config(CONFIGS / "yolov3_mobilenet_v1_voc.yml", data).to_dict()
    with pytest.raises(SlimdetError, match="set -o use_fine_grained_loss=true$"):
        check(student, teacher, teacher_weights)
    student = load_config(CONFIGS / "yolov3_mobilenet_v1_voc.yml", [*data, "use_fine_grained_loss=true"]).to_dict()
    check(student, teacher, teacher_weights)


def test_missing_dataset_folder_is_reported_with_the_override_that_fixes_it(teacher_weights, tmp_path):
    student = config(TrainReader={"dataset": {"type": "VOCDataSet", "dataset_dir": str(tmp_path / "none")}})
    with pytest.raises(SlimdetError, match=r"TrainReader.dataset.dataset_dir .*none does not exist: .*-o TrainReader"):
        check(student, config(), teacher_weights)


def test_the_l2_method_needs_no_fine_grained_loss_and_refuses_the_split_losss_levers(teacher_weights):
    student = config(use_fine_grained_loss=False)  # l2 compares the raw outputs, which every head has
    l2 = DistillSettings(method="l2", weight=100.0)
    plan = check_distillation(student, config(), pruned_params=PARAMS, pruned_ratios="0.5",
                              teacher_pretrained=teacher_weights, distill=l2)  # fmt: skip
    assert plan is not None
    with pytest.raises(SlimdetError) as err:
        check_distillation(student, config(), pruned_params=PARAMS, pruned_ratios="0.5",
                           teacher_pretrained=teacher_weights,
                           distill=DistillSettings(method="l2", temperature=2.0, confidence=0.5))  # fmt: skip
    assert str(err.value).split("; ") == [
        "--distill-temperature shapes the split loss only: drop it with --distill-method l2",
        "--distill-confidence shapes the split loss only: drop it with --distill-method l2",
    ]
    unknown = "unknown distill method 'spilt' \\(did you mean 'split'\\?\\): choose one of split, l2"
    with pytest.raises(SlimdetError, match=unknown):
        check_distillation(config(), config(), pruned_params=PARAMS, pruned_ratios="0.5",
                           teacher_pretrained=teacher_weights, distill=DistillSettings(method="spilt"))  # fmt: skip
