"""YOLOX person detection from ONNX exports of Megvii's YOLOX (tools/export_onnx.py; none ships).

Model layout (checked when the model is loaded):

- one input, float32 [B, 3, H, W] NCHW, **BGR**, raw 0..255 pixels (no normalisation: the
  YOLOX convention since 0.1.1; the older "legacy" RGB mean/std models are not supported);
  B fixed or dynamic, H and W fixed or dynamic (then the spec's input_size, default 640).
  Images are letterboxed the YOLOX way: ratio kept, in the top-left corner, padded with 114.
- one output, float32 [B, N, 5 + C]: box (4 values), objectness, then C class scores, both
  already in 0..1. N = Σ (H/s)·(W/s) over the strides 8, 16, 32, the cells of each stride in
  row-major order (P6 models with a stride 64 are not supported).

The box values come in two forms, and both are read:

- raw (the export's default): x, y are offsets in cells and w, h logs of sizes in cells; a cell
  (gx, gy) of stride s gives centre ((x + gx)·s, (y + gy)·s) and size (e^w·s, e^h·s);
- decoded (exported with `--decode_in_inference`): centre x, centre y, width, height in input
  pixels.

Which one a model writes is decided once, at load time, from its output on a blank probe input
(`looks_decoded`): decoded centres sit near their cell's position in pixels, raw offsets sit near
zero whatever the cell. The two are far apart (cells are numbered up to H/8 while the offsets
stay within a few cells), so no setting is needed; the choice is logged.

Score = objectness × person class score; only the person class is kept; NMS is ours.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analyzers.letterbox import LetterboxStyle
from analyzers.onnx_detector import Candidates, OnnxDetector, ProbeOutput
from analyzers.postprocess import cxcywh_to_xyxy

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float32]

DEFAULT_INPUT_SIZE = 640
STRIDES: tuple[int, ...] = (8, 16, 32)
HEAD_VALUES = 5  # box (4), objectness


@dataclass(frozen=True, slots=True)
class Grid:
    """Every cell of every stride, in output order: [N, 2] (gx, gy) and [N] strides."""

    cells: FloatArray
    strides: FloatArray

    @classmethod
    def of(cls, width: int, height: int, strides: Sequence[int] = STRIDES) -> Grid:
        cells: list[FloatArray] = []
        sizes: list[FloatArray] = []
        for stride in strides:
            columns, rows = width // stride, height // stride
            gy, gx = np.mgrid[0:rows, 0:columns]
            cells.append(np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32))
            sizes.append(np.full(rows * columns, stride, dtype=np.float32))
        return cls(np.concatenate(cells), np.concatenate(sizes))

    def __len__(self) -> int:
        return int(self.strides.shape[0])


def looks_decoded(centres: FloatArray, grid: Grid) -> bool:
    """Whether an output's first two box values [N, 2] are decoded pixel centres, not raw offsets.

    Compares how far the values are, in cells, from each reading's expectation: near each cell's
    position if decoded, near zero if raw; the closer reading wins (medians, so a few confident
    cells do not sway it).
    """
    in_cells = centres / grid.strides[:, np.newaxis]
    off_if_decoded = float(np.median(np.abs(in_cells - grid.cells)))
    off_if_raw = float(np.median(np.abs(centres)))
    return off_if_decoded < off_if_raw


def decode(
    output: FloatArray, grid: Grid, decoded: bool, person: int, threshold: float
) -> tuple[FloatArray, FloatArray]:
    """Person boxes (x1, y1, x2, y2, input pixels) and scores of an [N, 5 + C] output."""
    scores = output[:, 4] * output[:, HEAD_VALUES + person]
    keep = np.flatnonzero(scores >= threshold)
    raw = output[keep, :4].astype(np.float32)
    if decoded:
        boxes = raw
    else:
        stride = grid.strides[keep, np.newaxis]
        centre = (raw[:, 0:2] + grid.cells[keep]) * stride
        size = np.exp(raw[:, 2:4]) * stride
        boxes = np.concatenate([centre, size], axis=1)
    return cxcywh_to_xyxy(boxes), scores[keep].astype(np.float32)


class Yolox(OnnxDetector):
    """Finds people with a YOLOX export."""

    kind = "yolox"
    style = LetterboxStyle(centred=False, pad_value=114)
    default_input_size = DEFAULT_INPUT_SIZE

    def layout(self, classes: str, size: tuple[int, int] | None) -> str:
        height, width = ("H", "W") if size is None else (size[1], size[0])
        return (
            f"one float32 input [batch, 3, {height}, {width}] (BGR, 0..255) and one float32 "
            f"output [batch, N, 5 + {classes}] (box, objectness, {classes} class scores) with "
            f"N = Σ ({height} / s)·({width} / s) over the strides {STRIDES}"
        )

    def tensor(self, canvas: npt.NDArray[np.uint8]) -> FloatArray:
        return np.ascontiguousarray(canvas.transpose(0, 3, 1, 2), dtype=np.float32)

    def bind(self, outputs: Sequence[ProbeOutput], labels_source: str) -> None:
        if len(outputs) != 1:
            raise self.model.error(f"{len(outputs)} outputs ({', '.join(o.name for o in outputs)})")
        output = outputs[0]
        self._grid = Grid.of(*self.input_size)
        expected = (len(self._grid), HEAD_VALUES + len(self.labels))
        if output.shape != expected:
            raise self.model.error(
                f"output {output.name} is [batch, {output.shape[0]}, {output.shape[1]}], "
                f"not [batch, {expected[0]}, {expected[1]}] for a {self.input_size[0]}×"
                f"{self.input_size[1]} input and {len(self.labels)} classes ({labels_source})"
            )
        self._decoded = looks_decoded(output.values[:, 0:2], self._grid)
        log.info(
            "YOLOX model %s writes %s boxes",
            self.model.path.name,
            "decoded" if self._decoded else "raw",
        )

    def candidates(self, outputs: Sequence[FloatArray], row: int) -> Candidates:
        return decode(
            outputs[0][row],
            self._grid,
            self._decoded,
            self.person_class,
            self.spec.score_threshold,
        )
