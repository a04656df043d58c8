"""Crop planning: which regions the detector runs on, and boxes back in frame pixels."""

from __future__ import annotations

import numpy as np
import pytest

from analyzers.crops import (
    FULL_FRAME,
    Region,
    combine,
    crop,
    merge_regions,
    plan_regions,
    to_frame,
    zone_region,
)
from analyzers.detections import Detections
from analyzers.zones import Zone

LEFT = Zone.of([[0.05, 0.6], [0.25, 0.6], [0.25, 0.9], [0.05, 0.9]])
LEFT_NEIGHBOUR = Zone.of([[0.27, 0.6], [0.45, 0.6], [0.45, 0.9], [0.27, 0.9]])
FAR_RIGHT = Zone.of([[0.8, 0.1], [0.95, 0.1], [0.95, 0.3], [0.8, 0.3]])
HUGE = Zone.of([[0.0, 0.2], [1.0, 0.2], [1.0, 1.0], [0.0, 1.0]])


def test_zone_region_rises_by_a_person_height_and_stays_in_frame() -> None:
    region = zone_region(LEFT)
    assert region.x1 == pytest.approx(0.01) and region.x2 == pytest.approx(0.29)
    assert region.y1 == pytest.approx(0.25) and region.y2 == pytest.approx(0.94)
    top = zone_region(FAR_RIGHT)
    assert top.y1 == 0.0  # clipped at the frame's top


@pytest.mark.parametrize(
    ("zones", "mode", "expected"),
    [
        ([], "auto", 1),  # no zones: whole frame
        ([LEFT], "frame", 1),
        ([LEFT], "auto", 1),
        ([LEFT, LEFT_NEIGHBOUR], "auto", 1),  # side by side: one shared crop
        ([LEFT, FAR_RIGHT], "zones", 2),  # far apart: two crops
        ([LEFT, FAR_RIGHT], "auto", 1),  # auto will not pay two inferences: whole frame
        ([HUGE], "auto", 1),
    ],
)
def test_plan_counts(zones: list[Zone], mode: str, expected: int) -> None:
    assert len(plan_regions(zones, mode)) == expected


def test_auto_prefers_a_small_crop_and_falls_back_to_the_frame() -> None:
    assert plan_regions([LEFT, LEFT_NEIGHBOUR], "auto") != [FULL_FRAME]
    assert plan_regions([LEFT, FAR_RIGHT], "auto") == [FULL_FRAME]
    assert plan_regions([HUGE], "auto") == [FULL_FRAME]  # covers most of the frame anyway
    assert plan_regions([LEFT, FAR_RIGHT], "zones") == [zone_region(FAR_RIGHT), zone_region(LEFT)]


def test_unknown_mode_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown crop mode"):
        plan_regions([LEFT], "tiles")


def test_merge_is_stable_when_nothing_overlaps() -> None:
    a, b = Region(0, 0, 0.1, 0.1), Region(0.8, 0.8, 0.9, 0.9)
    assert merge_regions([b, a]) == [a, b]
    assert merge_regions([a, Region(0.05, 0.0, 0.15, 0.1)]) == [Region(0, 0, 0.15, 0.1)]


def test_crop_and_back_to_frame_pixels() -> None:
    image = np.zeros((100, 200, 3), dtype=np.uint8)
    region = Region(0.25, 0.5, 0.75, 1.0)
    part = crop(image, region)
    assert part.shape == (50, 100, 3)
    found = Detections(np.array([[10, 5, 30, 45]], np.float32), np.array([0.9], np.float32))
    moved = to_frame(found, region, 200, 100)
    assert moved.boxes.tolist() == [[60.0, 55.0, 80.0, 95.0]]


def test_region_pixels_never_empty() -> None:
    assert Region(0.999, 0.999, 1.0, 1.0).pixels(10, 10) == (9, 9, 10, 10)


def test_combine_merges_duplicates_from_overlapping_crops() -> None:
    a = Detections(np.array([[10, 10, 50, 90]], np.float32), np.array([0.8], np.float32))
    b = Detections(
        np.array([[12, 11, 51, 90], [200, 10, 240, 90]], np.float32),
        np.array([0.9, 0.7], np.float32),
    )
    both = combine([a, b])
    assert len(both) == 2
    assert both.scores.tolist() == pytest.approx([0.9, 0.7])
    assert len(combine([])) == 0 and len(combine([Detections.empty(), a])) == 1


def test_combine_drops_a_part_box_one_crop_cut_from_a_person_another_saw_whole() -> None:
    whole = Detections(np.array([[100, 20, 140, 120]], np.float32), np.array([0.8], np.float32))
    legs = Detections(np.array([[104, 70, 138, 119]], np.float32), np.array([0.5], np.float32))
    assert combine([whole, legs]).boxes.tolist() == [[100, 20, 140, 120]]
    beside = Detections(np.array([[150, 70, 190, 119]], np.float32), np.array([0.5], np.float32))
    assert len(combine([whole, beside])) == 2
