"""Training checkpoints on disk: ``<stem>.pdparams`` + ``<stem>.pdopt`` + ``<stem>.state.json``.

* ``.pdparams``: the weights keyed by their legacy names (``slimdet.weights.save_weights``), so
  ``slimdet eval -o weights=<stem>`` and PaddleDetection-style tools read them.
* ``.pdopt``: the optimizer state (Momentum velocities ``<param>_velocity_0``, LR scheduler).
* ``.state.json``: what else a resume needs (iteration, LR scheduler, python/numpy RNG, seed), small
  and readable. It is written last, so its presence marks a complete, resumable checkpoint.

``--resume`` takes a checkpoint or the folder a run wrote them to (:func:`resume_stem`): after a crash a
user types ``output/<config>`` and gets the latest complete checkpoint in it.

Every file goes to a temp name first and is renamed into place: a crash never leaves a half file.

Paddle is imported only to load a checkpoint: finding and reading one's state (``slimdet curves``) starts
without its seconds of start-up.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slimdet._files import write_bytes_atomic
from slimdet.errors import WeightsError
from slimdet.weights import load_weights, save_atomic, save_weights

if TYPE_CHECKING:
    import paddle

WEIGHTS_SUFFIX = ".pdparams"
OPTIMIZER_SUFFIX = ".pdopt"
STATE_SUFFIX = ".state.json"
_SUFFIXES = (STATE_SUFFIX, WEIGHTS_SUFFIX, OPTIMIZER_SUFFIX)


def checkpoint_stem(path: str | Path) -> Path:
    """``out/2000``, ``out/2000.pdparams`` and ``out/2000.state.json`` all name checkpoint ``out/2000``."""
    path = Path(path)
    for suffix in _SUFFIXES:
        if path.name.endswith(suffix):
            return path.with_name(path.name[: -len(suffix)])
    return path


def _is_complete(stem: Path) -> bool:
    return all(Path(f"{stem}{suffix}").is_file() for suffix in _SUFFIXES)


def latest_checkpoint(folder: str | Path) -> Path:
    """The complete checkpoint of ``folder`` with the highest iteration (the newest of equals).

    Only complete ones count: a run killed while writing one leaves it without its state file, and the
    one before it is taken.
    """
    folder = Path(folder)
    stems = [checkpoint_stem(p) for p in folder.glob("*" + STATE_SUFFIX)]
    complete = [stem for stem in stems if _is_complete(stem)]
    if not complete:
        raise WeightsError(
            f"{folder} holds no resumable checkpoint (<name>.pdparams, .pdopt and .state.json): "
            "name a folder or checkpoint written by slimdet train or distill-prune"
        )

    def recency(stem: Path) -> tuple[int, float]:
        state_file = Path(f"{stem}{STATE_SUFFIX}")
        return int(json.loads(state_file.read_text())["iteration"]), state_file.stat().st_mtime

    return max(complete, key=recency)


def resume_stem(path: str | Path) -> Path:
    """What ``--resume`` names as a checkpoint stem: a checkpoint (stem or one of its files) as given, a
    folder (that is not itself a checkpoint's stem) as its :func:`latest_checkpoint`."""
    stem = checkpoint_stem(path)
    if stem.is_dir() and not Path(f"{stem}{STATE_SUFFIX}").is_file():
        return latest_checkpoint(stem)
    return stem


def save_checkpoint(
    stem: str | Path, model: paddle.nn.Layer, optimizer: paddle.optimizer.Optimizer, state: Mapping[str, Any]
) -> Path:
    """Write weights, optimizer state and ``state`` (JSON-able); returns the stem.

    Each file is replaced atomically; the set is not, so an older state file under this name is removed
    first and the new one written last: if the process dies in between, the checkpoint reads as
    incomplete instead of mixing old and new files.
    """
    stem = checkpoint_stem(stem)
    Path(f"{stem}{STATE_SUFFIX}").unlink(missing_ok=True)
    save_weights(model, f"{stem}{WEIGHTS_SUFFIX}")
    save_atomic(optimizer.state_dict(), f"{stem}{OPTIMIZER_SUFFIX}")
    write_bytes_atomic(Path(f"{stem}{STATE_SUFFIX}"), json.dumps(state).encode())
    return stem


def read_state(stem: str | Path) -> dict[str, Any]:
    """The state of a complete, resumable checkpoint (read before anything is built, e.g. for its seed)."""
    stem = checkpoint_stem(stem)
    state_file, optimizer_file = Path(f"{stem}{STATE_SUFFIX}"), Path(f"{stem}{OPTIMIZER_SUFFIX}")
    if not state_file.is_file() or not optimizer_file.is_file():
        found = sorted(p.name for p in stem.parent.glob("*" + STATE_SUFFIX)) if stem.parent.is_dir() else []
        hint = f" (resumable ones there: {', '.join(f[: -len(STATE_SUFFIX)] for f in found)})" if found else ""
        raise WeightsError(
            f"{stem} is not a resumable checkpoint: it needs {state_file.name} and {optimizer_file.name} "
            f"next to the weights{hint}"
        )
    return json.loads(state_file.read_text())


def load_checkpoint(stem: str | Path, model: paddle.nn.Layer, optimizer: paddle.optimizer.Optimizer) -> dict[str, Any]:
    """Restore weights and optimizer from a checkpoint written by :func:`save_checkpoint`; returns its state."""
    import paddle

    stem = checkpoint_stem(stem)
    state = read_state(stem)
    load_weights(model, f"{stem}{WEIGHTS_SUFFIX}", strict=True)
    optimizer.set_state_dict(paddle.load(f"{stem}{OPTIMIZER_SUFFIX}"))
    return state
