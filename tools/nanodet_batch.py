"""Give the converted NanoDet-g ONNX a dynamic batch dimension (graph surgery, weights untouched).

Not part of the product or its tests: the last step of tools/convert_nanodet.py, runnable alone.

    python tools/nanodet_batch.py SOURCE TARGET [--verify]

The tf2onnx conversion has a fixed batch of 1 in two places: the graph input
[1, 3, 416, 416] and the two shape constants [1, 80, -1] and
[1, 44, -1] of the Reshape nodes that flatten each stride's score and box maps before the final
Transpose (reached through an Add with a zero vector and a Cast). Everything else (Conv, Pad,
Resize by scales, Concat and Split on the channel axis, MaxPool, LeakyRelu, Sigmoid) is
indifferent to the batch. The surgery sets those constants' first element to 0 (Reshape's
"copy this dimension from the input") and names the first dimension of the input and of every
output `batch` (tf2onnx declared the outputs' dimensions as unnamed symbols); nothing else
changes. Needs the `onnx` package; `--verify` also needs
onnxruntime and numpy, and checks on random inputs that the result matches the source at batch
1 and that a batch of 3 matches three single runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

BATCH = "batch"
TOLERANCE = 1e-5  # onnxruntime may pick other kernels for a symbolic batch: last-bit changes


def shape_constants(graph: onnx.GraphProto) -> list[onnx.TensorProto]:
    """The int64 initializers that feed a Reshape's shape (directly or via Add / Cast) and fix
    its first dimension to 1."""
    initializers = {tensor.name: tensor for tensor in graph.initializer}
    producer = {name: node for node in graph.node for name in node.output}
    found: dict[str, onnx.TensorProto] = {}
    stack = [node.input[1] for node in graph.node if node.op_type == "Reshape"]
    while stack:
        name = stack.pop()
        tensor = initializers.get(name)
        if tensor is not None:
            value = numpy_helper.to_array(tensor)
            if value.dtype == np.int64 and value.ndim == 1 and value.size > 1 and value[0] == 1:
                found[name] = tensor
            continue
        node = producer.get(name)
        if node is not None and node.op_type in ("Add", "Cast"):
            stack.extend(node.input)
    return [found[name] for name in sorted(found)]


def make_dynamic(model: onnx.ModelProto) -> int:
    """Turn the batch of `model` dynamic in place; the number of shape constants changed."""
    graph = model.graph
    constants = shape_constants(graph)
    for tensor in constants:
        value = numpy_helper.to_array(tensor).copy()
        value[0] = 0
        tensor.CopyFrom(numpy_helper.from_array(value, tensor.name))
    for value_info in graph.input:
        dim = value_info.type.tensor_type.shape.dim[0]
        if dim.dim_value != 1:
            raise SystemExit(f"input {value_info.name}: batch dimension is {dim}, expected 1")
    for value_info in [*graph.input, *graph.output]:  # tf2onnx left the outputs' dims unnamed
        dim = value_info.type.tensor_type.shape.dim[0]
        dim.ClearField("dim_value")
        dim.dim_param = BATCH
    onnx.checker.check_model(model, full_check=True)
    return len(constants)


def verify(source: Path, target: Path) -> None:
    import onnxruntime as ort

    def session(path: Path) -> ort.InferenceSession:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    fixed, dynamic = session(source), session(target)
    name = fixed.get_inputs()[0].name
    shape = [3, *fixed.get_inputs()[0].shape[1:]]
    images = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    singles = [fixed.run(None, {name: images[i : i + 1]}) for i in range(3)]
    batched = dynamic.run(None, {name: images})
    worst = 0.0
    for index, single in enumerate(singles):
        again = dynamic.run(None, {name: images[index : index + 1]})
        for expected, one, many in zip(single, again, batched, strict=True):
            worst = max(
                worst,
                float(np.abs(one - expected).max()),
                float(np.abs(many[index] - expected[0]).max()),
            )
    print(f"largest difference to the fixed-batch model: {worst:.3g}")
    if worst > TOLERANCE:
        raise SystemExit(f"differs by {worst} (more than {TOLERANCE})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument("--verify", action="store_true", help="compare outputs with onnxruntime")
    args = parser.parse_args()
    model = onnx.load(str(args.source))
    changed = make_dynamic(model)
    if changed != 2:
        raise SystemExit(
            f"{args.source}: {changed} Reshape shape constants with batch 1, expected 2"
        )
    onnx.save(model, str(args.target))
    print(f"{args.target}: batch dimension `{BATCH}`, {changed} Reshape shape constants changed")
    if args.verify:
        verify(args.source, args.target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
