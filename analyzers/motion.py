"""A cheap motion gate: skip the detector while a camera's zones look as they did last time.

Each region (see analyzers.crops) is shrunk to a small grey thumbnail. When, in every region,
fewer than `changed_fraction` of the thumbnail's pixels differ by more than `pixel_delta` grey
levels from the thumbnail taken at the *last inference*, nothing has moved: the previous
detections still hold and the detector is skipped. Comparing with the last inference (not the
last frame) lets slow changes add up until they count. The detector still runs at least every
`max_skip_s`, so a person who sits perfectly still is re-confirmed and a wrong state cannot
persist forever.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from analyzers.crops import Region, crop

THUMB_WIDTH = 64

Grey = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class MotionSpec:
    enabled: bool = True
    pixel_delta: int = 20
    changed_fraction: float = 0.005
    max_skip_s: float = 10.0


def thumbnail(image: npt.NDArray[np.uint8], region: Region) -> Grey:
    part = crop(image, region)
    height, width = part.shape[:2]
    size = (THUMB_WIDTH, max(1, round(THUMB_WIDTH * height / max(width, 1))))
    grey = cv2.cvtColor(part, cv2.COLOR_BGR2GRAY)
    return np.asarray(cv2.resize(grey, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)


def changed_fraction(before: Grey, after: Grey, pixel_delta: int) -> float:
    """Share of pixels whose grey level moved by more than `pixel_delta` (1.0 if sizes differ)."""
    if before.shape != after.shape:
        return 1.0
    diff = cv2.absdiff(before, after)
    return float(np.count_nonzero(diff > pixel_delta)) / float(diff.size)


def must_infer(
    fractions: Sequence[float] | None, since_inference_s: float | None, spec: MotionSpec
) -> bool:
    """The gate's decision. `fractions` is None when there is no reference yet."""
    if not spec.enabled or fractions is None or since_inference_s is None:
        return True
    if since_inference_s >= spec.max_skip_s or since_inference_s < 0:
        return True
    return any(fraction >= spec.changed_fraction for fraction in fractions)


class MotionGate:
    """Per camera: call `check` on every sampled frame, `inferred` after each inference."""

    def __init__(self, regions: Sequence[Region], spec: MotionSpec) -> None:
        self.regions = list(regions)
        self.spec = spec
        self._reference: list[Grey] | None = None
        self._inferred_at: float | None = None
        self._pending: list[Grey] | None = None
        self.skipped = 0
        self.checked = 0

    def check(self, image: npt.NDArray[np.uint8], t: float) -> bool:
        """True when the detector must run on this frame."""
        self.checked += 1
        if not self.spec.enabled:
            return True
        self._pending = [thumbnail(image, region) for region in self.regions]
        fractions = None
        if self._reference is not None:
            fractions = [
                changed_fraction(ref, now, self.spec.pixel_delta)
                for ref, now in zip(self._reference, self._pending, strict=True)
            ]
        since = None if self._inferred_at is None else t - self._inferred_at
        run = must_infer(fractions, since, self.spec)
        if not run:
            self.skipped += 1
        return run

    def inferred(self, t: float) -> None:
        """The detector ran on the frame last checked: it becomes the reference."""
        if self._pending is not None:
            self._reference = self._pending
        self._inferred_at = t
