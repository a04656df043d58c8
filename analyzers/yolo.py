"""YOLO person detection from Ultralytics ONNX exports (YOLOv8, YOLO11 and alike; none ships).

Model layout (checked when the model is loaded):

- one input, float32 [B, 3, H, W] NCHW, **RGB**, pixel / 255; B is fixed or dynamic, H and W
  fixed or dynamic (then the spec's input_size, default 640, is used). Images are letterboxed
  the Ultralytics way: ratio kept, centred, padded with 114 grey.
- one output, float32 [B, 4 + C, N]: for each of N candidates the box centre x, centre y,
  width and height in input pixels, then C class scores (already in 0..1, no objectness).
  The transposed layout [B, N, 4 + C] (some exporters and post-processing graphs write it) is
  read too: the axis of size 4 + C is the attribute axis. The two are told apart by that size
  alone, which is reliable because C is known (the labels) and N is in the thousands; only if
  both axes had size 4 + C would the layout be ambiguous, and then the Ultralytics one is used.

C is the number of labels: the spec's, else the `names` the export records in its metadata,
else the 80 COCO names. Only the person class is kept; NMS is ours (exports made with
`nms=True`, whose output is [B, K, 6], are not this layout and are refused).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from analyzers.letterbox import LetterboxStyle, nchw
from analyzers.onnx_detector import Candidates, OnnxDetector, ProbeOutput
from analyzers.postprocess import cxcywh_to_xyxy

FloatArray = npt.NDArray[np.float32]

DEFAULT_INPUT_SIZE = 640
BOX_VALUES = 4  # centre x, centre y, width, height
ZERO = np.zeros(3, dtype=np.float32)
UNIT_RANGE = np.full(3, 255.0, dtype=np.float32)


def attributes_last(shape: tuple[int, int], classes: int) -> bool:
    """Whether a per-image output of `shape` is [N, 4 + C] rather than [4 + C, N].

    Raises ValueError when neither axis has size 4 + C.
    """
    width = BOX_VALUES + classes
    if shape[0] == width:
        return False
    if shape[1] == width:
        return True
    raise ValueError(f"neither axis is {width} = 4 box values + {classes} class scores")


def decode(output: FloatArray, person: int, threshold: float) -> tuple[FloatArray, FloatArray]:
    """Person boxes (x1, y1, x2, y2) and scores of an [N, 4 + C] output, score ≥ threshold."""
    scores = output[:, BOX_VALUES + person]
    keep = np.flatnonzero(scores >= threshold)
    boxes = cxcywh_to_xyxy(output[keep, :BOX_VALUES].astype(np.float32))
    return boxes, scores[keep].astype(np.float32)


class Yolo(OnnxDetector):
    """Finds people with an Ultralytics YOLO detection export."""

    kind = "yolo"
    style = LetterboxStyle(centred=True, pad_value=114)
    default_input_size = DEFAULT_INPUT_SIZE

    def layout(self, classes: str, size: tuple[int, int] | None) -> str:
        height, width = ("H", "W") if size is None else (size[1], size[0])
        return (
            f"one float32 input [batch, 3, {height}, {width}] (RGB, 0..1) and one float32 output "
            f"[batch, 4 + {classes}, N] or [batch, N, 4 + {classes}] (centre x, centre y, width, "
            f"height, then {classes} class scores)"
        )

    def tensor(self, canvas: npt.NDArray[np.uint8]) -> FloatArray:
        return nchw(canvas, rgb=True, mean=ZERO, std=UNIT_RANGE)

    def bind(self, outputs: Sequence[ProbeOutput], labels_source: str) -> None:
        if len(outputs) != 1:
            raise self.model.error(f"{len(outputs)} outputs ({', '.join(o.name for o in outputs)})")
        output = outputs[0]
        try:
            self._transposed = attributes_last(output.shape, len(self.labels))
        except ValueError as error:
            raise self.model.error(
                f"output {output.name} is [batch, {output.shape[0]}, {output.shape[1]}]: {error} "
                f"({labels_source})"
            ) from error

    def candidates(self, outputs: Sequence[FloatArray], row: int) -> Candidates:
        output = outputs[0][row]
        return decode(
            output if self._transposed else output.T, self.person_class, self.spec.score_threshold
        )
