"""Retention: the pure keep/delete decision (table tests) and the sweeper on real files."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from hallwatch.store import Store
from recordings.index import Segment, SegmentIndex
from recordings.retention import (
    DAY_S,
    Interval,
    Reason,
    RetentionPolicy,
    Sweeper,
    decide,
    plan,
)
from tests.support.wait import wait_until

NOW = 1_000 * DAY_S
KEEP_7_30 = RetentionPolicy(continuous_days=7, event_days=30)


def seg(id: int, days_ago: float, size: int = 100, state: str = "closed") -> Segment:
    """A 60 s segment of camera 'cam' that ended `days_ago` days before NOW."""
    end = NOW - days_ago * DAY_S
    return Segment(id, "cam", f"cam/{id}.mp4", 1, end - 60, None if state == "open" else end,
                   None if state == "open" else size, state)  # fmt: skip


def around(days_ago: float) -> Interval:
    """An event of 10 s inside the segment that ended `days_ago` days ago."""
    t = NOW - days_ago * DAY_S - 30
    return (t, t + 10)


CASES = {
    "nothing old enough": (
        [seg(1, 6.9), seg(2, 1)], KEEP_7_30, [], 10**12, 200, []),
    "older than continuous_days go, oldest first": (
        [seg(3, 7.5), seg(1, 9), seg(2, 8), seg(4, 1)], KEEP_7_30, [], 10**12, 400, [1, 2, 3]),
    "exactly continuous_days old stays": (
        [seg(1, 7)], KEEP_7_30, [], 10**12, 100, []),
    "an event within event_days protects": (
        [seg(1, 9), seg(2, 8)], KEEP_7_30, [around(9)], 10**12, 200, [2]),
    "an event beyond event_days does not": (
        [seg(1, 31), seg(2, 29)], KEEP_7_30, [around(31), around(29)], 10**12, 200, [1]),
    "an event elsewhere does not": (
        [seg(1, 9)], KEEP_7_30, [around(20)], 10**12, 100, [1]),
    "an instant event on a boundary protects both segments": (
        [seg(1, 9), seg(2, 9 - 60 / DAY_S), seg(3, 9 - 120 / DAY_S)], KEEP_7_30,
        [(NOW - 9 * DAY_S, NOW - 9 * DAY_S)], 10**12, 300, [3]),
    "an open segment is never deleted": (
        [seg(1, 40, state="open"), seg(2, 39)], KEEP_7_30, [], 10**12, 200, [2]),
    "over quota: the oldest go until under it": (
        [seg(i, 6 - i) for i in range(5)], RetentionPolicy(7, 30, max_bytes=300), [], 10**12,
        500, [0, 1]),
    "at the quota exactly: nothing": (
        [seg(i, 6 - i) for i in range(3)], RetentionPolicy(7, 30, max_bytes=300), [], 10**12,
        300, []),
    "quota: unprotected go before older protected ones": (
        [seg(1, 5), seg(2, 4), seg(3, 3), seg(4, 2)], RetentionPolicy(7, 30, max_bytes=150),
        [around(5)], 10**12, 400, [2, 3, 4]),
    "quota: protected ones go last, oldest first": (
        [seg(1, 5), seg(2, 4), seg(3, 3)], RetentionPolicy(7, 30, max_bytes=50),
        [around(5), around(4)], 10**12, 300, [3, 1, 2]),
    "quota already met by age deletions": (
        [seg(1, 8), seg(2, 3), seg(3, 2)], RetentionPolicy(7, 30, max_bytes=200), [], 10**12,
        300, [1]),
    "quota counts open segments but never deletes them": (
        [seg(1, 3), seg(2, 0, size=0, state="open")], RetentionPolicy(7, 30, max_bytes=100),
        [], 10**12, 500, [1]),
    "low free space: the oldest go until enough is free": (
        [seg(i, 6 - i) for i in range(5)], RetentionPolicy(7, 30, min_free_bytes=250), [], 50,
        500, [0, 1]),
    "free space counts what age deletions free": (
        [seg(1, 8), seg(2, 3)], RetentionPolicy(7, 30, min_free_bytes=150), [], 50, 200, [1]),
    "no quota, no minimum: only age": (
        [seg(1, 3)], RetentionPolicy(7, 30, max_bytes=None, min_free_bytes=0), [], 0, 10**15,
        []),
    "event_days shorter than continuous_days: age rule unchanged": (
        [seg(1, 8), seg(2, 6)], RetentionPolicy(7, 2), [around(8), around(6)], 10**12, 200,
        [1]),
    "pressure that cannot be relieved deletes every closed segment": (
        [seg(1, 3), seg(2, 2), seg(3, 0, state="open")], RetentionPolicy(7, 30, max_bytes=0),
        [around(3)], 10**12, 300, [2, 1]),
    "keep nothing: continuous_days 0": (
        [seg(1, 0.001), seg(2, 0.5)], RetentionPolicy(0, 0), [], 10**12, 200, [2, 1]),
}  # fmt: skip


@pytest.mark.parametrize(
    ("segments", "policy", "protected", "free", "total", "expected"),
    CASES.values(),
    ids=CASES.keys(),
)
def test_decide(
    segments: list[Segment],
    policy: RetentionPolicy,
    protected: list[Interval],
    free: int,
    total: int,
    expected: list[int],
) -> None:
    assert [s.id for s in decide(segments, policy, NOW, protected, free, total)] == expected


def test_plan_gives_reasons_age_first() -> None:
    segments = [seg(1, 8), seg(2, 3), seg(3, 2)]
    policy = RetentionPolicy(7, 30, max_bytes=100, min_free_bytes=1000)
    removals = plan(segments, policy, NOW, [], disk_free_bytes=900, total_bytes=300)
    assert [(r.segment.id, r.reason) for r in removals] == [(1, Reason.AGE), (2, Reason.QUOTA)]
    removals = plan(segments, policy, NOW, [], disk_free_bytes=700, total_bytes=300)
    assert [r.reason for r in removals] == [Reason.AGE, Reason.QUOTA, Reason.FREE_SPACE]


@pytest.mark.parametrize(
    "kwargs",
    [{"continuous_days": -1}, {"event_days": -1}, {"max_bytes": -1}, {"min_free_bytes": -1}],
)
def test_policy_rejects_negative_values(kwargs: dict[str, float]) -> None:
    values: dict[str, float] = {"continuous_days": 7, "event_days": 30, **kwargs}
    with pytest.raises(ValueError, match="negative"):
        RetentionPolicy(**values)  # type: ignore[arg-type]


# --- the sweeper on real files --------------------------------------------------------------


@pytest.fixture
def index(tmp_path: Path) -> Iterator[SegmentIndex]:
    store = Store(tmp_path / "store.db")
    yield SegmentIndex(store, tmp_path / "rec")
    store.close()


def write_segment(index: SegmentIndex, camera: str, start: float, size: int) -> Segment:
    relpath = f"{camera}/2025-10-09/{camera}_{int(start)}.mp4"
    segment_id = index.open(camera, relpath, start, 1, "h264", 640, 360)
    path = index.root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * size)
    return index.close(segment_id, start + 60, size)


def test_sweeper_keeps_a_camera_under_its_quota_on_real_files(
    index: SegmentIndex, caplog: pytest.LogCaptureFixture
) -> None:
    now = NOW
    old = [write_segment(index, "cam", now - 9 * DAY_S + 60 * i, 1000) for i in range(2)]
    event = write_segment(index, "cam", now - 3 * DAY_S, 1000)
    young = [write_segment(index, "cam", now - 3600 + 60 * i, 1000) for i in range(4)]
    other = write_segment(index, "cam2", now - 60, 5000)
    index.path_of(young[0]).unlink()  # already gone: its row still goes
    open_id = index.open("cam", "cam/2025-10-09/current.mp4", now, 1, "h264", 640, 360)
    index.path_of(index.get(open_id)).write_bytes(b"\0" * 500)
    policies = {"cam": RetentionPolicy(7, 30, max_bytes=3000), "cam2": RetentionPolicy(7, 30)}
    sweeper = Sweeper(index, index.root, policies.__getitem__,
                      lambda camera: [(now - 3 * DAY_S, now - 3 * DAY_S + 5)],
                      free_bytes=lambda _: 10**12, clock=lambda: now)  # fmt: skip
    with caplog.at_level(logging.INFO, logger="recordings"):
        removed = sweeper.sweep()
    # after the age rule: 4 young + event + open = 5500 > 3000, so the 3 oldest unprotected go
    # (young ones: the older event-protected segment would go only after all of them)
    assert [r.segment.id for r in removed] == [s.id for s in [*old, young[0], young[1], young[2]]]
    remaining = index.segments()
    assert [s.id for s in remaining] == [event.id, young[3].id, other.id, open_id]
    files = sorted(p.relative_to(index.root).as_posix() for p in index.root.rglob("*.mp4"))
    assert files == sorted(s.path for s in remaining)
    assert "retention: removed 2 segment(s) of camera cam (0.0 MB): older than" in caplog.text
    assert "retention: removed 3 segment(s) of camera cam (0.0 MB): over the camera's quota" in (
        caplog.text
    )


def test_sweeper_thread_runs_periodically_and_survives_errors(
    index: SegmentIndex, caplog: pytest.LogCaptureFixture
) -> None:
    write_segment(index, "cam", NOW - 9 * DAY_S, 10)
    calls: list[str] = []

    def protected(camera: str) -> list[Interval]:
        calls.append(camera)
        if len(calls) == 1:
            raise RuntimeError("events unavailable")  # first pass: nothing is deleted
        return []

    sweeper = Sweeper(index, index.root, lambda _: KEEP_7_30, protected, interval_s=0.05,
                      clock=lambda: NOW)  # fmt: skip
    sweeper.start()
    try:
        wait_until(lambda: not index.segments(), 5, "the old segment swept")
    finally:
        sweeper.stop()
    assert len(calls) >= 2 and sweeper.removed == 1
    assert "sweep of camera cam failed" in caplog.text
    assert not (index.root / "cam").exists()  # emptied directories go too
