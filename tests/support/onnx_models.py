"""Tiny ONNX models whose outputs the test chooses, for checking detector decoders end to end.

Each output is a constant per image plus, optionally, a gain times the mean of that image's
input tensor, so an output depends on its input row (a batch of different images gives
different rows) while its values stay exactly known. Built with onnx.helper at opset 13.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
IR_VERSION = 8

Dim = int | str


@dataclass(frozen=True)
class FakeOutput:
    """One output: [A, B] values per image (the output is [batch, A, B]) and an optional gain.

    The model computes values + gain · mean(input row), in float32.
    """

    name: str
    values: npt.NDArray[np.float32]
    gain: npt.NDArray[np.float32] | None = None


def constant_model(
    path: Path,
    input_shape: Sequence[Dim],
    outputs: Sequence[FakeOutput],
    *,
    metadata: Mapping[str, str] | None = None,
    input_type: int = TensorProto.FLOAT,
    output_type: int = TensorProto.FLOAT,
) -> Path:
    """Write the model to `path` (input `images`) and return the path."""
    nodes = [
        helper.make_node("Cast", ["images"], ["x"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMean", ["x"], ["mean4"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("Reshape", ["mean4", "row_shape"], ["mean"]),  # [batch, 1, 1]
    ]
    initializers = [numpy_helper.from_array(np.array([0, 1, 1], dtype=np.int64), "row_shape")]
    graph_outputs = []
    for output in outputs:
        values = np.asarray(output.values, dtype=np.float32)[np.newaxis]
        gain = np.zeros_like(values) if output.gain is None else output.gain[np.newaxis]
        initializers += [
            numpy_helper.from_array(values, f"{output.name}_values"),
            numpy_helper.from_array(np.asarray(gain, dtype=np.float32), f"{output.name}_gain"),
        ]
        nodes += [
            helper.make_node("Mul", ["mean", f"{output.name}_gain"], [f"{output.name}_scaled"]),
            helper.make_node(
                "Add", [f"{output.name}_scaled", f"{output.name}_values"], [f"{output.name}_f"]
            ),
            helper.make_node("Cast", [f"{output.name}_f"], [output.name], to=output_type),
        ]
        batch = input_shape[0]
        graph_outputs.append(
            helper.make_tensor_value_info(output.name, output_type, [batch, *values.shape[1:]])
        )
    graph = helper.make_graph(
        nodes,
        "fake_detector",
        [helper.make_tensor_value_info("images", input_type, list(input_shape))],
        graph_outputs,
        initializers,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION
    )
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def yolo_values(
    candidates: Sequence[tuple[float, float, float, float, int, float]],
    classes: int = 80,
    count: int = 100,
) -> npt.NDArray[np.float32]:
    """An Ultralytics [4 + C, N] output: candidates (cx, cy, w, h, class, score), rest zero."""
    values = np.zeros((4 + classes, count), dtype=np.float32)
    for index, (cx, cy, w, h, label, score) in enumerate(candidates):
        values[0:4, index] = (cx, cy, w, h)
        values[4 + label, index] = score
    return values


def yolox_grid(
    width: int, height: int, strides: Sequence[int] = (8, 16, 32)
) -> list[tuple[int, int, int]]:
    """(gx, gy, stride) of every YOLOX output row, in output order (row-major per stride)."""
    return [
        (gx, gy, stride)
        for stride in strides
        for gy in range(height // stride)
        for gx in range(width // stride)
    ]


def yolox_values(
    width: int,
    height: int,
    candidates: Mapping[int, tuple[float, float, float, float, float, int, float]],
    *,
    decoded: bool,
    classes: int = 80,
) -> npt.NDArray[np.float32]:
    """A YOLOX [N, 5 + C] output for a width × height input.

    `candidates` maps a row to (x, y, w, h, objectness, class, class score) in the output's own
    form; every other row has zero scores and, when `decoded`, a box of one stride on its cell
    (as a decoded export writes), else zeros (as a raw one does).
    """
    grid = yolox_grid(width, height)
    values = np.zeros((len(grid), 5 + classes), dtype=np.float32)
    if decoded:
        for row, (gx, gy, stride) in enumerate(grid):
            values[row, 0:4] = ((gx + 0.5) * stride, (gy + 0.5) * stride, stride, stride)
    for row, (x, y, w, h, objectness, label, score) in candidates.items():
        values[row, 0:5] = (x, y, w, h, objectness)
        values[row, 5 + label] = score
    return values


def identity_model(path: Path, shape: Sequence[Dim]) -> Path:
    """A model whose output `y` is its input `x`, both float32 of `shape`."""
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "identity",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(shape))],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION
    )
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
