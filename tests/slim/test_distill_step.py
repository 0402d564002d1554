"""DistillStep: the step minimises student loss + distill loss, reports the legacy terms, spares the teacher."""

from dataclasses import replace

import numpy as np
import paddle
import pytest
from paddle import nn

from slimdet.engine.trainer import Trainer
from slimdet.slim.distill import FrozenTeacher, attention_transfer_loss, distill_loss_from_outputs
from slimdet.slim.distill_settings import DistillSettings
from slimdet.slim.distill_step import DistillStep
from tests.engine.toy import LossRecorder

CLASSES, ANCHORS, SIDE = 2, 3, 4
CHANNELS = ANCHORS * (5 + CLASSES)
LR = 0.1


class TinyYolo(nn.Layer):
    """One level of YOLOv3's raw layout ([N, A·(5+C), H, W]) behind a BN, with YOLOv3's calling convention:
    train-mode ``forward(image, gt=...)`` gives named losses plus ``head_outputs`` and ``head_tips`` (the BN's
    output, which the conv reads); ``loss(outputs, gt)``."""

    def __init__(self, prefix: str = "") -> None:
        super().__init__()
        self.name_prefix = prefix
        self.num_classes = CLASSES
        self.anchor_masks = [list(range(ANCHORS))]
        self.norm = nn.BatchNorm(
            3,
            param_attr=paddle.ParamAttr(name=f"{prefix}toy.bn.scale"),
            bias_attr=paddle.ParamAttr(name=f"{prefix}toy.bn.offset"),
            moving_mean_name=f"{prefix}toy.bn.mean",
            moving_variance_name=f"{prefix}toy.bn.var",
        )
        self.conv = nn.Conv2D(
            3,
            CHANNELS,
            1,
            weight_attr=paddle.ParamAttr(name=f"{prefix}toy.conv.weights"),
            bias_attr=paddle.ParamAttr(name=f"{prefix}toy.conv.bias"),
        )

    def raw_outputs_and_tips(self, image):
        tip = self.norm(image)
        return [self.conv(tip)], [tip]

    def raw_outputs(self, image):
        return self.raw_outputs_and_tips(image)[0]

    def loss(self, outputs, gt):
        mse = paddle.mean((outputs[0] - gt["target"]) ** 2)
        return {"loss_mse": mse, "loss": mse}

    def forward(self, image, im_size=None, gt=None):
        outputs, tips = self.raw_outputs_and_tips(image)
        return {**self.loss(outputs, gt), "head_outputs": outputs, "head_tips": tips}


def batches(start_iter: int):
    """Batch i depends on i alone (as the real loader's position does)."""
    index = start_iter
    while True:
        rng = np.random.default_rng(index)
        yield {
            "image": rng.normal(size=(2, 3, SIDE, SIDE)).astype("float32"),
            "target": rng.normal(size=(2, CHANNELS, SIDE, SIDE)).astype("float32"),
        }
        index += 1


def make_models(seed: int = 0):
    paddle.seed(seed)
    with paddle.utils.unique_name.guard():
        student, teacher = TinyYolo(), TinyYolo("teacher_")
    return student, FrozenTeacher(teacher)


def make_trainer(student, teacher, *, weight=1000.0, balance="legacy", every=1, hooks=(), feature=0.0, settings=None):
    """``balance`` defaults to legacy here: the toy's 4 px inputs would scale the weight to nothing; ``settings``
    replaces the three."""
    scheduler = paddle.optimizer.lr.PiecewiseDecay([1000], [LR, LR])
    optimizer = paddle.optimizer.SGD(learning_rate=scheduler, parameters=student.parameters())
    settings = settings or DistillSettings(weight=weight, balance=balance, feature=feature)
    step = DistillStep(teacher, settings, teacher_loss_every=every)
    return Trainer(student, optimizer, scheduler, batches, hooks, step=step)


def state(model):
    return {name: tensor.numpy().copy() for name, tensor in model.state_dict().items()}


@pytest.mark.parametrize(("balance", "weight"), [("legacy", 50.0), ("input-size", 50.0 * SIDE * SIDE / 608**2)])
def test_reported_total_is_student_loss_plus_distill_loss(balance, weight):
    student, teacher = make_models()
    reference, _ = make_models()  # an identical student, to see what the step sees
    batch = next(batches(0))
    image = paddle.to_tensor(batch["image"])
    outputs = reference(image, gt={"target": paddle.to_tensor(batch["target"])})
    expected = distill_loss_from_outputs(outputs["head_outputs"], teacher(image), CLASSES, weight)

    trainer = make_trainer(student, teacher, weight=50.0, balance=balance)
    trainer.train(0, 1)
    losses = trainer.losses

    assert losses["student_loss"] == pytest.approx(float(outputs["loss"]), rel=1e-6)
    assert losses["loss_mse"] == pytest.approx(float(outputs["loss_mse"]), rel=1e-6)
    for key in ("distill_loss", "distill_reg", "distill_cls", "distill_obj"):
        assert losses[key] == pytest.approx(float(expected[key]), rel=1e-5)
    assert losses["loss"] == pytest.approx(losses["student_loss"] + losses["distill_loss"], rel=1e-6)
    if balance == "legacy":
        assert losses["distill_loss"] > losses["student_loss"]  # weight 50 on a random teacher: it dominates


LEGACY = DistillSettings(balance="legacy")  # the toy's reference: the legacy loss, weight 1000 unscaled
DISTILL_TERMS = ("distill_reg", "distill_cls", "distill_obj", "distill_loss")
# Each lever of distill-prune and train -t: its settings, the arguments of the loss formula they stand for, and
# the terms it must change on the first batch (temperature and confidence leave the objectness term alone).
LEVERS = {
    "--distill-weight 500": (replace(LEGACY, weight=500.0), {"weight": 500.0}, DISTILL_TERMS),
    "--distill-balance input-size": (
        replace(LEGACY, balance="input-size"),
        {"weight": 1000.0 * SIDE * SIDE / 608**2},
        DISTILL_TERMS,
    ),
    "--distill-temperature 2": (
        replace(LEGACY, temperature=2.0),
        {"weight": 1000.0, "temperature": 2.0},
        ("distill_reg", "distill_cls", "distill_loss"),
    ),
    "--distill-confidence 0.5": (
        replace(LEGACY, confidence=0.5),
        {"weight": 1000.0, "min_confidence": 0.5},
        ("distill_reg", "distill_cls", "distill_loss"),
    ),
}


def first_step_losses(settings):
    student, teacher = make_models()
    trainer = make_trainer(student, teacher, settings=settings)
    trainer.train(0, 1)
    return trainer.losses


@pytest.mark.parametrize("lever", LEVERS)
def test_each_lever_changes_the_first_steps_distill_terms_as_its_formula_says(lever):
    settings, formula, changed = LEVERS[lever]
    default, flagged = first_step_losses(LEGACY), first_step_losses(settings)
    reference, teacher = make_models()  # what the step sees on the same first batch
    batch = next(batches(0))
    image = paddle.to_tensor(batch["image"])
    outputs = reference(image, gt={"target": paddle.to_tensor(batch["target"])})
    expected = distill_loss_from_outputs(outputs["head_outputs"], teacher(image), CLASSES, **formula)
    for key in DISTILL_TERMS:
        assert flagged[key] == pytest.approx(float(expected[key]), rel=1e-5), key
    assert [key for key in DISTILL_TERMS if abs(flagged[key] - default[key]) > 1e-6 * abs(default[key])] == list(
        changed
    )
    assert flagged["student_loss"] == default["student_loss"]  # the lever acts on distillation alone
    assert flagged["loss"] == pytest.approx(flagged["student_loss"] + flagged["distill_loss"], rel=1e-6)


def test_the_l2_method_replaces_the_split_terms_by_the_legacy_l2_of_the_first_steps_raw_outputs():
    split, l2 = first_step_losses(LEGACY), first_step_losses(replace(LEGACY, method="l2", weight=100.0))
    reference, teacher = make_models()  # what the step sees on the same first batch
    batch = next(batches(0))
    image = paddle.to_tensor(batch["image"])
    outputs = reference(image, gt={"target": paddle.to_tensor(batch["target"])})
    expected = 100.0 * sum(
        float(((s - t) ** 2).mean()) for s, t in zip(outputs["head_outputs"], teacher(image))
    )  # the weight unscaled: the toy runs the legacy balance
    assert l2["distill_l2"] == l2["distill_loss"] == pytest.approx(expected, rel=1e-5)
    assert not set(DISTILL_TERMS[:3]) & set(l2)  # no split terms
    assert l2["student_loss"] == split["student_loss"]  # the method acts on distillation alone
    assert l2["loss"] == pytest.approx(l2["student_loss"] + l2["distill_loss"], rel=1e-6)


def test_a_feature_weight_adds_the_attention_term_to_the_distill_loss_and_zero_leaves_the_legacy_losses():
    runs = {}
    for feature in (0.0, 2.0):
        student, teacher = make_models()
        trainer = make_trainer(student, teacher, feature=feature)
        trainer.train(0, 1)
        runs[feature] = trainer.losses
    reference, teacher = make_models()
    batch = next(batches(0))
    image = paddle.to_tensor(batch["image"])
    outputs = reference(image, gt={"target": paddle.to_tensor(batch["target"])})
    teacher_outputs, teacher_tips = teacher.outputs_and_tips(image)
    legacy = distill_loss_from_outputs(outputs["head_outputs"], teacher_outputs, CLASSES, 1000.0)
    off, on = runs[0.0], runs[2.0]
    assert "distill_feature" not in off
    assert all(off[key] == float(legacy[key]) for key in legacy)  # W = 0: the legacy loss bit for bit
    expected = 2.0 * float(attention_transfer_loss(outputs["head_tips"], teacher_tips))
    assert expected > 0 and on["distill_feature"] == pytest.approx(expected, rel=1e-6)
    assert all(on[key] == off[key] for key in ("student_loss", "distill_reg", "distill_cls", "distill_obj"))
    assert on["distill_loss"] == pytest.approx(off["distill_loss"] + on["distill_feature"], rel=1e-6)


def test_the_step_descends_the_gradient_of_the_total():
    student, teacher = make_models()
    reference, _ = make_models()
    batch = next(batches(0))
    image = paddle.to_tensor(batch["image"])
    outputs = reference(image, gt={"target": paddle.to_tensor(batch["target"])})
    total = (
        outputs["loss"] + distill_loss_from_outputs(outputs["head_outputs"], teacher(image), CLASSES)["distill_loss"]
    )
    total.backward()
    # BN running statistics are (non-trainable) parameters of nn.BatchNorm: the forward moved them alike.
    expected = {
        p.name: p.numpy() if p.stop_gradient else p.numpy() - LR * p.grad.numpy() for p in reference.parameters()
    }

    make_trainer(student, teacher).train(0, 1)

    for param in student.parameters():
        np.testing.assert_allclose(param.numpy(), expected[param.name], rtol=1e-5, atol=1e-6)


def test_teacher_loss_is_reported_on_logging_steps_only():
    student, teacher = make_models()
    recorder = LossRecorder()
    make_trainer(student, teacher, every=2, hooks=[recorder]).train(0, 3)
    # Steps 2 and 4 log with every=2; the run ends after 3, whose last step logs too.
    assert ["teacher_loss" in recorder.steps[i] for i in range(3)] == [False, True, True]
    batch = next(batches(1))
    own = teacher.loss(teacher(paddle.to_tensor(batch["image"])), {"target": paddle.to_tensor(batch["target"])})
    assert recorder.steps[1]["teacher_loss"] == pytest.approx(float(own["loss"]), rel=1e-6)
    assert set(recorder.steps[0]) == {
        "loss", "student_loss", "distill_loss", "loss_mse", "distill_reg", "distill_cls", "distill_obj"
    }  # fmt: skip


def test_teacher_weights_and_bn_statistics_do_not_move():
    student, teacher = make_models()
    before = state(teacher.model)
    trainer = make_trainer(student, teacher)
    student_before = state(student)
    trainer.train(0, 3)
    after = state(teacher.model)
    assert all(np.array_equal(before[name], after[name]) for name in before)
    assert not np.array_equal(student_before["norm._mean"], state(student)["norm._mean"])  # the student's BN did train
    assert not teacher.model.training and all(not layer.training for layer in teacher.model.sublayers())
