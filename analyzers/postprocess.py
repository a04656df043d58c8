"""From a model's candidate boxes to Detections: box formats and non-maximum suppression.

Suppression is greedy, best score first. A lower-scored box goes when it overlaps a better kept
box by more than the IoU threshold (plain NMS, `nms`), or, in `suppress`, also when it is a part
of a better kept box (`Containment`): person detectors sometimes add a second, shorter box over
the lower body of a person they already found, standing on the same spot. Such a box has a small
IoU with the whole-body box, so plain NMS keeps it and the person is counted twice.

What makes a box a part, and why only that (looked at on the queue, classroom, PETS 2009 and
CAVIAR clips in shared/data): the duplicates seen were legs / lower-body boxes, 0.57-0.78 of the
body box's height, at least 0.74 inside it, with their bottom centre within 0.12 body heights of
the body box's bottom centre. Boxes in the UPPER part of a better box were, every time they were
checked, real people: in a frontal queue the people behind show their heads beside or above the
head of the person in front; from a raised camera a person behind stands higher in the image.
Two people cannot stand on the same spot, so "same feet, clearly shorter, mostly inside" is the
rule, and an upper-body box is never taken for a duplicate. Its known cost: a person walking
right in front of another at the same spot is dropped for that frame (seen once in PETS 2009).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analyzers.detections import Detections
from analyzers.letterbox import Placement

FloatArray = npt.NDArray[np.float32]
Float64Array = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Containment:
    """When a lower-scored box counts as a part of a better box (and is dropped).

    All three must hold: at least `min_inside` of the part's area lies inside the better box; the
    part is at most `max_height_ratio` times as tall; and the bottom centres of the two boxes (where
    a person stands) are at most `max_feet_distance` of the better box's height apart.
    """

    min_inside: float = 0.7
    max_height_ratio: float = 0.8
    max_feet_distance: float = 0.12

    def __post_init__(self) -> None:
        if not 0 < self.min_inside <= 1:
            raise ValueError(f"min_inside must be in (0, 1], got {self.min_inside}")
        if not 0 < self.max_height_ratio < 1:
            raise ValueError(f"max_height_ratio must be in (0, 1), got {self.max_height_ratio}")
        if self.max_feet_distance < 0:
            raise ValueError(f"max_feet_distance must be ≥ 0, got {self.max_feet_distance}")


CONTAINMENT = Containment()


def cxcywh_to_xyxy(boxes: FloatArray) -> FloatArray:
    """[N, 4] centre x, centre y, width, height → [N, 4] x1, y1, x2, y2."""
    centre = boxes[:, 0:2]
    half = boxes[:, 2:4] * np.float32(0.5)
    return np.concatenate([centre - half, centre + half], axis=1).astype(np.float32)


def parts_of(
    best: npt.ArrayLike, boxes: npt.ArrayLike, containment: Containment = CONTAINMENT
) -> npt.NDArray[np.bool_]:
    """Which of `boxes` ([N, 4] x1, y1, x2, y2) are parts of the box `best` ([4]).

    Empty boxes are parts of nothing and have no parts.
    """
    b = np.asarray(best, dtype=np.float64).reshape(4)
    o = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    height = b[3] - b[1]
    if b[2] - b[0] <= 0 or height <= 0:
        return np.zeros(len(o), dtype=np.bool_)
    widths = o[:, 2] - o[:, 0]
    heights = o[:, 3] - o[:, 1]
    areas = np.clip(widths, 0, None) * np.clip(heights, 0, None)
    inter_w = np.clip(np.minimum(b[2], o[:, 2]) - np.maximum(b[0], o[:, 0]), 0, None)
    inter_h = np.clip(np.minimum(b[3], o[:, 3]) - np.maximum(b[1], o[:, 1]), 0, None)
    inside = np.divide(inter_w * inter_h, areas, out=np.zeros_like(areas), where=areas > 0)
    feet_dx = (o[:, 0] + o[:, 2] - b[0] - b[2]) / 2
    feet_dy = o[:, 3] - b[3]
    feet = np.hypot(feet_dx, feet_dy) / height
    mask: npt.NDArray[np.bool_] = (
        (areas > 0)
        & (inside >= containment.min_inside)
        & (heights <= containment.max_height_ratio * height)
        & (feet <= containment.max_feet_distance)
    )
    return mask


def suppress(
    boxes: FloatArray,
    scores: FloatArray,
    iou: float,
    containment: Containment | None = CONTAINMENT,
) -> npt.NDArray[np.intp]:
    """Indices of the boxes kept by greedy suppression, best score first.

    A box is dropped when its intersection over union with a better kept box exceeds `iou`, or
    when it is a part of a better kept box by `containment` (None: plain NMS).
    """
    if len(boxes) == 0:
        return np.zeros((0,), dtype=np.intp)
    coords: Float64Array = boxes.astype(np.float64)
    x1, y1, x2, y2 = (coords[:, i] for i in range(4))
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
        drop = overlap > iou
        if containment is not None:
            drop |= parts_of(coords[best], coords[rest], containment)
        order = rest[~drop]
    return np.asarray(keep, dtype=np.intp)


def nms(boxes: FloatArray, scores: FloatArray, iou: float) -> npt.NDArray[np.intp]:
    """Indices of the boxes kept by greedy non-maximum suppression, best score first.

    A box is dropped when its intersection over union with a better kept box exceeds `iou`.
    """
    return suppress(boxes, scores, iou, containment=None)


def finish(
    boxes: FloatArray,
    scores: FloatArray,
    placement: Placement,
    iou: float,
    containment: Containment | None = CONTAINMENT,
) -> Detections:
    """Candidates in network-input pixels → Detections in image pixels, suppressed, best first.

    Suppression is `suppress` (IoU, then parts of better boxes unless `containment` is None).
    """
    if len(boxes) == 0:
        return Detections.empty()
    keep = suppress(boxes, scores, iou, containment)
    return Detections(placement.to_image(boxes[keep]), scores[keep].astype(np.float32))
