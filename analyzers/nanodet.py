"""NanoDet-g: the embedded person detector (analyzers/models/nanodet-g.onnx, see PROVENANCE.md).

Model layout (checked when the model is loaded):

- one input, float32 [B, 3, 416, 416] NCHW, BGR channel order, normalised per channel as
  ``(pixel - MEAN) / STD``, where B is 1 or dynamic (the embedded model's batch is dynamic);
  images are letterboxed into it (ratio kept, centred, zero pixels around), never stretched;
- six outputs, told apart by shape only: ``[B, N, 80]`` class scores, already passed through a
  sigmoid inside the graph (values in 0..1), and ``[B, N, 44]`` box regression (the four sides
  left, top, right, bottom × 11 distance bins) for the strides 8, 16 and 32, where N is the
  number of cells of that stride's grid (2704, 676 and 169 at 416), in row-major cell order.

A cell (x, y) of stride s has its centre at ((x + 0.5)·s, (y + 0.5)·s); each side's distance
is the expectation of the softmax over its bins times 0..10, times s. Only the person class is
kept; overlapping boxes are merged by non-maximum suppression.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from analyzers.detector_spec import DetectorSpec
from analyzers.letterbox import LetterboxStyle, nchw
from analyzers.onnx_detector import Candidates, OnnxDetector, ProbeOutput

DEFAULT_MODEL_PATH: Path = Path(__file__).resolve().parent / "models" / "nanodet-g.onnx"

INPUT_SIZE = 416
STRIDES: tuple[int, ...] = (8, 16, 32)
REG_BINS = 11  # distances 0..10 strides per side
MEAN_BGR = np.array([103.53, 116.28, 123.675], dtype=np.float32)
STD_BGR = np.array([57.375, 57.12, 58.395], dtype=np.float32)

FloatArray = npt.NDArray[np.float32]


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


@dataclass(frozen=True, slots=True)
class Level:
    """One stride's pair of outputs (their indices in the session's output list)."""

    stride: int
    grid_width: int
    scores: int
    boxes: int


class NanoDet(OnnxDetector):
    """Finds people with a NanoDet model laid out like the embedded one (the default)."""

    kind = "nanodet"
    style = LetterboxStyle(centred=True, pad_value=0)
    default_input_size = INPUT_SIZE

    def default_model_path(self) -> Path:
        return DEFAULT_MODEL_PATH

    def layout(self, classes: str, size: tuple[int, int] | None) -> str:
        side = self.spec.input_size or INPUT_SIZE
        width, height = size or (side, side)
        return (
            f"one float32 input [1 or batch, 3, {height}, {width}] and, for each stride of "
            f"{STRIDES}, two float32 outputs [batch, N, {classes}] (class scores) and "
            f"[batch, N, {4 * REG_BINS}] (box bins) with N = ({height} / stride)·({width} / stride)"
        )

    def tensor(self, canvas: npt.NDArray[np.uint8]) -> FloatArray:
        return nchw(canvas, rgb=False, mean=MEAN_BGR, std=STD_BGR)

    def bind(self, outputs: Sequence[ProbeOutput], labels_source: str) -> None:
        by_shape: dict[tuple[int, int], int] = {}
        for index, output in enumerate(outputs):
            if output.shape in by_shape:
                raise self.model.error(f"two outputs of shape [batch, {output.shape}]")
            by_shape[output.shape] = index
        width, height = self.input_size
        classes = len(self.labels)
        levels: list[Level] = []
        for stride in STRIDES:
            cells = (height // stride) * (width // stride)
            scores = by_shape.pop((cells, classes), None)
            boxes = by_shape.pop((cells, 4 * REG_BINS), None)
            if scores is None or boxes is None:
                found = ", ".join(f"{output.name} {list(output.shape)}" for output in outputs)
                raise self.model.error(
                    f"no score and box outputs for stride {stride} among {found} "
                    f"({classes} classes: {labels_source})"
                )
            levels.append(Level(stride, width // stride, scores, boxes))
        if by_shape:
            raise self.model.error(
                f"unexpected outputs {sorted(outputs[index].name for index in by_shape.values())}"
            )
        self._levels = tuple(levels)

    def candidates(self, outputs: Sequence[FloatArray], row: int) -> Candidates:
        threshold = self.spec.score_threshold
        found = [
            decode_level(
                outputs[level.scores][row, :, self.person_class],
                outputs[level.boxes][row],
                level.stride,
                level.grid_width,
                threshold,
            )
            for level in self._levels
        ]
        return (
            np.concatenate([boxes for boxes, _ in found]),
            np.concatenate([scores for _, scores in found]),
        )


class NanoDetDetector(NanoDet):
    """NanoDet built from keyword settings (the embedded model by default).

    The constructor callers had before the registry; `build_detector(DetectorSpec(...))` is the
    general way.
    """

    def __init__(
        self,
        model_path: Path = DEFAULT_MODEL_PATH,
        *,
        score_threshold: float = 0.3,
        nms_iou: float = 0.45,
        threads: int = 1,
        providers: Sequence[str] = ("CPUExecutionProvider",),
    ) -> None:
        super().__init__(
            DetectorSpec(
                "nanodet",
                Path(model_path),
                score_threshold=score_threshold,
                nms_iou=nms_iou,
                providers=tuple(providers),
                threads=threads,
            )
        )
