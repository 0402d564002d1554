"""``slimdet.api``: the command line's defaults, safe to call twice in one process, user errors raised."""

import inspect
import random
import signal
from enum import Enum
from pathlib import Path

import numpy as np
import pytest

from slimdet import api
from slimdet.errors import SlimdetError

# api function -> the command function that parses the same options
COMMANDS = {
    "params": "slimdet.cli.params:params_command",
    "sensitivity": "slimdet.cli.sensitivity:sensitivity_command",
    "sensitivity_merge": "slimdet.cli.sensitivity:merge_command",
    "sensitivity_ratios": "slimdet.cli.sensitivity:ratios_command",
    "sensitivity_plot": "slimdet.cli.sensitivity:plot_command",
    "train": "slimdet.cli.train:train_command",
    "distill_prune": "slimdet.cli.distill_prune:distill_prune_command",
    "curves": "slimdet.cli.curves:curves_command",
    "evaluate": "slimdet.cli.eval:eval_command",
    "export": "slimdet.cli.export:export_command",
    "quantize": "slimdet.cli.quantize:quantize_command",
    "infer": "slimdet.cli.infer:infer_command",
    "synth_data": "slimdet.cli.data:synth_command",
    "check_data": "slimdet.cli.data:check_command",
    "show_data": "slimdet.cli.data:show_command",
    "show_config": "slimdet.cli.config:show_command",
    "list_configs": "slimdet.cli.config:list_command",
    "demo": "slimdet.cli.demo:demo_command",
}
# Python names the CLI cannot give its parameters (builtins it would shadow), by the API's name.
CLI_NAMES = {"eval": "evaluate", "filter": "name_filter"}
# What the command line has and the API does not, or has otherwise: rendering, --nproc, progress display
# (the API's callbacks instead, and quiet=True in training: a notebook shows no progress bar).
CLI_ONLY = {"ctx", "as_json", "nproc", "quiet"}


def _comparable(value):
    """A default as the two sides spell it: an option list is None on the command line, () in the API."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    return None if value == () else value


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_function_takes_its_commands_options_with_their_defaults(name):
    import importlib

    module, function = COMMANDS[name].split(":")
    command = inspect.signature(getattr(importlib.import_module(module), function)).parameters
    ours = inspect.signature(getattr(api, name)).parameters
    cli_names = {CLI_NAMES.get(p, p) for p in ours}
    assert set(command) - CLI_ONLY <= cli_names, f"api.{name} lacks {set(command) - CLI_ONLY - cli_names}"
    for param in ours.values():
        option = command.get(CLI_NAMES.get(param.name, param.name))
        if option is None or param.name in CLI_ONLY or param.default is param.empty:
            continue  # a callback, quiet, or what the API requires (sensitivity's config: its group's is optional)
        assert _comparable(param.default) == _comparable(option.default), f"api.{name}({param.name}=...)"


def test_api_covers_every_command():
    from slimdet.cli import app

    def leaves(group, prefix=""):
        for command in group.registered_commands:
            yield prefix + command.name
        for sub in group.registered_groups:
            yield from leaves(sub.typer_instance, f"{prefix}{sub.name} ")
            if sub.typer_instance.registered_callback is not None:
                yield prefix + sub.name

    covered = {"params", "sensitivity", "sensitivity merge", "sensitivity ratios", "sensitivity plot", "train",
               "distill-prune", "curves", "eval", "export", "quantize", "infer", "data synth", "data check", "data show",
               "config show", "config list", "demo"}  # fmt: skip
    assert set(leaves(app)) == covered
    assert len(COMMANDS) == len(covered)


def test_train_twice_in_one_process_gives_the_same_losses_and_leaves_the_callers_state(tiny_train_config):
    import paddle

    random.seed(123)
    np.random.seed(123)
    paddle.seed(123)
    python_state, numpy_state = random.getstate(), np.random.get_state()[1].copy()
    paddle_state, device = paddle.get_rng_state(), paddle.get_device()
    expected_draw = paddle.rand([4]).numpy()
    paddle.set_rng_state(paddle_state)
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    overrides = ["max_iters=2", "snapshot_iter=2"]

    first = api.train(tiny_train_config, overrides=overrides)
    second = api.train(tiny_train_config, overrides=[*overrides, "save_dir=" + str(tiny_train_config.parent / "again")])

    assert first.iterations == second.iterations == 2
    assert dict(second.losses) == pytest.approx(dict(first.losses), rel=1e-6)
    assert [i for i, _ in second.loss_history] == [i for i, _ in first.loss_history] == [1, 2]
    assert [loss for _, loss in second.loss_history] == pytest.approx(
        [loss for _, loss in first.loss_history], rel=1e-6
    )
    assert Path(second.final_checkpoint).parent != Path(first.final_checkpoint).parent
    assert random.getstate() == python_state and (np.random.get_state()[1] == numpy_state).all()
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers
    assert paddle.get_device() == device
    assert (paddle.rand([4]).numpy() == expected_draw).all()  # the caller's paddle generator, where it was


def test_teacher_options_without_a_teacher_raise_before_anything_runs(tiny_train_config):
    with pytest.raises(SlimdetError, match=r"^distill_weight, teacher_overrides need a teacher"):
        api.train(tiny_train_config, distill_weight=5.0, teacher_overrides=["num_classes=3"])
    assert not (tiny_train_config.parent / "output").exists()


def test_checkpoint_options_with_an_exported_folder_raise(tiny_train_config, tmp_path):
    with pytest.raises(SlimdetError, match="--model-dir scores an exported folder as it is: drop --weights"):
        api.evaluate(tiny_train_config, model_dir=tmp_path, weights="w.pdparams")
    with pytest.raises(SlimdetError, match="add --model-dir DIR"):
        api.evaluate(tiny_train_config, onnx=True)
