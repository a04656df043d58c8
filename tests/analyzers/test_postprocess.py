"""Suppression of part boxes: a shorter, lower-scored box on the same spot as a better box.

The geometries in the tables are real NanoDet-g detections (image pixels) from the clips in
shared/data, named by clip and second; see analyzers/postprocess.py for what was seen.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from analyzers.letterbox import place
from analyzers.postprocess import CONTAINMENT, Containment, finish, nms, parts_of, suppress
from tests.analyzers.test_detector_boxes import iou_matrix

Box = tuple[float, float, float, float]

# (name, better box, lower-scored box, is it a part of the better box)
PAIRS: list[tuple[str, Box, Box, bool]] = [
    # duplicates: a legs / lower-body box of the same walker
    ("pets 19 s: legs of a walker", (88, 100, 102, 139), (90, 118, 102, 140), True),
    ("pets 10.5 s: legs of a walker", (239, 120, 259, 173), (241, 144, 259, 175), True),
    ("caviar 9 s: legs of a shopper", (297, 69, 321, 153), (298, 103, 316, 153), True),
    # real second people
    (
        "pets 10.5 s: the person behind, higher up",
        (239, 120, 259, 173),
        (237, 113, 259, 148),
        False,
    ),
    ("queue 0 s: head behind the young man", (190, 77, 268, 199), (196, 77, 239, 116), False),
    ("queue 8 s: woman behind, feet hidden", (130, 66, 224, 199), (174, 100, 223, 203), False),
    ("queue 14 s: beside, as tall", (16, 81, 107, 239), (11, 85, 62, 233), False),
    ("queue 15 s: beside, both cut by the frame", (103, 9, 454, 333), (101, 70, 246, 333), False),
    ("queue 16 s: head beside the front man", (68, 3, 441, 335), (169, 73, 233, 159), False),
    # made up around the thresholds
    ("centred lower half", (0, 0, 40, 100), (0, 50, 40, 100), True),
    ("centred upper half", (0, 0, 40, 100), (0, 0, 40, 50), False),
    ("lower half, feet 0.15 heights aside", (0, 0, 40, 100), (25, 50, 45, 100), False),
    ("lower 85 %: too tall for a part", (0, 0, 40, 100), (0, 15, 40, 100), False),
    ("legs sticking out below, 2/3 inside", (0, 0, 40, 100), (10, 80, 30, 110), False),
    ("empty part", (0, 0, 40, 100), (20, 100, 20, 100), False),
]


def arr(boxes: list[Box]) -> npt.NDArray[np.float32]:
    return np.array(boxes, dtype=np.float32).reshape(-1, 4)


@pytest.mark.parametrize(("name", "better", "other", "part"), PAIRS, ids=[p[0] for p in PAIRS])
def test_parts_of(name: str, better: Box, other: Box, part: bool) -> None:
    assert parts_of(better, [other]).tolist() == [part]


@pytest.mark.parametrize(("name", "better", "other", "part"), PAIRS, ids=[p[0] for p in PAIRS])
def test_suppress_drops_only_lower_scored_parts(
    name: str, better: Box, other: Box, part: bool
) -> None:
    boxes = arr([other, better])
    lower = np.array([0.32, 0.61], dtype=np.float32)
    no_iou = 1.0  # no IoU exceeds 1: only containment decides
    assert suppress(boxes, lower, no_iou).tolist() == ([1] if part else [1, 0])
    higher = np.array([0.7, 0.61], dtype=np.float32)  # the part scores better: both stay
    assert suppress(boxes, higher, no_iou).tolist() == [0, 1]
    assert suppress(boxes, lower, no_iou, containment=None).tolist() == [1, 0]


def test_parts_of_a_degenerate_box_are_none() -> None:
    assert parts_of((0, 0, 0, 100), [(0, 50, 0, 100)]).tolist() == [False]
    assert parts_of((0, 0, 40, 0), arr([])).tolist() == []


@pytest.mark.parametrize(
    ("containment", "part"),
    [
        (CONTAINMENT, True),
        (Containment(min_inside=0.99), False),  # 95 % inside
        (Containment(max_height_ratio=0.55), False),  # 0.6 of the height
        (Containment(max_feet_distance=0.01), False),  # feet 0.02 heights apart
        (Containment(min_inside=0.9, max_height_ratio=0.65, max_feet_distance=0.05), True),
    ],
)
def test_each_threshold_decides(containment: Containment, part: bool) -> None:
    better, other = (0, 0, 40, 100), (2, 40, 42, 100)  # inside 0.95, height 0.6, feet 0.02
    assert parts_of(better, [other], containment).tolist() == [part]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_inside": 0.0},
        {"min_inside": 1.1},
        {"max_height_ratio": 0.0},
        {"max_height_ratio": 1.0},
        {"max_feet_distance": -0.1},
    ],
)
def test_containment_rejects_meaningless_thresholds(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        Containment(**kwargs)


def test_a_dropped_part_suppresses_nothing() -> None:
    body, legs = (0, 0, 40, 200), (10, 120, 50, 200)  # legs: a part of the body
    beside = (20, 120, 60, 200)  # IoU 0.6 with the legs, 0.17 with the body, half inside it
    scores = np.array([0.9, 0.8, 0.7], np.float32)
    assert suppress(arr([body, legs, beside]), scores, 0.45).tolist() == [0, 2]
    assert nms(arr([body, legs, beside]), scores, 0.45).tolist() == [0, 1]
    shin = (10, 170, 50, 200)  # a part of the legs, and of the body
    assert suppress(arr([body, legs, shin]), scores, 0.45).tolist() == [0]
    assert suppress(arr([legs, shin]), scores[1:], 0.45).tolist() == [0]


def test_finish_drops_parts_in_image_pixels() -> None:
    placement = place(1280, 720, (640, 640), centred=True)  # scale 0.5, 140 rows on top
    boxes = arr([(300, 200, 340, 300), (305, 250, 335, 300), (400, 200, 440, 300)])
    scores = np.array([0.8, 0.4, 0.6], dtype=np.float32)  # box 1: lower half of box 0, IoU 0.375
    found = finish(boxes, scores, placement, iou=0.45)
    np.testing.assert_allclose(found.boxes, [(600, 120, 680, 320), (800, 120, 880, 320)])
    np.testing.assert_allclose(found.scores, [0.8, 0.6])
    assert len(finish(boxes, scores, placement, iou=0.45, containment=None)) == 3


def iou_and_parts(
    boxes: npt.NDArray[np.float32],
) -> tuple[npt.NDArray[np.float64], list[list[bool]]]:
    iou = iou_matrix(boxes)
    parts = [parts_of(box, boxes).tolist() for box in boxes]  # parts[i][j]: j is a part of i
    return iou, parts


@given(
    st.lists(
        st.tuples(st.integers(0, 50), st.integers(0, 50), st.integers(1, 30), st.integers(1, 60)),
        max_size=20,
    ),
    st.floats(0.05, 1.0),
)
def test_suppress_keeps_no_overlaps_and_no_parts(
    rects: list[tuple[int, int, int, int]], iou: float
) -> None:
    boxes = arr([(x, y, x + w, y + h) for x, y, w, h in rects])
    scores = np.linspace(0.1, 0.9, len(rects), dtype=np.float32)  # later boxes score better
    keep = suppress(boxes, scores, iou).tolist()
    assert len(set(keep)) == len(keep)
    assert keep == sorted(keep, key=lambda i: -scores[i])
    overlaps, parts = iou_and_parts(boxes)
    for rank, i in enumerate(keep):
        for j in keep[rank + 1 :]:  # j is kept after the better i
            assert overlaps[i, j] <= iou + 1e-9 and not parts[i][j]
    for j in set(range(len(rects))) - set(keep):  # each dropped box goes for a better kept box
        assert any((overlaps[i, j] > iou or parts[i][j]) for i in keep if scores[i] > scores[j])
    assert set(keep) <= set(range(len(rects)))
    assert (
        suppress(boxes, scores, iou, containment=None).tolist() == nms(boxes, scores, iou).tolist()
    )
