"""Split and L2 distillation losses (docs/legacy.md, "Distillation") and the frozen teacher."""

import numpy as np
import paddle
import pytest
from paddle import nn

from slimdet.modeling.build import build_model
from slimdet.slim.distill import (
    FrozenTeacher,
    attention_transfer_loss,
    distill_loss_from_outputs,
    l2_distill_loss,
    split_distill_loss,
)
from slimdet.slim.pruner import prune_filters

from ..modeling.voc_configs import voc_cfg
from .toy import TOY_INPUT, build_toy

KEYS = ("x", "y", "w", "h", "obj")


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def bce(logits, labels):
    """Binary cross-entropy of logits against (soft) labels, the numerically stable way."""
    return np.maximum(logits, 0) - logits * labels + np.log1p(np.exp(-np.abs(logits)))


def random_levels(rng, n=2, a=3, c=4, sizes=((2, 2), (4, 3))):
    """Split logits per level: x..obj [N,A,H,W], cls [N,A,H,W,C], drawn wide enough to saturate."""
    return [
        {
            **{k: rng.normal(0, 2, (n, a, h, w)).astype("float32") for k in KEYS},
            "cls": rng.normal(0, 2, (n, a, h, w, c)).astype("float32"),
        }
        for h, w in sizes
    ]


def expected_parts(student, teacher, weight, temperature=1.0, min_confidence=0.0):
    def soft(s, t):  # the soft-target BCE at a temperature, scaled by its square (knowledge distillation)
        return bce(s / temperature, sigmoid(t / temperature)) * temperature**2

    reg = cls = obj = 0.0
    for s, t in zip(student, teacher):
        conf = sigmoid(t["obj"])
        conf = conf * (conf >= min_confidence)
        reg += np.mean(
            (soft(s["x"], t["x"]) + soft(s["y"], t["y"]) + np.abs(s["w"] - t["w"]) + np.abs(s["h"] - t["h"])) * conf
        )
        cls += np.mean(soft(s["cls"], t["cls"]) * conf[..., None])
        obj += np.mean(bce(s["obj"], (t["obj"] > 0).astype("float32")))
    return {"distill_reg": weight * reg, "distill_cls": weight * cls, "distill_obj": weight * obj}


def to_tensors(levels, stop_gradient=True):
    return [{k: paddle.to_tensor(v, stop_gradient=stop_gradient) for k, v in level.items()} for level in levels]


@pytest.mark.parametrize("weight", [1000.0, 1.0])
def test_split_distill_loss_matches_the_legacy_formula(weight):
    rng = np.random.default_rng(0)
    student, teacher = random_levels(rng), random_levels(rng)
    got = split_distill_loss(to_tensors(student), to_tensors(teacher), weight)
    want = expected_parts(student, teacher, weight)
    for key, value in want.items():
        assert float(got[key]) == pytest.approx(value, rel=1e-5)
    assert float(got["distill_loss"]) == pytest.approx(sum(want.values()), rel=1e-5)


def test_a_temperature_softens_the_soft_targets_and_one_is_the_legacy_loss_bit_for_bit():
    rng = np.random.default_rng(1)
    student, teacher = random_levels(rng), random_levels(rng)
    legacy = split_distill_loss(to_tensors(student), to_tensors(teacher), 1000.0)
    at_one = split_distill_loss(to_tensors(student), to_tensors(teacher), 1000.0, temperature=1.0)
    for key in legacy:
        assert float(at_one[key]) == float(legacy[key])
    hot = split_distill_loss(to_tensors(student), to_tensors(teacher), 1000.0, temperature=2.0)
    want = expected_parts(student, teacher, 1000.0, temperature=2.0)
    for key, value in want.items():
        assert float(hot[key]) == pytest.approx(value, rel=1e-5)
    assert float(hot["distill_obj"]) == float(legacy["distill_obj"])  # the hard objectness target is not softened
    assert float(hot["distill_reg"]) != pytest.approx(float(legacy["distill_reg"]), rel=1e-3)


def test_a_confidence_threshold_drops_boxes_and_classes_where_the_teacher_sees_nothing_and_zero_is_the_legacy_loss():
    rng = np.random.default_rng(4)
    student, teacher = random_levels(rng), random_levels(rng)
    legacy = split_distill_loss(to_tensors(student), to_tensors(teacher), 1000.0)
    at_zero = split_distill_loss(to_tensors(student), to_tensors(teacher), 1000.0, min_confidence=0.0)
    for key in legacy:
        assert float(at_zero[key]) == float(legacy[key])
    half = split_distill_loss(to_tensors(student), to_tensors(teacher), 1000.0, min_confidence=0.5)
    for key, value in expected_parts(student, teacher, 1000.0, min_confidence=0.5).items():
        assert float(half[key]) == pytest.approx(value, rel=1e-5)
    assert 0 < float(half["distill_reg"]) < float(legacy["distill_reg"])
    assert max(sigmoid(t["obj"]).max() for t in teacher) < 0.9999
    above_all = split_distill_loss(to_tensors(student), to_tensors(teacher), 1000.0, min_confidence=0.9999)
    assert float(above_all["distill_reg"]) == float(above_all["distill_cls"]) == 0.0
    assert float(above_all["distill_obj"]) == float(legacy["distill_obj"])  # the objectness term is untouched


def test_student_matching_a_confident_teacher_pays_only_the_entropy_floor():
    # Identical logits: L1 terms vanish, BCE terms equal the teacher's entropy, which is ~0 where saturated.
    saturated = {k: np.full((1, 3, 2, 2), 30.0, "float32") for k in KEYS}
    saturated["cls"] = np.full((1, 3, 2, 2, 2), -30.0, "float32")
    got = split_distill_loss(to_tensors([saturated]), to_tensors([saturated]))
    assert float(got["distill_loss"]) == pytest.approx(0.0, abs=1e-6)


def test_gradient_reaches_the_student_and_never_the_teacher():
    rng = np.random.default_rng(1)
    student, teacher = to_tensors(random_levels(rng), False), to_tensors(random_levels(rng), False)
    split_distill_loss(student, teacher)["distill_loss"].backward()
    assert all(student[0][k].grad is not None for k in (*KEYS, "cls"))
    assert all(level[k].grad is None for level in teacher for k in (*KEYS, "cls"))


def test_the_l2_loss_is_the_legacy_mean_squared_difference_of_the_raw_outputs_and_spares_the_teacher():
    rng = np.random.default_rng(3)
    shapes = ((2, 27, 2, 2), (2, 27, 4, 3))  # raw head outputs of two levels: 3 anchors × (5 + 4 classes)
    student = [rng.normal(0, 2, shape).astype("float32") for shape in shapes]
    teacher = [rng.normal(0, 2, shape).astype("float32") for shape in shapes]
    student_t = [paddle.to_tensor(s, stop_gradient=False) for s in student]
    teacher_t = [paddle.to_tensor(t, stop_gradient=False) for t in teacher]
    got = l2_distill_loss(student_t, teacher_t, 100.0)  # the legacy weight
    want = 100.0 * sum(np.mean((s - t) ** 2) for s, t in zip(student, teacher))
    assert float(got["distill_l2"]) == float(got["distill_loss"]) == pytest.approx(want, rel=1e-5)
    got["distill_loss"].backward()
    assert all(s.grad is not None for s in student_t) and all(t.grad is None for t in teacher_t)
    assert float(l2_distill_loss(teacher_t, teacher_t, 100.0)["distill_loss"]) == 0.0  # nothing left to learn


def raw_from_split(level):
    """Pack split logits back into the head's raw layout [N, A·(5+C), H, W] (per anchor: x y w h obj cls…)."""
    n, a, h, w, c = level["cls"].shape
    per_anchor = np.concatenate(
        [np.stack([level[k] for k in KEYS], axis=2), level["cls"].transpose(0, 1, 4, 2, 3)], axis=2
    )
    return per_anchor.reshape(n, a * (5 + c), h, w)


def test_loss_on_raw_outputs_splits_them_the_head_layout_way():
    rng = np.random.default_rng(2)
    student, teacher = random_levels(rng), random_levels(rng)
    got = distill_loss_from_outputs(
        [paddle.to_tensor(raw_from_split(level)) for level in student],
        [paddle.to_tensor(raw_from_split(level)) for level in teacher],
        num_classes=4,
    )
    want = expected_parts(student, teacher, 1000.0)
    assert float(got["distill_loss"]) == pytest.approx(sum(want.values()), rel=1e-5)


def test_level_count_mismatch_is_refused():
    rng = np.random.default_rng(3)
    with pytest.raises(ValueError, match="2 output levels but teacher has 1"):
        split_distill_loss(to_tensors(random_levels(rng)), to_tensors(random_levels(rng)[:1]))


# --- the feature term (attention transfer between the necks' tips) ---------------------------------


def test_attention_transfer_is_zero_against_the_same_weights_and_teaches_a_pruned_students_neck():
    cfg = {**voc_cfg("yolov3_mobilenet_v1_voc"), "num_classes": 3}
    paddle.seed(7)
    student, teacher_model = build_model(cfg), build_model(cfg, name_prefix="teacher_")
    teacher_model.set_state_dict(student.state_dict())
    teacher = FrozenTeacher(teacher_model)
    image = paddle.to_tensor(np.random.default_rng(7).standard_normal((2, 3, 64, 64)).astype("float32"))
    _, teacher_tips = teacher.outputs_and_tips(image)
    student.eval()  # the teacher's mode: the same model with the same weights gives the same tips
    assert float(attention_transfer_loss(student.raw_outputs_and_tips(image)[1], teacher_tips)) == 0.0

    pruned = ["yolo_block.0.tip.conv.weights", "yolo_block.2.tip.conv.weights"]
    prune_filters(student, dict.fromkeys(pruned, 0.5), criterion="l1_norm", trace_size=64)
    _, tips = student.raw_outputs_and_tips(image)
    assert [t.shape[1] for t in tips] == [512, 512, 128] and [t.shape[1] for t in teacher_tips] == [1024, 512, 256]
    term = attention_transfer_loss(tips, teacher_tips)
    assert float(term) > 0
    term.backward()
    params = {p.name: p for p in student.parameters()}
    for name in (*pruned, "yolo_block.1.0.0.conv.weights", "yolo_transition.0.conv.weights"):
        assert float(paddle.abs(params[name].grad).sum()) > 0, name  # the whole neck learns from it
    assert all(p.grad is None for p in teacher_model.parameters())


# --- the frozen teacher ---------------------------------------------------------------------------


def state(model):
    return {name: tensor.numpy().copy() for name, tensor in model.state_dict().items()}


class DistillPair(nn.Layer):
    """What a trainer might hold: the student as a sublayer and the teacher beside it."""

    def __init__(self, student, teacher):
        super().__init__()
        self.student = student
        self.teacher = teacher


def test_teacher_weights_and_bn_statistics_are_bit_identical_after_training_steps():
    student, teacher_model = build_toy(seed=0), build_toy(prefix="teacher_", seed=10)
    teacher = FrozenTeacher(teacher_model)
    pair = DistillPair(student, teacher)
    teacher_before, student_before = state(teacher_model), state(student)
    optimizer = paddle.optimizer.Momentum(learning_rate=0.1, parameters=pair.parameters())

    for _ in range(3):
        pair.train()  # a trainer's usual call on its container...
        teacher.train()  # ...or on the teacher itself...
        teacher_model.train()  # ...or even on the wrapped model: none of them may flip it
        image = paddle.rand([2, 3, TOY_INPUT, TOY_INPUT])
        teacher_out = teacher(image)
        student_out = student.raw_outputs(image)
        # Toy outputs have 6 = 1 anchor × (5 + 1 class) channels on their first level.
        loss = distill_loss_from_outputs(student_out[:1], teacher_out[:1], num_classes=1, num_anchors=1)
        loss["distill_loss"].backward()
        optimizer.step()
        optimizer.clear_grad()

    assert not teacher.training
    assert not any(layer.training for layer in teacher_model.sublayers(include_self=True))
    assert all(out.stop_gradient for out in teacher_out)
    teacher_after = state(teacher_model)
    assert all(np.array_equal(teacher_before[k], teacher_after[k]) for k in teacher_before)
    # The loop really trained the student (weights and BN statistics moved), so the check above means something.
    student_after = state(student)
    assert not np.array_equal(student_before["a.0.weight"], student_after["a.0.weight"])
    assert not np.array_equal(student_before["a.1._mean"], student_after["a.1._mean"])


def test_teacher_stays_out_of_the_optimizer_and_checkpoints():
    pair = DistillPair(build_toy(seed=0), FrozenTeacher(build_toy(prefix="teacher_", seed=10)))
    assert not any(p.name.startswith("teacher_") for p in pair.parameters())
    assert not any(key.startswith("teacher") for key in pair.state_dict())


def test_teacher_parameters_are_frozen():
    teacher_model = build_toy(prefix="teacher_", seed=10)
    FrozenTeacher(teacher_model)
    assert all(p.stop_gradient and not p.trainable for p in teacher_model.parameters())
