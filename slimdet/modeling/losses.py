"""YOLOv3 losses: the legacy fine-grained loss (term by term) and the coarse ``yolo_loss`` op path.

The fine-grained loss exists because distillation needs the per-level outputs split into x, y, w, h,
obj and cls (``split_output``); the coarse path is the legacy default and runs the fused C++ op.
Both follow PaddleDetection 0.x (docs/legacy.md, "Loss"): every term is summed per image, averaged over the
batch and summed over the levels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import paddle
import paddle.nn.functional as F

from slimdet.config.defaults import SECTION_DEFAULTS, section_with_defaults
from slimdet.config.geometry import YOLOv3Geometry
from slimdet.errors import ConfigError

FINE_GRAINED_TERMS = ("loss_xy", "loss_wh", "loss_obj", "loss_cls")


def _split_channels(tensor: paddle.Tensor, num_anchors: int, head: int) -> list[paddle.Tensor]:
    """[N, A*(head+rest), H, W] (or already [N, A, head+rest, H, W]) → ``head`` maps [N, A, H, W]
    and the remaining channels as one [N, A, rest, H, W] tensor.

    One ``split`` instead of strided slices: its backward is a single concat, whereas every slice's
    backward writes a zero tensor of the whole input (the loss ran ~3× slower that way on CPU).
    """
    n, h, w = tensor.shape[0], tensor.shape[-2], tensor.shape[-1]
    per_anchor = tensor.reshape([n, num_anchors, -1, h, w])
    rest = per_anchor.shape[2] - head
    parts = paddle.split(per_anchor, [1] * head + [rest], axis=2)
    return [part.squeeze(2) for part in parts[:head]] + [parts[head]]


def split_output(output: paddle.Tensor, num_classes: int, num_anchors: int = 3) -> dict[str, paddle.Tensor]:
    """Split one level's raw head output [N, A*(5+C), H, W] into named logits.

    The channel layout per anchor is [tx, ty, tw, th, obj, cls_0 .. cls_{C-1}] (docs/legacy.md, "YOLOv3
    geometry"). Returns ``x, y, w, h, obj`` as [N, A, H, W] and ``cls`` as [N, A, H, W, C] (classes last).
    """
    x, y, w, h, obj, cls = _split_channels(output, num_anchors, head=5)
    return {"x": x, "y": y, "w": w, "h": h, "obj": obj, "cls": cls.transpose([0, 1, 3, 4, 2])}


def _per_image_sum(loss: paddle.Tensor) -> paddle.Tensor:
    """Sum every axis but the batch one: the legacy loss reduces per image before averaging."""
    return loss.reshape([loss.shape[0], -1]).sum(axis=1)


def _cxcywh_to_xyxy(boxes: paddle.Tensor) -> paddle.Tensor:
    cx, cy, w, h = boxes.unbind(axis=-1)
    return paddle.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1)


def _drop_padding(gt_bbox: paddle.Tensor) -> paddle.Tensor:
    """Keep gt columns up to the last real box in the batch (at least one column).

    Padded rows cannot win the ignore test (their IoU is 0), but with 50 slots and a handful of
    objects per image they made the IoU matrix ten times larger than needed. Reading the boxes on
    the host is fine here: the loss runs in the dygraph training step, never in an exported graph.
    """
    real = (gt_bbox[:, :, 2] > 0).numpy().any(axis=0).nonzero()[0]
    return gt_bbox[:, : int(real[-1]) + 1 if real.size else 1]


def _best_iou(pred_xyxy: paddle.Tensor, gt_xyxy: paddle.Tensor) -> paddle.Tensor:
    """Best IoU of every prediction [N, M, 4] with the image's gts [N, B, 4] → [N, M].

    Normalised boxes, no +1 (legacy iou_similarity). Zero-padded gt rows have no area and no overlap,
    so their IoU is 0 and they never win.
    """
    p = pred_xyxy.unsqueeze(2)  # [N, M, 1, 4]
    g = gt_xyxy.unsqueeze(1)  # [N, 1, B, 4]
    iw = (paddle.minimum(p[..., 2], g[..., 2]) - paddle.maximum(p[..., 0], g[..., 0])).clip(min=0)
    ih = (paddle.minimum(p[..., 3], g[..., 3]) - paddle.maximum(p[..., 1], g[..., 1])).clip(min=0)
    inter = iw * ih
    area_p = (p[..., 2] - p[..., 0]) * (p[..., 3] - p[..., 1])
    area_g = (g[..., 2] - g[..., 0]) * (g[..., 3] - g[..., 1])
    union = (area_p + area_g - inter).clip(min=1e-10)
    return (inter / union).max(axis=2)


class YOLOv3Loss:
    """The YOLOv3 training loss over all levels (legacy ``YOLOv3Loss``, docs/legacy.md, "Loss").

    ``geometry`` gives the classes, the anchors ([w, h] in input pixels), each level's anchors (coarsest
    level first, like the head's outputs) and the levels' strides.
    ``label_smooth`` affects the coarse path only: the legacy fine-grained loss trained classes
    against hard one-hot targets whatever the config said (docs/legacy.md, "Loss"), and so does this one.
    """

    def __init__(
        self,
        geometry: YOLOv3Geometry,
        ignore_thresh: float = 0.7,
        label_smooth: bool = False,
        use_fine_grained_loss: bool = False,
    ) -> None:
        self.geometry = geometry
        self.anchors = [[float(v) for v in pair] for pair in geometry.anchors]
        self.anchor_masks = [list(mask) for mask in geometry.anchor_masks]
        self.downsample_ratios = list(geometry.strides)
        self.num_classes = geometry.num_classes
        self.ignore_thresh = float(ignore_thresh)
        self.label_smooth = bool(label_smooth)
        self.use_fine_grained_loss = bool(use_fine_grained_loss)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], geometry: YOLOv3Geometry | None = None) -> YOLOv3Loss:
        """Build from a merged PaddleDetection config (``Config.to_dict()`` shape) and its geometry.

        Reads the loss section the head names in ``yolo_loss`` (``YOLOv3Loss``: ``ignore_thresh``,
        ``label_smooth``; its ``downsample`` must agree with the geometry's strides) and the global
        ``use_fine_grained_loss``. Absent keys take the legacy classes' defaults (``config/defaults.py``: label_smooth true), so
        a legacy config means what it meant in 0.x.
        """
        geometry = geometry or YOLOv3Geometry.from_config(cfg)
        loss_section = section_with_defaults(cfg, "YOLOv3Head")["yolo_loss"]
        # an inline `!YOLOv3Loss {...}` tag, or the name of a section
        written = loss_section if isinstance(loss_section, Mapping) else cfg.get(str(loss_section)) or {}
        loss_cfg = {**SECTION_DEFAULTS["YOLOv3Loss"], **written}
        return cls(
            geometry,
            ignore_thresh=loss_cfg["ignore_thresh"],
            label_smooth=loss_cfg["label_smooth"],
            use_fine_grained_loss=bool(cfg.get("use_fine_grained_loss")),  # a global: False unless set
        )

    def __call__(self, outputs: Sequence[paddle.Tensor], gt: Mapping[str, paddle.Tensor]) -> dict[str, paddle.Tensor]:
        """Losses per component plus ``loss`` (their sum) for the head's raw outputs, coarsest first.

        ``gt`` holds ``gt_bbox`` [N, B, 4] normalised (cx, cy, w, h), ``gt_class`` [N, B], ``gt_score``
        [N, B], and for the fine-grained path ``target0..`` [N, 3, 6+C, H, W] from Gt2YoloTarget.
        """
        if len(outputs) != len(self.anchor_masks):
            raise ValueError(f"expected {len(self.anchor_masks)} head outputs, got {len(outputs)}")
        losses = self._fine_grained(outputs, gt) if self.use_fine_grained_loss else self._coarse(outputs, gt)
        losses["loss"] = paddle.add_n(list(losses.values()))
        return losses

    # -- coarse path ---------------------------------------------------------------------------

    def _coarse(self, outputs: Sequence[paddle.Tensor], gt: Mapping[str, paddle.Tensor]) -> dict[str, paddle.Tensor]:
        """One fused ``yolo_loss`` op per level: per-image losses → batch mean → sum over levels."""
        flat_anchors = [int(v) for pair in self.anchors for v in pair]
        gt_label = gt["gt_class"].astype("int32")
        per_level = [
            paddle.vision.ops.yolo_loss(
                output,
                gt_box=gt["gt_bbox"],
                gt_label=gt_label,
                anchors=flat_anchors,
                anchor_mask=mask,
                class_num=self.num_classes,
                ignore_thresh=self.ignore_thresh,
                downsample_ratio=ratio,
                gt_score=gt.get("gt_score"),
                use_label_smooth=self.label_smooth,
            ).mean()
            for output, mask, ratio in zip(outputs, self.anchor_masks, self.downsample_ratios)
        ]
        return {"loss_yolo": paddle.add_n(per_level)}

    # -- fine-grained path ---------------------------------------------------------------------

    def _fine_grained(
        self, outputs: Sequence[paddle.Tensor], gt: Mapping[str, paddle.Tensor]
    ) -> dict[str, paddle.Tensor]:
        missing = [f"target{i}" for i in range(len(outputs)) if f"target{i}" not in gt]
        if missing:
            raise ConfigError(
                f"the fine-grained YOLOv3 loss needs {', '.join(missing)} in each batch: add Gt2YoloTarget "
                "to TrainReader.batch_transforms, or set -o use_fine_grained_loss=false"
            )
        gt_xyxy = _cxcywh_to_xyxy(_drop_padding(gt["gt_bbox"].astype("float32")))
        totals: dict[str, list[paddle.Tensor]] = {name: [] for name in FINE_GRAINED_TERMS}
        for level, output in enumerate(outputs):
            terms = self._level_terms(level, output, gt[f"target{level}"], gt_xyxy)
            for name in FINE_GRAINED_TERMS:
                totals[name].append(terms[name])
        return {name: paddle.add_n(parts) for name, parts in totals.items()}

    def _level_terms(
        self, level: int, output: paddle.Tensor, target: paddle.Tensor, gt_xyxy: paddle.Tensor
    ) -> dict[str, paddle.Tensor]:
        """The four legacy terms of one level, each summed per image and averaged over the batch."""
        num_anchors = len(self.anchor_masks[level])
        if list(target.shape[-2:]) != list(output.shape[-2:]) or target.shape[1] != num_anchors:
            raise ConfigError(
                f"target{level} has shape {list(target.shape)} but level {level} outputs "
                f"{list(output.shape)}: Gt2YoloTarget's downsample_ratios and anchor_masks must match the head's"
            )
        x, y, w, h, obj, cls = _split_channels(output, num_anchors, head=5)  # cls: [N, A, C, H, W]
        # Gt2YoloTarget's layout is [N, A, 6+C, H, W]: tx, ty, tw, th, tscale, tobj, one-hot classes
        tx, ty, tw, th, tscale, tobj, tcls = _split_channels(target.detach(), num_anchors, head=6)
        weight = tscale * tobj  # the legacy box-size weight 2 - w·h, zero off the positives

        def bce(logit: paddle.Tensor, label: paddle.Tensor) -> paddle.Tensor:
            return F.binary_cross_entropy_with_logits(logit, label, reduction="none")

        loss_xy = weight * (bce(x, tx) + bce(y, ty))
        loss_wh = weight * ((w - tw).abs() + (h - th).abs())
        positive = (tobj > 0).astype("float32")
        keep = self._keep_negative(level, x, y, w, h, gt_xyxy)
        obj_bce = bce(obj, positive)
        loss_obj = tobj * obj_bce + (1.0 - positive) * keep * obj_bce
        loss_cls = tobj.unsqueeze(2) * bce(cls, tcls)
        return {
            "loss_xy": _per_image_sum(loss_xy).mean(),
            "loss_wh": _per_image_sum(loss_wh).mean(),
            "loss_obj": _per_image_sum(loss_obj).mean(),
            "loss_cls": _per_image_sum(loss_cls).mean(),
        }

    def _keep_negative(
        self,
        level: int,
        x: paddle.Tensor,
        y: paddle.Tensor,
        w: paddle.Tensor,
        h: paddle.Tensor,
        gt_xyxy: paddle.Tensor,
    ) -> paddle.Tensor:
        """1 where a prediction may be penalised as background, 0 where it overlaps a gt > ignore_thresh.

        Predictions are decoded like ``yolo_box`` with img_size (1, 1): normalised centre
        ((cell + σ(t)) / grid) and size (e^t · anchor / input size), no clipping. No gradient flows
        through the mask, as in the legacy code.
        """
        with paddle.no_grad():
            n, a, rows, cols = x.shape
            ratio = self.downsample_ratios[level]
            anchors = paddle.to_tensor([self.anchors[i] for i in self.anchor_masks[level]], dtype="float32")
            grid_x = paddle.arange(cols, dtype="float32").reshape([1, 1, 1, cols])
            grid_y = paddle.arange(rows, dtype="float32").reshape([1, 1, rows, 1])
            cx = (grid_x + F.sigmoid(x)) / cols
            cy = (grid_y + F.sigmoid(y)) / rows
            bw = paddle.exp(w) * anchors[:, 0].reshape([1, a, 1, 1]) / (ratio * cols)
            bh = paddle.exp(h) * anchors[:, 1].reshape([1, a, 1, 1]) / (ratio * rows)
            pred = _cxcywh_to_xyxy(paddle.stack([cx, cy, bw, bh], axis=-1).reshape([n, a * rows * cols, 4]))
            ignored = _best_iou(pred, gt_xyxy) > self.ignore_thresh
            return (~ignored).astype("float32").reshape([n, a, rows, cols])
