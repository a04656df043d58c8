"""Zones: polygons in relative frame coordinates and point-in-polygon tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class Zone:
    """A polygon in relative coordinates (0–1 on both axes)."""

    points: tuple[tuple[float, float], ...]

    @classmethod
    def of(cls, points: Sequence[Sequence[float]]) -> Zone:
        return cls(tuple((float(x), float(y)) for x, y in points))

    def contains(self, points: npt.NDArray[np.floating]) -> npt.NDArray[np.bool_]:
        """Even-odd rule for each relative point of `points` ([N, 2]); edges count as inside."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        poly = np.asarray(self.points, dtype=np.float64)
        x, y = pts[:, 0:1], pts[:, 1:2]
        x1, y1 = poly[:, 0], poly[:, 1]
        x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
        crosses = (y1 > y) != (y2 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at_y = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        inside: npt.NDArray[np.bool_] = np.logical_and(crosses, x < x_at_y).sum(axis=1) % 2 == 1
        return inside | self._on_edge(x, y, x1, y1, x2, y2)

    @staticmethod
    def _on_edge(
        x: npt.NDArray[np.float64],
        y: npt.NDArray[np.float64],
        x1: npt.NDArray[np.float64],
        y1: npt.NDArray[np.float64],
        x2: npt.NDArray[np.float64],
        y2: npt.NDArray[np.float64],
    ) -> npt.NDArray[np.bool_]:
        cross = (x2 - x1) * (y - y1) - (y2 - y1) * (x - x1)
        within_x = (np.minimum(x1, x2) - 1e-9 <= x) & (x <= np.maximum(x1, x2) + 1e-9)
        within_y = (np.minimum(y1, y2) - 1e-9 <= y) & (y <= np.maximum(y1, y2) + 1e-9)
        on_edge: npt.NDArray[np.bool_] = np.any(
            (np.abs(cross) < 1e-9) & within_x & within_y, axis=1
        )
        return on_edge

    def pixels(self, width: int, height: int) -> npt.NDArray[np.int32]:
        """Polygon in pixel coordinates of a width × height frame ([N, 2] int32, for drawing)."""
        scale = np.array([width, height], dtype=np.float64)
        return np.round(np.asarray(self.points) * scale).astype(np.int32)


def relative_points(
    points: npt.NDArray[np.floating], width: int, height: int
) -> npt.NDArray[np.float64]:
    """Pixel points [N, 2] → relative 0–1 coordinates."""
    scale = np.array([width, height], dtype=np.float64)
    relative: npt.NDArray[np.float64] = np.asarray(points, dtype=np.float64).reshape(-1, 2) / scale
    return relative


def parse_polygon(text: str) -> list[tuple[float, float]]:
    """'0.1,0.5 0.4,0.5 0.4,0.9' → [(0.1, 0.5), ...]; raises ValueError with the reason."""
    points = []
    for token in text.split():
        parts = token.split(",")
        if len(parts) != 2:
            raise ValueError(f"'{token}' is not an x,y point")
        try:
            points.append((float(parts[0]), float(parts[1])))
        except ValueError as exc:
            raise ValueError(f"'{token}' is not an x,y point of numbers") from exc
    return points
