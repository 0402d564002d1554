"""A toy model and loader with the detector's calling convention, so the engine is tested on its own.

The toy model takes ``(image, gt=...)`` like YOLOv3 and returns a dict of named losses with ``loss``
their sum. It draws from all three random generators during a step (paddle dropout, numpy and python
noise), so a resume that failed to restore any of them would change the losses.
"""

import random

import numpy as np
import paddle

from slimdet.engine.hooks import Hook


class ToyModel(paddle.nn.Layer):
    """Linear regression through a hidden layer, with fixed parameter names (as legacy names are)."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = paddle.nn.Linear(
            4, 8, weight_attr=paddle.ParamAttr(name="toy.hidden.w"), bias_attr=paddle.ParamAttr(name="toy.hidden.b")
        )
        self.norm = paddle.nn.BatchNorm1D(
            8, weight_attr=paddle.ParamAttr(name="toy.bn.scale"), bias_attr=paddle.ParamAttr(name="toy.bn.offset")
        )
        self.out = paddle.nn.Linear(
            8, 1, weight_attr=paddle.ParamAttr(name="toy.out.w"), bias_attr=paddle.ParamAttr(name="toy.out.b")
        )
        self.dropout = paddle.nn.Dropout(0.2)

    def forward(self, image, im_size=None, gt=None):
        noise = paddle.to_tensor(np.random.normal(0, 0.01, size=image.shape).astype("float32")) * random.random()
        prediction = self.out(self.dropout(paddle.nn.functional.relu(self.norm(self.hidden(image + noise)))))
        if not self.training:
            return {"bbox": prediction, "bbox_num": paddle.to_tensor([1] * image.shape[0], dtype="int32")}
        loss_mse = paddle.mean((prediction - gt["target"]) ** 2)
        loss_l1 = 0.1 * paddle.mean(paddle.abs(prediction - gt["target"]))
        return {"loss": loss_mse + loss_l1, "loss_mse": loss_mse, "loss_l1": loss_l1, "head_outputs": [prediction]}


class ToyLoader:
    """12 samples of y = x·w, batches of 4, reshuffled per epoch from (seed, epoch) like the real loader,
    whose ``forever(start_iter)`` it mirrors."""

    def __init__(self, seed: int = 0, nan_at_batch: int | None = None) -> None:
        rng = np.random.default_rng(seed)
        self.x = rng.normal(size=(12, 4)).astype("float32")
        self.y = (self.x @ np.array([1.0, -2.0, 0.5, 3.0], dtype="float32"))[:, None]
        self.seed = seed
        self.nan_at_batch = nan_at_batch
        self.served = 0

    def forever(self, start_iter: int = 0):
        epoch, offset = divmod(start_iter, 3)
        while True:
            order = np.random.default_rng([self.seed, epoch]).permutation(len(self.x))
            for start in range(4 * offset, len(order), 4):
                index = order[start : start + 4]
                target = self.y[index].copy()
                if self.served == self.nan_at_batch:
                    target[:] = np.nan
                self.served += 1
                yield {"image": self.x[index], "target": target}
            epoch, offset = epoch + 1, 0


def toy_config():
    return {
        "LearningRate": {
            "base_lr": 0.05,
            "schedulers": [
                {"type": "PiecewiseDecay", "gamma": 0.1, "milestones": [8]},
                {"type": "LinearWarmup", "start_factor": 0.1, "steps": 2},
            ],
        },
        "OptimizerBuilder": {
            "optimizer": {"type": "Momentum", "momentum": 0.9},
            "regularizer": {"type": "L2", "factor": 0.0005},
        },
    }


class LossRecorder(Hook):
    """A hook that keeps every step's losses, by step index."""

    def __init__(self) -> None:
        self.steps: dict[int, dict[str, float]] = {}

    def after_step(self, trainer) -> None:
        self.steps[trainer.iter - 1] = dict(trainer.losses)
