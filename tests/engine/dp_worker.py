"""Run by tests/engine/test_distributed.py under ``python -m paddle.distributed.launch``, once per rank:
train the given config, then dump this rank's weights and result where the test can compare them.

Usage: python dp_worker.py CONFIG OUT_DIR [override ...]

BatchNorm layers train on frozen statistics here (eval mode, like the legacy ``freeze_norm``): batch
statistics are per rank under DataParallel, as in the legacy multi-GPU training, so only with frozen
ones is a step on 2 ranks × B images the same computation as one step on 2B images in one process.
"""

import zlib  # noqa: F401  (before paddle, see slimdet/__init__.py)

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np


def main() -> None:
    import paddle

    from slimdet.commands.train import train_from_config
    from slimdet.config import load_config

    config, out = sys.argv[1], Path(sys.argv[2])
    with keeping_trainers() as trainers:
        result = train_from_config(load_config(config, sys.argv[3:]), quiet=True)
    rank = paddle.distributed.get_rank()
    model = trainers[0].model
    np.savez(out / f"rank{rank}.npz", **{p.name: p.numpy() for p in model.parameters()})
    info = {"wrapped": type(model).__name__, "world_size": paddle.distributed.get_world_size(), **result.to_dict()}
    (out / f"rank{rank}.json").write_text(json.dumps(info))


@contextmanager
def keeping_trainers() -> Iterator[list]:
    """``train_from_config`` builds the engine's own Trainer, on frozen BN; the list gets it, to read its weights."""
    import pytest

    from slimdet.commands import train
    from slimdet.engine.trainer import Trainer

    trainers: list[Trainer] = []

    class Keeping(Trainer):
        def __init__(self, model, *args, **kwargs) -> None:
            freeze_batch_norm(model)
            super().__init__(model, *args, **kwargs)
            trainers.append(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(train, "Trainer", Keeping)
        yield trainers


def freeze_batch_norm(model) -> None:
    import paddle

    for layer in model.sublayers(include_self=True):
        if isinstance(layer, paddle.nn.BatchNorm):
            layer.eval()


if __name__ == "__main__":
    main()
