"""The distillation step: the student learns from its own loss plus the teacher's split outputs.

``DistillStep`` is the ``step`` a plain ``engine.Trainer`` runs during distill-prune; the loop, LR,
checkpoints, resume and Ctrl-C stay the engine's. One step (the legacy distill_pruned_model, see
docs/legacy.md, "Distillation"):

1. the student's forward in train mode: its YOLOv3 loss terms and its raw head outputs;
2. the frozen teacher's raw outputs on the same image (eval mode, no gradients);
3. ``distill_loss_from_outputs`` × the settings' ``weight`` (legacy 1000), balanced for this batch's input size
   (``balance``, see ``slimdet.slim.balance``); with the ``l2`` method, ``l2_distill_loss`` on the raw outputs instead;
4. opt-in (the settings' ``feature`` W > 0, not in the legacy tool): ``distill_feature`` = W × the attention-transfer
   term between the student's and the teacher's tip feature maps, balanced like the split loss: both are
   size-free (grid means, normalised maps) while the YOLOv3 loss grows with the grid, so the same
   ``balanced_weight`` keeps each in proportion to it at every input size. It is part of ``distill_loss``;
5. the trainer then runs backward on ``loss = student_loss + distill_loss``.

Reported per step: ``loss`` (the total, what the optimizer minimises, as the legacy log's "loss"),
``student_loss`` and its terms (``loss_xy`` …), ``distill_loss`` and its parts (``distill_reg`` …,
``distill_feature`` when that term is on), and
``teacher_loss``, the teacher's own YOLOv3 loss on the batch. The legacy script printed the teacher's
loss only on log lines; here it is computed only on the steps that log (every ``teacher_loss_every``
steps and the last one), from the teacher outputs the step already has, so other steps pay nothing
for it, and on those steps the key is absent rather than stale.
"""

from __future__ import annotations

import paddle

from slimdet.engine.trainer import Batch, Trainer, split_batch
from slimdet.slim.balance import balanced_weight
from slimdet.slim.distill import FrozenTeacher, attention_transfer_loss, distill_loss_from_outputs, l2_distill_loss
from slimdet.slim.distill_settings import DistillSettings


class DistillStep:
    """A trainer step whose loss adds the split distillation loss from a frozen teacher.

    ``teacher`` must predict the same classes with the same anchors as the student (the distill-prune
    pre-flight checks make sure). ``teacher_loss_every`` is the log interval: ``teacher_loss`` is
    reported on steps whose 1-based number is a multiple of it, and on the last step.
    """

    def __init__(
        self,
        teacher: FrozenTeacher,
        settings: DistillSettings = DistillSettings(),
        *,
        teacher_loss_every: int = 1,
    ) -> None:
        self.teacher = teacher
        self.settings = settings
        self.teacher_loss_every = teacher_loss_every

    def __call__(self, trainer: Trainer, batch: Batch) -> dict[str, paddle.Tensor]:
        image, gt = split_batch(batch)
        outputs = trainer.model(image, gt=gt)
        student = {name: value for name, value in outputs.items() if name.startswith("loss")}
        settings, input_hw = self.settings, (image.shape[2], image.shape[3])
        if settings.feature > 0:
            teacher_outputs, teacher_tips = self.teacher.outputs_and_tips(image)
        else:
            teacher_outputs = self.teacher(image)
        weight = balanced_weight(settings.weight, input_hw, settings.balance)
        if settings.method == "l2":
            distill = l2_distill_loss(outputs["head_outputs"], teacher_outputs, weight)
        else:
            distill = distill_loss_from_outputs(
                outputs["head_outputs"],
                teacher_outputs,
                self.teacher.num_classes,
                weight,
                num_anchors=self.teacher.num_anchors,
                temperature=settings.temperature,
                min_confidence=settings.confidence,
            )
        if settings.feature > 0:
            feature_weight = balanced_weight(settings.feature, input_hw, settings.balance)
            feature = attention_transfer_loss(outputs["head_tips"], teacher_tips) * feature_weight
            distill = {**distill, "distill_feature": feature, "distill_loss": distill["distill_loss"] + feature}
        losses = {
            "loss": student["loss"] + distill["distill_loss"],
            "student_loss": student["loss"],
            "distill_loss": distill["distill_loss"],
        }
        if self._logs_this_step(trainer):
            losses["teacher_loss"] = self.teacher.loss(teacher_outputs, gt)["loss"]
        terms = {name: value for name, value in {**student, **distill}.items() if name not in losses}
        return {**losses, **terms}

    def _logs_this_step(self, trainer: Trainer) -> bool:
        """Whether the step now running (number ``iter + 1``) is one the progress log prints."""
        step = trainer.iter + 1
        every = self.teacher_loss_every
        return step == trainer.max_iter or (every > 0 and step % every == 0)
