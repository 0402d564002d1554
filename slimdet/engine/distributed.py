"""Data-parallel training inside the ranks that Paddle's launcher started (``slimdet.launcher`` starts them).

The launcher starts one process per device (or per ``--nproc_per_node`` on a CPU, over gloo) and tells
each its place through the environment (``PADDLE_TRAINERS_NUM``, ``PADDLE_TRAINER_ID``). The engine
reads that (``commands.train``): it initialises the parallel environment, makes the ranks' gradients meet
after every backward (``data_parallel``), gives each rank its share of every global batch, and only rank 0
logs, evaluates and writes. What the ranks must agree on beyond the gradients (a stop requested on one rank,
the losses reported) goes through the all-reduces here.

On a GPU (any accelerator) the gradients meet inside ``paddle.DataParallel`` (NCCL buckets overlapped with the backward). On
a CPU they meet in ``average_gradients``, one gloo all-reduce of them all after the backward: inside the
backward, gloo's error for a peer that went away aborts the process from C++ (paddle 2.6 does not turn it
into a Python exception there), while a Python-level all-reduce raises it, so that ``peer_loss_said`` can
end the rank with one line naming the lost peer.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any

from slimdet.errors import PeerLost

# Where gloo's errors about a connection to another rank come from (reset, closed, timed out): its transport.
GLOO_TRANSPORT = "gloo/transport/"


def max_over_ranks(value: int, world_size: int) -> int:
    """The largest ``value`` any rank passed (every rank must call this at the same point); ``value`` alone.

    One all-reduce of one integer: about a millisecond over gloo, against seconds per training step.
    """
    if world_size < 2:
        return value
    import paddle

    tensor = paddle.to_tensor([value], dtype="int32")
    paddle.distributed.all_reduce(tensor, op=paddle.distributed.ReduceOp.MAX)
    return int(tensor.item())


def mean_over_ranks(values: Mapping[str, float], world_size: int) -> dict[str, float]:
    """``values`` averaged over the ranks (every rank must call this at the same point, with the same names):
    a step's losses for the whole global batch, as one process reports them (DataParallel averages the
    gradients alike). One all-reduce of a few numbers per step; ``values`` alone when not data-parallel."""
    if world_size < 2:
        return dict(values)
    import paddle

    tensor = paddle.to_tensor(list(values.values()), dtype="float64")
    paddle.distributed.all_reduce(tensor)  # a sum
    return {name: float(total) / world_size for name, total in zip(values, tensor.numpy())}


@contextmanager
def peer_loss_said(world_size: int, environ: Mapping[str, str] = os.environ) -> Iterator[None]:
    """Around a data-parallel loop: gloo's error for a peer that went away becomes ``PeerLost``, one line that
    names the peer (rank and endpoint, from the launcher's environment) and how to go on."""
    try:
        yield
    except RuntimeError as err:
        said = str(err)
        if world_size < 2 or GLOO_TRANSPORT not in said:
            raise
        detail = " ".join(re.sub(r"^\[[^\]]*\]\s*", "", said.strip()).split())  # gloo's source position dropped
        named = re.search(r"pair_rank = (\d+)", said)  # gloo names the rank when a read times out
        raise PeerLost(
            f"lost {_peers(environ, int(named[1]) if named else None)} of this {world_size}-process run "
            f"(gloo: {detail}): its process or machine stopped; start every node again with --resume from the "
            "last checkpoint"
        ) from None


def _peers(environ: Mapping[str, str], rank: int | None) -> str:
    """``rank`` (or, unknown, the other ranks) as 'rank 1 (host:port)', or 'one of …' when there are several."""
    me = int(environ.get("PADDLE_TRAINER_ID", "0") or "0")
    endpoints = [e for e in environ.get("PADDLE_TRAINER_ENDPOINTS", "").split(",") if e]
    others = [(r, endpoint) for r, endpoint in enumerate(endpoints) if r != me and rank in (None, r)]
    named = [f"rank {r} ({endpoint})" for r, endpoint in others] or ([f"rank {rank}"] if rank is not None else [])
    if not named:
        return "a peer"
    return named[0] if len(named) == 1 else "one of " + ", ".join(named)


def data_parallel(model: Any, world_size: int, *, on_cpu: bool) -> tuple[Any, Callable[[], None] | None]:
    """(the layer to train, what meets the ranks' gradients after each backward, or None when the layer does it
    itself or there is one rank). On a CPU the ranks start from rank 0's weights and buffers, as
    ``paddle.DataParallel`` makes them on an accelerator."""
    if world_size < 2:
        return model, None
    import paddle

    if not on_cpu:
        return paddle.DataParallel(model), None
    for tensor in [*model.parameters(), *model.buffers()]:
        paddle.distributed.broadcast(tensor, src=0)
    trained = [param for param in model.parameters() if not param.stop_gradient]
    return model, partial(average_gradients, trained, world_size)


def average_gradients(parameters: Sequence[Any], world_size: int) -> None:
    """Every parameter's gradient, in place, replaced by its mean over the ranks (a parameter no loss reached
    has none on any rank, as every rank runs the same graph). One all-reduce of them all, concatenated, as
    ``paddle.DataParallel`` buckets them: measured side by side at 96 px, the same time per step."""
    import paddle

    with paddle.no_grad():  # a gradient is a leaf paddle would otherwise refuse to change in place
        grads = [param.grad for param in parameters if param.grad is not None]
        flat = paddle.concat([grad.flatten() for grad in grads])
        paddle.distributed.all_reduce(flat)
        flat.scale_(1.0 / world_size)
        offset = 0
        for grad in grads:
            paddle.assign(flat[offset : offset + grad.size].reshape(grad.shape), output=grad)
            offset += grad.size
