"""Opening a detector's ONNX model with onnxruntime, and reading its image input.

Every complaint is a ModelError that names the model file, what was found and the layout the
detector expected, so a wrong file in the config is one readable line.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

log = logging.getLogger(__name__)

Dim = int | str | None  # onnxruntime's view of one dimension: a size, a symbol, or unknown


class ModelError(Exception):
    """The detector model is missing, unreadable, not laid out as expected, or cannot run here."""


@dataclass(frozen=True, slots=True)
class ModelFile:
    """A model path and the layout expected of it: the two things every complaint names."""

    path: Path
    expected: str

    def error(self, what: str) -> ModelError:
        return ModelError(f"detector model {self.path}: {what}; expected {self.expected}")


@dataclass(frozen=True, slots=True)
class NetworkInput:
    """The image input of a model: its name, (width, height) and batch (None = dynamic)."""

    name: str
    size: tuple[int, int]
    max_batch: int | None


def providers_problem(requested: Sequence[str], available: Sequence[str]) -> str | None:
    """Which requested execution providers this onnxruntime lacks, if any."""
    missing = [name for name in requested if name not in available]
    if not missing:
        return None
    return (
        f"execution provider {', '.join(missing)} not available "
        f"(requested {', '.join(requested)}; this onnxruntime has {', '.join(available)})"
    )


def open_session(model: ModelFile, providers: Sequence[str], threads: int) -> ort.InferenceSession:
    """An onnxruntime session on exactly the requested providers, `threads` intra-op threads."""
    problem = providers_problem(providers, ort.get_available_providers())
    if problem is not None:
        raise ModelError(f"detector model {model.path}: {problem}")
    if not model.path.is_file():
        raise model.error("no such file")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(
            str(model.path), sess_options=options, providers=list(providers)
        )
    except Exception as error:  # onnxruntime raises its own untyped errors here
        raise model.error(f"not a loadable ONNX model ({error})") from error
    # onnxruntime falls back to the CPU when a provider fails to start (a missing CUDA
    # library, say); running somewhere else than asked would be a silent lie.
    problem = providers_problem(providers, session.get_providers())
    if problem is not None:
        raise ModelError(f"detector model {model.path}: session did not start: {problem}")
    return session


def network_size(height: Dim, width: Dim, requested: int | None, default: int) -> tuple[int, int]:
    """(width, height) of the network input: the model's own sizes, else the requested square.

    Raises ValueError when a requested size contradicts a fixed size of the model.
    """
    fixed = [dim for dim in (width, height) if isinstance(dim, int)]
    if requested is not None and any(dim != requested for dim in fixed):
        raise ValueError(f"input_size {requested} asked of a model whose input is {width}×{height}")
    square = requested if requested is not None else default
    return (
        width if isinstance(width, int) else square,
        height if isinstance(height, int) else square,
    )


def read_input(
    session: ort.InferenceSession, model: ModelFile, requested: int | None, default: int
) -> NetworkInput:
    """The single float32 [B, 3, H, W] input of a session, with B and H, W fixed or dynamic."""
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise model.error(f"{len(inputs)} inputs")
    tensor = inputs[0]
    shape: list[Dim] = list(tensor.shape)
    if tensor.type != "tensor(float)" or len(shape) != 4 or shape[1] != 3:
        raise model.error(f"input {tensor.name} is {tensor.type} {shape}")
    batch = shape[0] if isinstance(shape[0], int) else None
    if batch is not None and batch < 1:
        raise model.error(f"input {tensor.name} has batch {batch}")
    try:
        size = network_size(shape[2], shape[3], requested, default)
    except ValueError as error:
        raise model.error(str(error)) from error
    return NetworkInput(str(tensor.name), size, batch)


def run_session(
    session: ort.InferenceSession, model: ModelFile, feed: dict[str, npt.NDArray[np.float32]]
) -> list[npt.NDArray[np.float32]]:
    """All outputs of one inference, in graph order, each checked to be float32."""
    outputs = session.run(None, feed)
    arrays = [np.asarray(output) for output in outputs]
    for meta, array in zip(session.get_outputs(), arrays, strict=True):
        if array.dtype != np.float32:
            raise model.error(f"output {meta.name} is {array.dtype} {list(array.shape)}")
    return arrays
