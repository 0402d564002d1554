"""On the PYTHONPATH of a test's ``slimdet`` subprocess, and so of every rank it launches: training runs on
frozen batch-norm statistics, as in dp_worker.py, so that 2 ranks of B images compute what one process of
2B images does (batch statistics are per rank). Python imports this module by itself as it starts."""

import zlib  # noqa: F401  (before paddle, see slimdet/__init__.py)

from slimdet.commands import train
from tests.engine.dp_worker import freeze_batch_norm


class FrozenNormTrainer(train.Trainer):
    def __init__(self, model, *args, **kwargs) -> None:
        freeze_batch_norm(model)
        super().__init__(model, *args, **kwargs)


train.Trainer = FrozenNormTrainer
