"""Training on frozen batch-norm statistics (eval mode, like the legacy ``freeze_norm``), for the data-parallel
tests: batch statistics are per rank under DataParallel, as in the legacy multi-GPU training, so only with
frozen ones is a step on 2 ranks × B images the same computation as one step on 2B images in one process."""

from collections.abc import Iterator
from contextlib import contextmanager


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
