"""Repairs to the ONNX graph paddle2onnx 1.2 writes, applied before anything runs it.

paddle2onnx turns ``multiclass_nms3`` into ``NonMaxSuppression``, whose output holds one row
``[batch, class, box]`` per kept box, then takes the class and box columns with ``Gather(axis=1)``
(shape [K, 1]) and drops the trailing 1 with a ``Squeeze`` that names no axes. Without axes, Squeeze
drops every dimension of size 1: when exactly one box is kept (K = 1) the [1, 1] column becomes a
scalar and the next ``Gather(axis=0)`` fails in onnxruntime ("axis 0 is not in valid range").
Naming axis 1 keeps a [K] vector for every K, including 0 and 1.
"""

from __future__ import annotations

from typing import Any

NMS_COLUMN_AXIS = 1  # Gather(NonMaxSuppression rows, [column], axis=1) has shape [K, 1]


def pin_nms_squeeze_axes(model: Any) -> int:
    """Give each axis-less Squeeze of a NonMaxSuppression column ``axes=[1]``; returns how many were fixed.

    ``model`` is an ``onnx.ModelProto`` of opset 11 or 12 (where Squeeze takes its axes as an attribute),
    changed in place.
    """
    from onnx import helper

    graph = model.graph
    nms_rows = {out for node in graph.node if node.op_type == "NonMaxSuppression" for out in node.output}
    columns = {
        out
        for node in graph.node
        if node.op_type == "Gather" and node.input[0] in nms_rows and _axis(node) == NMS_COLUMN_AXIS
        for out in node.output
    }
    fixed = 0
    for node in graph.node:
        axis_less = not any(attr.name == "axes" for attr in node.attribute)
        if node.op_type == "Squeeze" and len(node.input) == 1 and node.input[0] in columns and axis_less:
            node.attribute.append(helper.make_attribute("axes", [NMS_COLUMN_AXIS]))
            fixed += 1
    return fixed


def _axis(node: Any) -> int:
    return next((attr.i for attr in node.attribute if attr.name == "axis"), 0)
