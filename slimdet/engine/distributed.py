"""Data-parallel training inside the ranks that Paddle's launcher started (``slimdet.launcher`` starts them).

The launcher starts one process per device (or per ``--nproc_per_node`` on a CPU, over gloo) and tells
each its place through the environment (``PADDLE_TRAINERS_NUM``, ``PADDLE_TRAINER_ID``). The engine
reads that (``commands.train``): it initialises the parallel environment, wraps the model in
``paddle.DataParallel`` (gradients are averaged over the ranks after every backward), gives each rank
its share of every global batch, and only rank 0 logs, evaluates and writes. What the ranks must agree on
beyond the gradients (a stop requested on one rank, the losses reported) goes through the all-reduces here.
"""

from __future__ import annotations

from collections.abc import Mapping


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
