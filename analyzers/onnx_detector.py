"""The runtime shared by every ONNX person detector: load, check, letterbox, batch, decode, NMS.

A model family (analyzers/nanodet.py, yolo.py, yolox.py) says how pixels become its input tensor,
how its outputs must look and how one image's outputs become candidate boxes; this class does the
rest. At construction the model is opened, its input read, and one probe inference is run on a
blank input, so a wrong file or layout fails then, naming the file, and never mid-stream.
"""

from __future__ import annotations

import ast
import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from analyzers.detections import Detections
from analyzers.detector_spec import COCO_LABELS, DetectorSpec, labels_problem
from analyzers.letterbox import LetterboxStyle, letterbox_batch
from analyzers.onnx_session import (
    ModelError,
    ModelFile,
    open_session,
    read_input,
    run_session,
)
from analyzers.postprocess import finish

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float32]
Image = npt.NDArray[np.uint8]
Candidates = tuple[FloatArray, FloatArray]  # boxes [M, 4] x1y1x2y2 in input pixels, scores [M]


@dataclass(frozen=True, slots=True)
class ProbeOutput:
    """One output of the probe inference: its name, per-image shape and first image's values."""

    name: str
    shape: tuple[int, int]
    values: FloatArray


def batches(count: int, max_batch: int | None) -> list[range]:
    """Consecutive ranges of image indices, each at most `max_batch` long (None: one range)."""
    if count == 0:
        return []
    step = count if max_batch is None else max_batch
    return [range(start, min(start + step, count)) for start in range(0, count, step)]


def check_image(image: Image) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or image.size == 0:
        raise ValueError(f"expected an H×W×3 uint8 BGR image, got {image.dtype} {image.shape}")


def parse_names(text: str) -> tuple[str, ...] | None:
    """Class names from an Ultralytics `names` metadata value ("{0: 'person', ...}"), if valid."""
    try:
        names = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    if not isinstance(names, dict) or sorted(names) != list(range(len(names))):
        return None
    if not all(isinstance(name, str) for name in names.values()):
        return None
    return tuple(names[index] for index in range(len(names)))


def model_labels(session: ort.InferenceSession) -> tuple[str, ...] | None:
    """The class names the model file records about itself, if any."""
    metadata: dict[str, str] = session.get_modelmeta().custom_metadata_map
    text = metadata.get("names")
    return None if text is None else parse_names(text)


class OnnxDetector(ABC):
    """Finds people with one ONNX model; subclasses describe their model family."""

    kind: ClassVar[str]  # the registry key
    style: ClassVar[LetterboxStyle]
    default_input_size: ClassVar[int]  # for models whose input size is dynamic

    def __init__(self, spec: DetectorSpec) -> None:
        self.spec = spec
        path = Path(spec.model_path) if spec.model_path is not None else self.default_model_path()
        self.model = ModelFile(path, self.layout("C", None))
        self._session = open_session(self.model, spec.providers, spec.threads)
        network = read_input(self._session, self.model, spec.input_size, self.default_input_size)
        self._input_name = network.name
        self.name = f"{self.kind}:{path.name}"
        self.input_size: tuple[int, int] = network.size
        self.max_batch: int | None = network.max_batch
        self.labels, source = self._resolve_labels()
        self.model = ModelFile(path, self.layout(str(len(self.labels)), self.input_size))
        problem = labels_problem(self.labels, spec.person_label)
        if problem is not None:
            raise self.model.error(f"{problem} ({source})")
        self.person_class = self.labels.index(spec.person_label)
        self.bind(self._probe(), source)
        log.info(
            "person detector %s loaded: input %sx%s, batch %s, threads %s, providers %s",
            self.name,
            self.input_size[0],
            self.input_size[1],
            "dynamic" if self.max_batch is None else self.max_batch,
            spec.threads,
            ",".join(self._session.get_providers()),
        )

    # --- what a model family says -------------------------------------------------------------

    def default_model_path(self) -> Path:
        """The model used when the spec names none; only families that ship one have it."""
        raise ValueError(f"detector type {self.kind!r} needs a model_path: no such model ships")

    @abstractmethod
    def layout(self, classes: str, size: tuple[int, int] | None) -> str:
        """The expected model layout in words, for error messages.

        `classes` is the class count or "C"; `size` the network input (width, height) once read.
        """

    @abstractmethod
    def tensor(self, canvas: Image) -> FloatArray:
        """The input tensor [B, 3, H, W] for a letterboxed uint8 BGR canvas [B, H, W, 3]."""

    @abstractmethod
    def bind(self, outputs: Sequence[ProbeOutput], labels_source: str) -> None:
        """Check the probe's outputs (per-image shapes, values) and learn how to read them."""

    @abstractmethod
    def candidates(self, outputs: Sequence[FloatArray], row: int) -> Candidates:
        """Person boxes (input pixels) and scores at or above the threshold of image `row`."""

    # --- shared runtime -----------------------------------------------------------------------

    def detect(self, image_bgr: Image) -> Detections:
        """The people in an H×W×3 uint8 BGR image, best score first, boxes in its pixels."""
        return self.detect_batch([image_bgr])[0]

    def detect_batch(self, images: Sequence[Image]) -> list[Detections]:
        """detect() for each image, with as few inferences as the model's batch allows."""
        for image in images:
            check_image(image)
        results: list[Detections] = []
        for part in batches(len(images), self.max_batch):
            chunk = [images[index] for index in part]
            canvas, placements = letterbox_batch(chunk, self.input_size, self.style, self.max_batch)
            outputs = self._infer(canvas)
            for row, placement in enumerate(placements):
                boxes, scores = self.candidates(outputs, row)
                results.append(finish(boxes, scores, placement, self.spec.nms_iou))
        return results

    def _infer(self, canvas: Image) -> list[FloatArray]:
        return run_session(self._session, self.model, {self._input_name: self.tensor(canvas)})

    def _resolve_labels(self) -> tuple[tuple[str, ...], str]:
        """The class names and where they came from (for error messages)."""
        if self.spec.labels is not None:
            return self.spec.labels, "labels from the settings"
        recorded = model_labels(self._session)
        if recorded is not None:
            return recorded, "labels recorded in the model file"
        return COCO_LABELS, "the default COCO labels"

    def _probe(self) -> list[ProbeOutput]:
        """One inference on a blank input; every output checked to be [B, rows, columns]."""
        rows = self.max_batch or 1
        canvas, _ = letterbox_batch([], self.input_size, self.style, rows)
        try:
            arrays = self._infer(canvas)
        except ModelError:
            raise
        except Exception as error:  # onnxruntime raises its own untyped errors here
            raise self.model.error(f"inference on a blank input failed ({error})") from error
        probes: list[ProbeOutput] = []
        for meta, array in zip(self._session.get_outputs(), arrays, strict=True):
            if array.ndim != 3 or array.shape[0] != rows:
                raise self.model.error(f"output {meta.name} is {array.dtype} {list(array.shape)}")
            probes.append(ProbeOutput(meta.name, (array.shape[1], array.shape[2]), array[0]))
        return probes
