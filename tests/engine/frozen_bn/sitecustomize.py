"""On the PYTHONPATH of a test's ``slimdet`` subprocess, and so of every rank it launches: training runs on
frozen batch-norm statistics (tests/engine/frozen_norm.py), so that 2 ranks of B images compute what one
process of 2B images does (batch statistics are per rank). Python imports this module by itself as it starts.

With ``SLIMDET_TEST_DUMP`` set to a folder, each rank also writes there, once its training has ended, its
weights (``rank<r>.npz``, by parameter name) and the world size it trained in (``rank<r>.json``), for tests
that compare the ranks."""

import zlib  # noqa: F401  (before paddle, see slimdet/__init__.py)

import json
import os
from pathlib import Path

from slimdet.commands import train
from tests.engine.frozen_norm import freeze_batch_norm


class FrozenNormTrainer(train.Trainer):
    def __init__(self, model, *args, **kwargs) -> None:
        freeze_batch_norm(model)
        super().__init__(model, *args, **kwargs)

    def train(self, start_iter: int, max_iter: int) -> None:
        super().train(start_iter, max_iter)
        if "SLIMDET_TEST_DUMP" in os.environ:
            _dump(self, Path(os.environ["SLIMDET_TEST_DUMP"]))


def _dump(trainer: train.Trainer, folder: Path) -> None:
    import numpy as np
    import paddle

    rank = paddle.distributed.get_rank()
    np.savez(folder / f"rank{rank}.npz", **{p.name: p.numpy() for p in trainer.model.parameters()})
    info = {"world_size": paddle.distributed.get_world_size()}
    (folder / f"rank{rank}.json").write_text(json.dumps(info))


train.Trainer = FrozenNormTrainer
