"""Report statistics: per-minute rows survive a restart mid-minute by merging, never overwriting."""

from __future__ import annotations

from pathlib import Path

import pytest

from hallwatch.statistics import QueueMinute, QueueWait, Statistics, WindowMinute, merge_seconds
from hallwatch.store import Store


@pytest.fixture
def stats(tmp_path: Path) -> Statistics:
    return Statistics(Store(tmp_path / "store.db"))


@pytest.mark.parametrize(
    ("a", "b", "merged"),
    [
        ({}, {}, {}),
        ({"staffed": 20.0}, {"staffed": 10.0, "vacant": 30.0}, {"staffed": 30.0, "vacant": 30.0}),
    ],
)
def test_merge_seconds(a: dict[str, float], b: dict[str, float], merged: dict[str, float]) -> None:
    assert merge_seconds(a, b) == merged


def test_window_minute_state_is_the_longest_held() -> None:
    assert WindowMinute("W01", 0, {"vacant": 35.0, "staffed": 25.0}).state == "vacant"
    assert WindowMinute("W01", 0, {"vacant": 30.0, "staffed": 30.0}).state == "staffed"


def test_window_minutes_merge_across_a_restart(stats: Statistics) -> None:
    stats.add_window_minutes([WindowMinute("W01", 60.0, {"staffed": 20.0})])
    stats.add_window_minutes(
        [WindowMinute("W01", 60.0, {"vacant": 30.0}), WindowMinute("W01", 120.0, {"serving": 60.0})]
    )
    rows = stats.window_minutes("W01", 0, 1000)
    assert [(r.minute, r.seconds, r.state) for r in rows] == [
        (60.0, {"staffed": 20.0, "vacant": 30.0}, "vacant"),
        (120.0, {"serving": 60.0}, "serving"),
    ]
    assert stats.window_minutes("W02", 0, 1000) == []


def test_queue_minutes_merge_weighted_by_coverage(stats: Statistics) -> None:
    stats.add_queue_minutes([QueueMinute("Q1", 0.0, 2.0, 3.0, 20.0)])
    stats.add_queue_minutes([QueueMinute("Q1", 0.0, 5.0, 6.0, 40.0)])
    (row,) = stats.queue_minutes("Q1", 0, 60)
    assert row.mean == pytest.approx(4.0) and row.maximum == 6.0 and row.covered_s == 60.0


def test_waits_are_kept(stats: Statistics) -> None:
    waits = [QueueWait("Q1", 7, 100.0, 400.0, 300.0), QueueWait("Q1", 8, 50.0, 80.0, 30.0)]
    stats.add_waits(waits)
    assert stats.waits("Q1", 0, 1000) == sorted(waits, key=lambda w: w.entered)
    assert stats.waits("Q1", 60, 1000) == [waits[0]]
