"""The indexed graph lookups give PaddleSlim the very answers of its own scans, and only inside the block."""

import paddle
from paddleslim.core import GraphWrapper, dygraph2program
from paddleslim.core.graph_wrapper import VarWrapper

from slimdet.slim.graph_index import indexed_lookups
from slimdet.slim.pruner import _dygraph_restored

from .test_pruner import Residual
from .toy import TOY_INPUT, ToyDetector


class _Traced(paddle.nn.Layer):
    """The toy detector and a residual add (a variable read by two ops, ops reading two variables) in one graph."""

    def __init__(self) -> None:
        super().__init__()
        self.toy, self.residual = ToyDetector(), Residual()

    def forward(self, image):
        return [*self.toy.raw_outputs(image), self.residual(image)]


def _lookups(graph: GraphWrapper) -> dict[str, tuple[list[int], list[int]]]:
    """Per variable: the ids of the ops writing it and of those reading it, in the order given."""
    return {var.name(): ([op.idx() for op in var.inputs()], [op.idx() for op in var.outputs()]) for var in graph.vars()}


def test_every_variable_has_the_same_writers_and_readers_as_the_scan_finds():
    with paddle.utils.unique_name.guard(), _dygraph_restored():
        graph = GraphWrapper(dygraph2program(_Traced(), inputs=[1, 3, TOY_INPUT, TOY_INPUT], dtypes=["float32"]))
    scanned = _lookups(graph)
    with indexed_lookups():
        indexed = _lookups(graph)
        first = next(op for op in graph.ops() if op.all_inputs()).all_inputs()[0].name()
        with _dygraph_restored():
            paddle.enable_static()  # ops are appended in static mode only
            graph.program.global_block().append_op(type="scale", inputs={"X": [first]}, outputs={"Out": [first]})
        grown = _lookups(graph)  # the program gained an op: the index follows
    assert VarWrapper.outputs.__qualname__ == "VarWrapper.outputs"  # PaddleSlim's own scan is back
    assert indexed == scanned
    assert any(len(readers) > 1 for _, readers in scanned.values())
    assert (
        sum(len(readers) for _, readers in grown.values()) == sum(len(readers) for _, readers in scanned.values()) + 1
    )
    assert grown == _lookups(graph)
