"""Where to run the detector: the whole frame, or crops around the zones that matter.

A detector with a fixed input (NanoDet: 416×416) costs the same per inference whatever it is
given, so a crop is not cheaper per inference: it is sharper. A 1920×1080 frame letterboxed
into 416 shrinks a person 4.6 times; a crop around two windows half as wide shrinks them half
as much. The plan therefore aims at the fewest inferences with the most pixels per person:

- each zone becomes a region: its bounding box widened by a margin and raised by the height of
  a person (people are counted by their feet, and their bodies rise above the zone);
- overlapping or nearby regions merge, as long as the merged region is not much larger than
  the parts (so two windows side by side share one crop);
- `auto` takes the crops when they need no more inferences than the whole frame (one crop)
  and that crop is clearly smaller than the frame; otherwise the whole frame. `zones` always
  takes the crops; `frame` never does.

Boxes found in a crop are mapped back to frame pixels; boxes cut by a crop's edge are kept
(a person half inside is still a person).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analyzers.detections import Detections
from analyzers.postprocess import suppress
from analyzers.zones import Zone

PERSON_HEIGHT = 0.35  # of the frame height: how far a region reaches above its zone
MARGIN = 0.04  # of the frame size, on the other sides
MERGE_SLACK = 1.3  # merge two regions when the union is at most this much their summed area
AUTO_MAX_AREA = 0.6  # auto mode: a single crop must cover at most this share of the frame


@dataclass(frozen=True, slots=True)
class Region:
    """A rectangle in relative frame coordinates: x1, y1 (top left) to x2, y2."""

    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def area(self) -> float:
        return max(0.0, self.x2 - self.x1) * max(0.0, self.y2 - self.y1)

    def union(self, other: Region) -> Region:
        return Region(
            min(self.x1, other.x1),
            min(self.y1, other.y1),
            max(self.x2, other.x2),
            max(self.y2, other.y2),
        )

    def pixels(self, width: int, height: int) -> tuple[int, int, int, int]:
        """Integer pixel bounds (x1, y1, x2, y2), at least one pixel wide and high."""
        x1 = min(width - 1, max(0, int(np.floor(self.x1 * width))))
        y1 = min(height - 1, max(0, int(np.floor(self.y1 * height))))
        x2 = max(x1 + 1, min(width, int(np.ceil(self.x2 * width))))
        y2 = max(y1 + 1, min(height, int(np.ceil(self.y2 * height))))
        return x1, y1, x2, y2


FULL_FRAME = Region(0.0, 0.0, 1.0, 1.0)


def zone_region(zone: Zone) -> Region:
    """The part of the frame where the people counted in `zone` can appear."""
    xs = [x for x, _ in zone.points]
    ys = [y for _, y in zone.points]
    return Region(
        max(0.0, min(xs) - MARGIN),
        max(0.0, min(ys) - PERSON_HEIGHT),
        min(1.0, max(xs) + MARGIN),
        min(1.0, max(ys) + MARGIN),
    )


def merge_regions(regions: Sequence[Region]) -> list[Region]:
    """Merge regions whose union is not much larger than their parts, until none merge."""
    merged = list(regions)
    changed = True
    while changed:
        changed = False
        for i in range(len(merged)):
            for j in range(i + 1, len(merged)):
                union = merged[i].union(merged[j])
                if union.area <= MERGE_SLACK * (merged[i].area + merged[j].area):
                    merged[i] = union
                    del merged[j]
                    changed = True
                    break
            if changed:
                break
    return sorted(merged, key=lambda r: (r.y1, r.x1))


def plan_regions(zones: Sequence[Zone], mode: str) -> list[Region]:
    """The regions to run the detector on for a camera with these zones ('auto'|'zones'|'frame')."""
    if mode == "frame" or not zones:
        return [FULL_FRAME]
    regions = merge_regions([zone_region(zone) for zone in zones])
    if mode == "zones":
        return regions
    if mode != "auto":
        raise ValueError(f"unknown crop mode {mode!r}")
    if len(regions) == 1 and regions[0].area <= AUTO_MAX_AREA:
        return regions
    return [FULL_FRAME]


def crop(image: npt.NDArray[np.uint8], region: Region) -> npt.NDArray[np.uint8]:
    height, width = image.shape[:2]
    x1, y1, x2, y2 = region.pixels(width, height)
    return image[y1:y2, x1:x2]


def to_frame(detections: Detections, region: Region, width: int, height: int) -> Detections:
    """Detections found in the crop of `region` moved into frame pixels."""
    if len(detections) == 0:
        return detections
    x1, y1, _, _ = region.pixels(width, height)
    offset = np.array([x1, y1, x1, y1], dtype=np.float32)
    return Detections(detections.boxes + offset, detections.scores)


def combine(parts: Sequence[Detections], iou: float = 0.5) -> Detections:
    """One set of detections from several crops: duplicates where crops overlap are merged."""
    parts = [part for part in parts if len(part)]
    if not parts:
        return Detections.empty()
    if len(parts) == 1:
        return parts[0]
    boxes = np.concatenate([part.boxes for part in parts])
    scores = np.concatenate([part.scores for part in parts])
    keep = suppress(boxes, scores, iou)  # also a part box cut by one crop inside a whole one
    return Detections(boxes[keep], scores[keep])
