"""Detections: person boxes and their scores for one image."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class Detections:
    """Boxes as float32 [N, 4] (x1, y1, x2, y2) in pixels of the analysed image; scores [N]."""

    boxes: npt.NDArray[np.float32]
    scores: npt.NDArray[np.float32]

    def __post_init__(self) -> None:
        if self.boxes.ndim != 2 or self.boxes.shape[1] != 4:
            raise ValueError(f"boxes must be [N, 4], got {self.boxes.shape}")
        if self.scores.shape != (self.boxes.shape[0],):
            raise ValueError(f"scores must be [{self.boxes.shape[0]}], got {self.scores.shape}")

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), dtype=np.float32), np.zeros((0,), dtype=np.float32))

    def bottom_centres(self) -> npt.NDArray[np.float32]:
        """[N, 2] points (x centre, y2): where each person stands."""
        x = (self.boxes[:, 0] + self.boxes[:, 2]) * np.float32(0.5)
        return np.stack([x, self.boxes[:, 3]], axis=1).astype(np.float32, copy=False)

    def filter(self, mask: npt.NDArray[np.bool_]) -> Detections:
        """The detections where `mask` ([N] booleans) is true."""
        keep = np.asarray(mask, dtype=bool)
        return Detections(self.boxes[keep], self.scores[keep])
