"""From a model's candidate boxes to Detections: box formats and non-maximum suppression."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from analyzers.detections import Detections
from analyzers.letterbox import Placement

FloatArray = npt.NDArray[np.float32]


def cxcywh_to_xyxy(boxes: FloatArray) -> FloatArray:
    """[N, 4] centre x, centre y, width, height → [N, 4] x1, y1, x2, y2."""
    centre = boxes[:, 0:2]
    half = boxes[:, 2:4] * np.float32(0.5)
    return np.concatenate([centre - half, centre + half], axis=1).astype(np.float32)


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


def finish(boxes: FloatArray, scores: FloatArray, placement: Placement, iou: float) -> Detections:
    """Candidates in network-input pixels → Detections in image pixels, suppressed, best first."""
    if len(boxes) == 0:
        return Detections.empty()
    keep = nms(boxes, scores, iou)
    return Detections(placement.to_image(boxes[keep]), scores[keep].astype(np.float32))
