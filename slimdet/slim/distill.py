"""Distillation: a teacher that can never train, and the legacy split distillation loss.

The loss is ``split_distill`` of PaddleDetection 0.x's distill_pruned_model (docs/legacy.md, "Distillation"). Per level,
with student logits s·, teacher logits t· and σ the sigmoid:

* reg = mean over N·A·H·W of (BCE(sx, σ(tx)) + BCE(sy, σ(ty)) + |sw − tw| + |sh − th|) · σ(tobj)
* cls = mean over N·A·H·W·C of BCE(scls, σ(tcls)) · σ(tobj)
* obj = mean over N·A·H·W of BCE(sobj, 1[tobj > 0])

and the distillation loss is ``weight`` (legacy 1000) × the sum over levels of reg + cls + obj. Where the
teacher is confident something is there (σ(tobj) high) the student copies its boxes and classes; its
objectness copies the teacher's hard decision everywhere.

An opt-in ``temperature`` T (not in the legacy tool; T = 1 is exactly the loss above) softens the soft targets
as in knowledge distillation: the BCE terms of x, y and the classes compare σ(s/T) with σ(t/T) and are scaled
by T², so their gradients keep their size; w, h (L1) and the hard objectness target do not change.

An opt-in ``min_confidence`` P (0, the default, is the loss above) zeroes the reg and cls terms at the cells
where σ(tobj) < P: the student stops copying boxes and classes where the teacher sees nothing; the
objectness term is unchanged.

An opt-in feature-level term, ``attention_transfer_loss``, compares the teacher's and the student's neck
features: for each level the tip feature map that the output conv reads, reduced per image to a spatial
attention map (mean over channels of f², flattened, L2-normalised). That needs no learned adapter, so it
works whatever channels pruning left the student.

The weight is applied per batch through ``slimdet.slim.balance``: these terms are grid means while the
YOLOv3 loss is a grid sum, so a fixed weight would mean something else at every input size.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import paddle
import paddle.nn.functional as F
from paddle import nn

from slimdet.modeling.losses import YOLOv3Loss, split_output
from slimdet.slim.distill_settings import DEFAULT_DISTILL_WEIGHT
from slimdet.slim.teacher_graph import TeacherGraph

Level = Mapping[str, paddle.Tensor]  # split logits: x, y, w, h, obj [N,A,H,W]; cls [N,A,H,W,C]


def split_distill_loss(
    student: Sequence[Level],
    teacher: Sequence[Level],
    weight: float = DEFAULT_DISTILL_WEIGHT,
    temperature: float = 1.0,
    min_confidence: float = 0.0,
) -> dict[str, paddle.Tensor]:
    """The split distillation loss over already-split levels (coarsest first, as ``split_output`` gives).

    Returns ``distill_reg``, ``distill_cls`` and ``distill_obj`` (each summed over levels and scaled by
    ``weight``) and their sum ``distill_loss``. No gradient flows into the teacher's tensors.
    """
    if len(student) != len(teacher):
        raise ValueError(f"student has {len(student)} output levels but teacher has {len(teacher)}")
    reg = cls = obj = paddle.zeros([], dtype="float32")
    for level, (s, t) in enumerate(zip(student, teacher)):
        t = {key: value.detach() for key, value in t.items()}
        if s["cls"].shape != t["cls"].shape:
            raise ValueError(
                f"level {level}: student outputs {s['cls'].shape} but teacher {t['cls'].shape} "
                "(they must agree on anchors, classes and input size)"
            )
        confidence = F.sigmoid(t["obj"])
        if min_confidence > 0:  # at 0 not a single operation more: the legacy loss bit for bit
            confidence = confidence * (confidence >= min_confidence).astype(confidence.dtype)
        level_reg = (
            _soft_bce(s["x"], t["x"], temperature)
            + _soft_bce(s["y"], t["y"], temperature)
            + paddle.abs(s["w"] - t["w"])
            + paddle.abs(s["h"] - t["h"])
        ) * confidence
        level_cls = _soft_bce(s["cls"], t["cls"], temperature) * confidence.unsqueeze(-1)
        teacher_says_object = (t["obj"] > 0).astype(s["obj"].dtype)
        level_obj = F.binary_cross_entropy_with_logits(s["obj"], teacher_says_object, reduction="none")
        reg = reg + level_reg.mean()
        cls = cls + level_cls.mean()
        obj = obj + level_obj.mean()
    parts = {"distill_reg": reg * weight, "distill_cls": cls * weight, "distill_obj": obj * weight}
    return {**parts, "distill_loss": parts["distill_reg"] + parts["distill_cls"] + parts["distill_obj"]}


def distill_loss_from_outputs(
    student_outputs: Sequence[paddle.Tensor],
    teacher_outputs: Sequence[paddle.Tensor],
    num_classes: int,
    weight: float = DEFAULT_DISTILL_WEIGHT,
    num_anchors: int = 3,
    temperature: float = 1.0,
    min_confidence: float = 0.0,
) -> dict[str, paddle.Tensor]:
    """``split_distill_loss`` on raw head outputs ([N, A·(5+C), H, W] per level), split the loss's way."""
    return split_distill_loss(
        [split_output(out, num_classes, num_anchors) for out in student_outputs],
        [split_output(out, num_classes, num_anchors) for out in teacher_outputs],
        weight,
        temperature,
        min_confidence,
    )


def l2_distill_loss(
    student_outputs: Sequence[paddle.Tensor], teacher_outputs: Sequence[paddle.Tensor], weight: float
) -> dict[str, paddle.Tensor]:
    """The legacy ``slim/distillation`` L2 loss (its default, and the loss of its VOC models): ``weight`` × the sum
    over levels of the mean squared difference between the student's and the teacher's raw head outputs
    ([N, A·(5+C), H, W] each; the teacher's legacy weight was 100). A grid mean, like the split loss, so the
    same input-size balance applies. No gradient flows into the teacher's tensors."""
    if len(student_outputs) != len(teacher_outputs):
        raise ValueError(f"student has {len(student_outputs)} output levels but teacher has {len(teacher_outputs)}")
    total = paddle.zeros([], dtype="float32")
    for s, t in zip(student_outputs, teacher_outputs):
        difference = s - t.detach()
        total = total + (difference * difference).mean()
    total = total * weight
    return {"distill_l2": total, "distill_loss": total}


def attention_transfer_loss(
    student_tips: Sequence[paddle.Tensor], teacher_tips: Sequence[paddle.Tensor]
) -> paddle.Tensor:
    """Sum over levels of the mean over images of ‖a_student − a_teacher‖², a = ``attention_map`` of a tip.

    The channel counts may differ (a pruned student against its unpruned teacher): only the spatial
    attention is compared. The result lies in [0, 4] per level whatever the input size, like the split
    loss's grid means. No gradient flows into the teacher's tensors.
    """
    if len(student_tips) != len(teacher_tips):
        raise ValueError(f"student has {len(student_tips)} feature levels but teacher has {len(teacher_tips)}")
    total = paddle.zeros([], dtype="float32")
    for level, (s, t) in enumerate(zip(student_tips, teacher_tips)):
        if s.shape[0] != t.shape[0] or s.shape[2:] != t.shape[2:]:
            raise ValueError(
                f"level {level}: student features {s.shape} but teacher {t.shape} (batch and H, W must agree)"
            )
        difference = attention_map(s) - attention_map(t.detach())
        total = total + (difference * difference).sum(axis=1).mean()
    return total


def attention_map(features: paddle.Tensor, eps: float = 1e-6) -> paddle.Tensor:
    """[N, C, H, W] → [N, H·W]: the mean over channels of f², L2-normalised per image.

    The norm is sqrt(Σa² + eps²), so an all-zero map gives zeros and a finite gradient, not 0/0.
    """
    attention = paddle.flatten((features * features).mean(axis=1), start_axis=1)
    return attention / paddle.sqrt((attention * attention).sum(axis=1, keepdim=True) + eps * eps)


def _soft_bce(logits: paddle.Tensor, teacher_logits: paddle.Tensor, temperature: float = 1.0) -> paddle.Tensor:
    """Element-wise BCE of the student's logits against the teacher's probabilities, both at ``temperature``
    (times its square); at 1 the legacy term exactly, as dividing and multiplying by 1.0 round nothing."""
    soft = F.binary_cross_entropy_with_logits(
        logits / temperature, F.sigmoid(teacher_logits / temperature), reduction="none"
    )
    return soft * (temperature * temperature)


class FrozenTeacher:
    """A teacher detector that only ever runs inference: eval mode, no gradients, weights untouched.

    Deliberately *not* a ``paddle.nn.Layer``: ``Layer.train()`` flips ``training`` on every sublayer
    directly, so a teacher registered inside a container would be put back in train mode (and its BN
    statistics would drift, as PaddleDetection 2.6's did) whatever it overrides. As a plain object it is
    invisible to a container's ``train()``, ``parameters()`` (so no optimizer sees it) and
    ``state_dict()`` (so checkpoints do not carry it). Every call also re-asserts eval mode, in case
    someone reached the wrapped model directly.

    ``FrozenTeacher(model)`` runs a dygraph model; ``FrozenTeacher.compiled_from(cfg, weights)`` a Paddle
    Inference graph whose weights never enter this process as dygraph tensors (``model`` is then None),
    which gives ``outputs_and_tips`` only when built with ``tips=True`` (the default graph outputs no more
    than the raw outputs).
    Either way ``loss`` is the teacher's own YOLOv3 loss on its raw outputs: it needs no weights.
    """

    def __init__(self, model: nn.Layer) -> None:
        self._model: nn.Layer | None = model
        self._graph: Any = None
        self._loss: Any = None  # the model's own, read when asked for (not every model under test has one)
        for param in model.parameters():
            param.stop_gradient = True
            param.trainable = False
        self._hold_eval()

    @classmethod
    def compiled_from(
        cls, cfg: Mapping[str, Any], weights: str, *, prefix: str = "", tips: bool = False
    ) -> FrozenTeacher:
        """The teacher of ``cfg`` with ``weights``, its forward a Paddle Inference graph (several times faster
        on a CPU; see ``slimdet.slim.teacher_graph``), built in a child process; with ``tips`` the graph
        also gives the tip feature maps."""
        teacher = cls.__new__(cls)
        teacher._model = None
        teacher._graph = TeacherGraph(cfg, weights, prefix=prefix, tips=tips)
        teacher._loss = YOLOv3Loss.from_config(cfg)
        return teacher

    @property
    def num_classes(self) -> int:
        return self._described_by().num_classes

    @property
    def num_anchors(self) -> int:
        """Anchors per output level."""
        return len(self._described_by().anchor_masks[0])

    def _described_by(self) -> Any:
        """The model, or for a compiled teacher its loss: both know the classes and anchor masks."""
        return self._model if self._model is not None else self._loss

    @property
    def compiled(self) -> bool:
        return self._graph is not None

    @property
    def model(self) -> nn.Layer | None:
        """The dygraph model, or None for a compiled teacher (its weights live only in the graph)."""
        return self._model

    @property
    def training(self) -> bool:
        return False

    def train(self) -> FrozenTeacher:
        """Stays in eval mode: a frozen teacher never trains."""
        self._hold_eval()
        return self

    def eval(self) -> FrozenTeacher:
        self._hold_eval()
        return self

    def __call__(self, image: paddle.Tensor) -> list[paddle.Tensor]:
        """The teacher's raw head outputs for ``image``, computed without gradients."""
        if self._graph is not None:
            return self._graph(image)
        self._hold_eval()
        with paddle.no_grad():
            return self._model.raw_outputs(image)

    def outputs_and_tips(self, image: paddle.Tensor) -> tuple[list[paddle.Tensor], list[paddle.Tensor]]:
        """The teacher's raw head outputs and the tip feature maps that feed them, without gradients."""
        if self._graph is not None:
            return self._graph.outputs_and_tips(image)
        self._hold_eval()
        with paddle.no_grad():
            return self._model.raw_outputs_and_tips(image)

    def loss(self, outputs: Sequence[paddle.Tensor], gt: Mapping[str, paddle.Tensor]) -> dict[str, paddle.Tensor]:
        """The teacher's own YOLOv3 loss terms for its raw ``outputs`` against ``gt``, without gradients."""
        loss = self._loss if self._loss is not None else self._model.loss
        with paddle.no_grad():
            return loss(list(outputs), gt)

    def _hold_eval(self) -> None:
        # Set the flag on each layer rather than calling model.eval(): that would also switch paddle's
        # global tracer to eval mode under the student's feet.
        if self._model is None:
            return
        for layer in self._model.sublayers(include_self=True):
            layer.training = False
