"""Fixtures for engine tests: a seeded toy trainer (the toy model and loader live in ``toy.py``)."""

import paddle
import pytest

from slimdet.engine.optim import build_optimizer
from slimdet.engine.trainer import Trainer, model_losses
from slimdet.runtime import seed_everything
from tests.engine.toy import ToyLoader, ToyModel, toy_config


@pytest.fixture
def make_trainer():
    """Seeded like a real run: python/numpy/paddle from one seed, then model, optimizer, trainer."""

    def make(hooks=(), *, seed=0, loader=None, step=model_losses):
        seed_everything(seed)
        with paddle.utils.unique_name.guard():  # fixed names may repeat across models, as build_model allows
            model = ToyModel()
        optimizer, scheduler = build_optimizer(toy_config(), model)
        return Trainer(model, optimizer, scheduler, (loader or ToyLoader()).forever, hooks, step=step, seed=seed)

    return make
