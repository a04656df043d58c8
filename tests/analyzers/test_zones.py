"""Zones: point-in-polygon in relative coordinates, and polygon parsing."""

from __future__ import annotations

import numpy as np
import pytest

from analyzers.zones import Zone, parse_polygon, relative_points

SQUARE = Zone.of([(0.2, 0.2), (0.6, 0.2), (0.6, 0.6), (0.2, 0.6)])
TRIANGLE = Zone.of([(0.0, 1.0), (0.5, 0.0), (1.0, 1.0)])
CONCAVE = Zone.of([(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.5, 0.4), (0.0, 1.0)])  # a notch


@pytest.mark.parametrize(
    ("zone", "point", "inside"),
    [
        (SQUARE, (0.4, 0.4), True),
        (SQUARE, (0.1, 0.4), False),
        (SQUARE, (0.2, 0.4), True),  # on an edge counts as inside
        (SQUARE, (0.6, 0.6), True),  # on a corner
        (SQUARE, (0.61, 0.4), False),
        (TRIANGLE, (0.5, 0.5), True),
        (TRIANGLE, (0.1, 0.2), False),
        (CONCAVE, (0.5, 0.2), True),
        (CONCAVE, (0.5, 0.8), False),  # inside the notch
        (CONCAVE, (0.1, 0.8), True),
    ],
)
def test_contains(zone: Zone, point: tuple[float, float], inside: bool) -> None:
    assert zone.contains(np.array([point])).tolist() == [inside]


def test_contains_many_and_none() -> None:
    points = np.array([(0.4, 0.4), (0.9, 0.9), (0.3, 0.3)])
    assert SQUARE.contains(points).tolist() == [True, False, True]
    assert SQUARE.contains(np.zeros((0, 2))).tolist() == []


def test_pixels_and_relative_points() -> None:
    assert SQUARE.pixels(100, 50).tolist() == [[20, 10], [60, 10], [60, 30], [20, 30]]
    assert relative_points(np.array([[50.0, 25.0]]), 100, 50).tolist() == [[0.5, 0.5]]


def test_parse_polygon() -> None:
    assert parse_polygon("0.1,0.5 0.4,0.5  0.4,0.9") == [(0.1, 0.5), (0.4, 0.5), (0.4, 0.9)]
    with pytest.raises(ValueError, match="not an x,y point"):
        parse_polygon("0.1,0.5 0.4")
    with pytest.raises(ValueError, match="numbers"):
        parse_polygon("a,b 0.1,0.2 0.3,0.3")
