"""Person detector: the embedded NanoDet-g ONNX model run with onnxruntime on the CPU.

Model layout (checked when the model is loaded, see analyzers/models/PROVENANCE.md):

- one input, float32 [1, 3, 416, 416] NCHW, BGR channel order, normalised per channel as
  ``(pixel - MEAN) / STD``; images are letterboxed into it (ratio kept, centred, zero pixels
  around), never stretched;
- six outputs, told apart by shape only: ``[1, N, 80]`` class scores, already passed through a
  sigmoid inside the graph (values in 0..1), and ``[1, N, 44]`` box regression (the four sides
  left, top, right, bottom × 11 distance bins) for the strides 8, 16 and 32, where N is the
  number of cells of that stride's grid (2704, 676 and 169 at 416), in row-major cell order.

A cell (x, y) of stride s has its centre at ((x + 0.5)·s, (y + 0.5)·s); each side's distance
is the expectation of the softmax over its bins times 0..10, times s. Only COCO class 0
(person) is kept; overlapping boxes are merged by non-maximum suppression.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from analyzers.detections import Detections

log = logging.getLogger(__name__)

DEFAULT_MODEL_PATH: Path = Path(__file__).resolve().parent / "models" / "nanodet-g.onnx"

INPUT_SIZE = 416
STRIDES: tuple[int, ...] = (8, 16, 32)
NUM_CLASSES = 80
REG_BINS = 11  # distances 0..10 strides per side
PERSON_CLASS = 0
MEAN_BGR = np.array([103.53, 116.28, 123.675], dtype=np.float32)
STD_BGR = np.array([57.375, 57.12, 58.395], dtype=np.float32)

EXPECTED_LAYOUT = (
    f"one float32 input [1, 3, {INPUT_SIZE}, {INPUT_SIZE}] and, for each stride of {STRIDES}, "
    f"two float32 outputs [1, N, {NUM_CLASSES}] (class scores) and [1, N, {4 * REG_BINS}] "
    f"(box bins) with N = ({INPUT_SIZE} / stride)²"
)

FloatArray = npt.NDArray[np.float32]


class ModelError(Exception):
    """The detector model is missing, unreadable or not laid out as expected."""


def letterbox(image: npt.NDArray[np.uint8], size: int) -> tuple[FloatArray, float, tuple[int, int]]:
    """Fit a BGR image into a size×size square, keeping its ratio, centred, zero pixels around.

    Returns the normalised NCHW tensor [1, 3, size, size], the scale applied to the image and
    the padding (left, top) in tensor pixels: tensor x = image x · scale + left, and likewise
    for y with top.
    """
    height, width = image.shape[:2]
    if height <= 0 or width <= 0:
        raise ValueError(f"empty image of shape {image.shape}")
    scale = min(size / width, size / height)
    new_w = min(size, max(1, round(width * scale)))
    new_h = min(size, max(1, round(height * scale)))
    left = (size - new_w) // 2
    top = (size - new_h) // 2
    canvas = np.zeros((size, size, 3), dtype=np.uint8)
    if (new_w, new_h) == (width, height):
        canvas[top : top + new_h, left : left + new_w] = image
    else:
        resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        canvas[top : top + new_h, left : left + new_w] = resized
    normalised = (canvas.astype(np.float32) - MEAN_BGR) / STD_BGR
    tensor = np.ascontiguousarray(normalised.transpose(2, 0, 1)[np.newaxis])
    return tensor, scale, (left, top)


def decode_level(
    scores: FloatArray, regression: FloatArray, stride: int, grid_width: int, threshold: float
) -> tuple[FloatArray, FloatArray]:
    """Boxes and scores of one stride's cells whose score reaches `threshold`.

    `scores` is [N] (one class, already in 0..1), `regression` is [N, 4·REG_BINS] in the side
    order left, top, right, bottom; cells are numbered row by row over a grid `grid_width`
    cells wide. Boxes are [M, 4] x1, y1, x2, y2 in input-tensor pixels.
    """
    cells = np.flatnonzero(scores >= threshold)
    if cells.size == 0:
        return np.zeros((0, 4), dtype=np.float32), np.zeros((0,), dtype=np.float32)
    bins = regression[cells].reshape(-1, 4, REG_BINS).astype(np.float32)
    bins = bins - bins.max(axis=2, keepdims=True)
    weights = np.exp(bins)
    weights /= weights.sum(axis=2, keepdims=True)
    distances = (weights @ np.arange(REG_BINS, dtype=np.float32)) * np.float32(stride)
    cx = ((cells % grid_width).astype(np.float32) + np.float32(0.5)) * np.float32(stride)
    cy = ((cells // grid_width).astype(np.float32) + np.float32(0.5)) * np.float32(stride)
    boxes = np.stack(
        [
            cx - distances[:, 0],
            cy - distances[:, 1],
            cx + distances[:, 2],
            cy + distances[:, 3],
        ],
        axis=1,
    ).astype(np.float32)
    return boxes, scores[cells].astype(np.float32)


def nms(boxes: FloatArray, scores: FloatArray, iou: float) -> npt.NDArray[np.intp]:
    """Indices of the boxes kept by greedy non-maximum suppression, best score first.

    A box is dropped when its intersection over union with a better kept box exceeds `iou`.
    """
    if len(boxes) == 0:
        return np.zeros((0,), dtype=np.intp)
    x1, y1, x2, y2 = (boxes[:, i].astype(np.float64) for i in range(4))
    areas = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    order = np.argsort(-scores.astype(np.float64), kind="stable")
    keep: list[int] = []
    while order.size > 0:
        best = int(order[0])
        keep.append(best)
        rest = order[1:]
        inter_w = np.clip(np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]), 0, None)
        inter_h = np.clip(np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]), 0, None)
        inter = inter_w * inter_h
        union = areas[best] + areas[rest] - inter
        overlap = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        order = rest[overlap <= iou]
    return np.asarray(keep, dtype=np.intp)


class NanoDetDetector:
    """Finds people in BGR images with the NanoDet-g model."""

    def __init__(
        self,
        model_path: Path = DEFAULT_MODEL_PATH,
        *,
        score_threshold: float = 0.3,
        nms_iou: float = 0.45,
        threads: int = 1,
        providers: Sequence[str] = ("CPUExecutionProvider",),
    ) -> None:
        if not 0.0 < score_threshold < 1.0:
            raise ValueError(f"score_threshold must be between 0 and 1, got {score_threshold}")
        if not 0.0 < nms_iou <= 1.0:
            raise ValueError(f"nms_iou must be above 0 and at most 1, got {nms_iou}")
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        self.model_path = Path(model_path)
        self.score_threshold = score_threshold
        self.nms_iou = nms_iou
        self.size = INPUT_SIZE
        if not self.model_path.is_file():
            raise ModelError(f"detector model {self.model_path}: no such file; {EXPECTED_LAYOUT}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(
                str(self.model_path), sess_options=options, providers=list(providers)
            )
        except Exception as error:  # onnxruntime raises its own untyped errors here
            raise ModelError(
                f"detector model {self.model_path}: not a loadable ONNX model ({error}); "
                f"expected {EXPECTED_LAYOUT}"
            ) from error
        self._input_name = self._check_input()
        self._outputs = self._match_outputs()
        log.info(
            "person detector %s loaded (threads %s, score %s, providers %s)",
            self.model_path.name,
            threads,
            score_threshold,
            ",".join(self._session.get_providers()),
        )

    def _layout_error(self, what: str) -> ModelError:
        return ModelError(f"detector model {self.model_path}: {what}; expected {EXPECTED_LAYOUT}")

    def _check_input(self) -> str:
        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            raise self._layout_error(f"{len(inputs)} inputs")
        tensor = inputs[0]
        if tensor.type != "tensor(float)" or list(tensor.shape) != [1, 3, self.size, self.size]:
            raise self._layout_error(f"input {tensor.name} is {tensor.type} {tensor.shape}")
        return str(tensor.name)

    def _match_outputs(self) -> list[tuple[int, str, str]]:
        """(stride, score output name, regression output name) for each stride."""
        by_shape: dict[tuple[int, int], str] = {}
        for tensor in self._session.get_outputs():
            shape = tensor.shape
            if (
                tensor.type != "tensor(float)"
                or len(shape) != 3
                or not all(isinstance(dim, int) for dim in shape)
                or shape[0] != 1
            ):
                raise self._layout_error(f"output {tensor.name} is {tensor.type} {shape}")
            key = (int(shape[1]), int(shape[2]))
            if key in by_shape:
                raise self._layout_error(f"two outputs of shape {shape}")
            by_shape[key] = str(tensor.name)
        levels: list[tuple[int, str, str]] = []
        for stride in STRIDES:
            cells = (self.size // stride) ** 2
            score_name = by_shape.pop((cells, NUM_CLASSES), None)
            reg_name = by_shape.pop((cells, 4 * REG_BINS), None)
            if score_name is None or reg_name is None:
                raise self._layout_error(f"no score and box outputs for stride {stride}")
            levels.append((stride, score_name, reg_name))
        if by_shape:
            raise self._layout_error(f"unexpected outputs {sorted(by_shape.values())}")
        return levels

    def detect(self, image_bgr: npt.NDArray[np.uint8]) -> Detections:
        """The people in an H×W×3 uint8 BGR image, best score first, boxes in its pixels."""
        if image_bgr.ndim != 3 or image_bgr.shape[2] != 3 or image_bgr.dtype != np.uint8:
            raise ValueError(
                f"expected an H×W×3 uint8 BGR image, got {image_bgr.dtype} {image_bgr.shape}"
            )
        tensor, scale, (left, top) = letterbox(image_bgr, self.size)
        names = [name for _, score, reg in self._outputs for name in (score, reg)]
        results = self._session.run(names, {self._input_name: tensor})
        all_boxes: list[FloatArray] = []
        all_scores: list[FloatArray] = []
        for index, (stride, _, _) in enumerate(self._outputs):
            scores = np.asarray(results[2 * index], dtype=np.float32)[0, :, PERSON_CLASS]
            regression = np.asarray(results[2 * index + 1], dtype=np.float32)[0]
            boxes, kept = decode_level(
                scores, regression, stride, self.size // stride, self.score_threshold
            )
            all_boxes.append(boxes)
            all_scores.append(kept)
        boxes = np.concatenate(all_boxes)
        scores = np.concatenate(all_scores)
        if len(boxes) == 0:
            return Detections.empty()
        keep = nms(boxes, scores, self.nms_iou)
        boxes, scores = boxes[keep], scores[keep]
        height, width = image_bgr.shape[:2]
        boxes = (boxes - np.array([left, top, left, top], dtype=np.float32)) / np.float32(scale)
        boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, width)
        boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, height)
        return Detections(boxes.astype(np.float32), scores.astype(np.float32))
