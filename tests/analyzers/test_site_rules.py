"""Tender-site zone rules: daily ranges (midnight wrap), intrusion and overcrowding episodes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from analyzers.episodes import Closed, EpisodeChange, Opened
from analyzers.site_rules import (
    SiteRule,
    SiteZoneAnalyzer,
    TimeRange,
    ZoneRuleSpec,
    ZoneUpdate,
    in_daily_ranges,
    intruding,
    overcrowded,
    persons_in,
)
from analyzers.zones import Zone


def clock(text: str) -> dt.time:
    return dt.time.fromisoformat(text)


NIGHT = (clock("22:00"), clock("07:00"))
LUNCH = (clock("12:00"), clock("13:30"))

RANGES = [
    # (name, local, ranges, expected)
    ("no ranges: never restricted", "23:00", [], False),
    ("same-day range, inside", "12:30", [LUNCH], True),
    ("same-day range, start is inside", "12:00", [LUNCH], True),
    ("same-day range, end is outside", "13:30", [LUNCH], False),
    ("same-day range, before", "11:59:59", [LUNCH], False),
    ("wrap: late evening", "23:30", [NIGHT], True),
    ("wrap: start is inside", "22:00", [NIGHT], True),
    ("wrap: just before start", "21:59:59", [NIGHT], False),
    ("wrap: midnight", "00:00", [NIGHT], True),
    ("wrap: early morning", "06:59:59", [NIGHT], True),
    ("wrap: end is outside", "07:00", [NIGHT], False),
    ("wrap: midday", "12:00", [NIGHT], False),
    ("start == end: all day", "03:17", [(clock("08:00"), clock("08:00"))], True),
    ("start == end: all day, at the boundary", "08:00", [(clock("08:00"), clock("08:00"))], True),
    ("several ranges: in the second", "12:15", [NIGHT, LUNCH], True),
    ("several ranges: in none", "09:00", [NIGHT, LUNCH], False),
    ("a time zone on local is ignored (wall clock)", "23:00+08:00", [NIGHT], True),
]  # fmt: skip


@pytest.mark.parametrize(
    ("local", "ranges", "expected"), [c[1:] for c in RANGES], ids=[c[0] for c in RANGES]
)
def test_in_daily_ranges(local: str, ranges: list[TimeRange], expected: bool) -> None:
    assert in_daily_ranges(clock(local), ranges) is expected


@given(st.times(), st.times(), st.times())
def test_a_wrapping_range_is_the_complement_of_its_reverse(
    local: dt.time, start: dt.time, end: dt.time
) -> None:
    """[start, end) and [end, start) split the day, whichever of them crosses midnight."""
    if start != end:
        assert in_daily_ranges(local, [(start, end)]) != in_daily_ranges(local, [(end, start)])


@pytest.mark.parametrize(
    ("persons", "restricted", "expected"),
    [(0, True, False), (1, True, True), (3, True, True), (0, False, False), (2, False, False)],
)
def test_intruding(persons: int, restricted: bool, expected: bool) -> None:
    assert intruding(persons, restricted) is expected


@pytest.mark.parametrize(
    ("persons", "limit", "expected"),
    [(5, None, False), (0, 0, False), (1, 0, True), (4, 4, False), (5, 4, True)],
)
def test_overcrowded(persons: int, limit: int | None, expected: bool) -> None:
    assert overcrowded(persons, limit) is expected


ROOM = Zone.of([(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)])  # left half of the frame


def feet(inside: int, outside: int = 0) -> npt.NDArray[np.float64]:
    """`inside` people standing in ROOM, `outside` people standing right of it."""
    points = [(0.25, 0.8)] * inside + [(0.75, 0.8)] * outside
    return np.asarray(points, dtype=np.float64).reshape(-1, 2)


def test_persons_in_counts_feet_in_the_zone_only() -> None:
    assert persons_in(ROOM, feet(0)) == 0
    assert persons_in(ROOM, feet(2, 3)) == 2
    assert persons_in(ROOM, np.zeros((0, 2), dtype=np.float32)) == 0


SPEC = ZoneRuleSpec(
    "R1", ROOM, (NIGHT,), max_persons=3, intrusion_delay_s=5, overcrowd_delay_s=30, clear_delay_s=10
)

Sample = tuple[float, int, bool]  # (t, people in the zone, restricted)


def run(spec: ZoneRuleSpec, samples: list[Sample]) -> list[EpisodeChange]:
    analyzer = SiteZoneAnalyzer(spec)
    changes: list[EpisodeChange] = []
    for t, inside, restricted in samples:
        update = analyzer.update(t, feet(inside, outside=2), restricted)
        assert update.persons == inside
        changes.extend(update.changes)
    return changes


def seconds(start: int, end: int, inside: int, restricted: bool = True) -> list[Sample]:
    return [(float(t), inside, restricted) for t in range(start, end)]


def intrusion(change: Opened | Closed, persons: int) -> EpisodeChange:
    return EpisodeChange(
        "intrusion", "R1/intrusion", change, None, {"zone": "R1", "persons": persons}
    )


def crowd(change: Opened | Closed, persons: int, limit: int = 3) -> EpisodeChange:
    details = {"zone": "R1", "max_persons": limit, "persons": persons}
    return EpisodeChange("overcrowded", "R1/overcrowded", change, None, details)


TABLE = [
    ("nobody in the room at night: nothing", SPEC, seconds(0, 60, 0), []),
    ("people in the room outside restricted hours: nothing", SPEC,
     seconds(0, 60, 2, restricted=False), []),
    ("intrusion just below the delay: nothing", SPEC,
     seconds(0, 10, 0) + seconds(10, 15, 1) + seconds(15, 60, 0), []),
    ("intrusion reaching the delay opens; start is the first sample with someone", SPEC,
     seconds(0, 10, 0) + seconds(10, 16, 1),
     [intrusion(Opened(10.0, 15.0), 1)]),
    ("intrusion closes after the clear delay; end is the first empty sample", SPEC,
     seconds(10, 20, 1) + seconds(20, 40, 0),
     [intrusion(Opened(10.0, 15.0), 1), intrusion(Closed(10.0, 20.0, 30.0), 1)]),
    ("a brief empty spell shorter than the clear delay does not split the intrusion", SPEC,
     seconds(10, 20, 1) + seconds(20, 29, 0) + seconds(29, 31, 2) + seconds(31, 50, 0),
     [intrusion(Opened(10.0, 15.0), 1), intrusion(Closed(10.0, 31.0, 41.0), 2)]),
    ("leaving restricted hours ends an open intrusion at that sample", SPEC,
     seconds(0, 10, 1) + seconds(10, 20, 1, restricted=False),
     [intrusion(Opened(0.0, 5.0), 1), intrusion(Closed(0.0, 10.0, 10.0), 1)]),
    ("a pending intrusion across the end of restricted hours never opens", SPEC,
     seconds(0, 3, 1) + seconds(3, 6, 1, restricted=False) + seconds(6, 8, 1), []),
    ("restricted hours start with someone in the room: counted from then", SPEC,
     seconds(0, 10, 1, restricted=False) + seconds(10, 16, 1),
     [intrusion(Opened(10.0, 15.0), 1)]),
    ("overcrowding just below the delay: nothing", SPEC,
     seconds(0, 30, 4, restricted=False) + seconds(30, 60, 3, restricted=False), []),
    ("overcrowding reaching the delay opens, with the peak count", SPEC,
     seconds(0, 10, 4, restricted=False) + seconds(10, 20, 6, restricted=False)
     + seconds(20, 31, 5, restricted=False),
     [crowd(Opened(0.0, 30.0), 6)]),
    ("exactly max_persons is not overcrowded", SPEC, seconds(0, 60, 3, restricted=False), []),
    ("overcrowding closes after the clear delay; restricted hours do not matter", SPEC,
     seconds(0, 31, 4, restricted=False) + seconds(31, 35, 4) + seconds(35, 46, 3, restricted=False),
     [crowd(Opened(0.0, 30.0), 4), crowd(Closed(0.0, 35.0, 45.0), 4)]),
    ("no crowd limit: never overcrowded", ZoneRuleSpec("R1", ROOM, (), None),
     seconds(0, 100, 20, restricted=False), []),
    ("a crowd at night is both an intrusion and overcrowded", SPEC,
     seconds(0, 31, 4) + seconds(31, 42, 0),
     [intrusion(Opened(0.0, 5.0), 4), crowd(Opened(0.0, 30.0), 4),
      intrusion(Closed(0.0, 31.0, 41.0), 4), crowd(Closed(0.0, 31.0, 41.0), 4)]),
    ("zero delays: open and close on the first sample", ZoneRuleSpec("R1", ROOM, (NIGHT,), 3, 0, 0, 0),
     seconds(0, 2, 0) + seconds(2, 4, 1) + seconds(4, 5, 0),
     [intrusion(Opened(2.0, 2.0), 1), intrusion(Closed(2.0, 4.0, 4.0), 1)]),
    ("irregular sampling: delays measured in time, not samples", SPEC,
     [(0.0, 0, True), (1.0, 1, True), (1.5, 1, True), (6.5, 1, True), (7.0, 0, True),
      (17.0, 0, True)],
     [intrusion(Opened(1.0, 6.5), 1), intrusion(Closed(1.0, 7.0, 17.0), 1)]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("spec", "samples", "expected"), [c[1:] for c in TABLE], ids=[c[0] for c in TABLE]
)
def test_site_zone_table(
    spec: ZoneRuleSpec, samples: list[Sample], expected: list[EpisodeChange]
) -> None:
    assert run(spec, samples) == expected


def test_update_reports_open_kinds_and_end_closes_them() -> None:
    analyzer = SiteZoneAnalyzer(SPEC)
    update = ZoneUpdate("R1", 0, ())
    for t in range(0, 31):
        update = analyzer.update(float(t), feet(5), restricted=True)
    assert update.open_kinds == (SiteRule.INTRUSION, SiteRule.OVERCROWDED)
    ended = analyzer.end(40.0)
    assert ended.open_kinds == ()
    assert [change.change for change in ended.changes] == [
        Closed(0.0, 40.0, 40.0),
        Closed(0.0, 40.0, 40.0),
    ]
    assert analyzer.end(41.0).changes == ()


@pytest.mark.parametrize(
    "kwargs",
    [{"max_persons": -1}, {"intrusion_delay_s": -1.0}, {"clear_delay_s": -0.5}],
)
def test_spec_rejects_negative_limits(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="zone R1"):
        ZoneRuleSpec("R1", ROOM, **kwargs)


def test_spec_restricted_at_uses_its_hours() -> None:
    assert SPEC.restricted_at(clock("23:00")) and not SPEC.restricted_at(clock("10:00"))


samples = st.lists(
    st.tuples(
        st.floats(min_value=0.0, max_value=8.0, allow_nan=False),
        st.integers(min_value=0, max_value=5),
        st.integers(min_value=0, max_value=2),
        st.booleans(),
    ),
    max_size=80,
)


@given(samples, st.booleans())
def test_every_close_matches_an_earlier_open_of_its_key(
    steps: list[tuple[float, int, int, bool]], end_at_last: bool
) -> None:
    analyzer = SiteZoneAnalyzer(ZoneRuleSpec("R1", ROOM, (NIGHT,), 2, 3.0, 6.0, 4.0))
    opened: dict[str, Opened] = {}
    t = 0.0
    updates: list[ZoneUpdate] = []
    for dt_s, inside, outside, restricted in steps:
        t += dt_s
        updates.append(analyzer.update(t, feet(inside, outside), restricted))
    if end_at_last:
        updates.append(analyzer.end(t))
    for update in updates:
        for change in update.changes:
            assert change.key == f"R1/{change.kind}"
            if isinstance(change.change, Opened):
                assert change.key not in opened
                opened[change.key] = change.change
            else:
                start = opened.pop(change.key)
                assert change.change.start == start.start
                assert start.start <= change.change.end <= change.change.detected_at
        assert sorted(update.open_kinds) == sorted(SiteRule(k.split("/")[1]) for k in opened)
    if end_at_last:
        assert opened == {}
