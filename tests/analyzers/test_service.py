"""A window's service state per sample (table) and per clock minute (sample sequences)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analyzers.minutes import MinuteTally
from analyzers.service import (
    ServiceMinutes,
    ServiceState,
    WindowMinute,
    service_state,
    window_minute,
)

OFF, VACANT, STAFFED, SERVING = (
    ServiceState.OFF_DUTY,
    ServiceState.VACANT,
    ServiceState.STAFFED,
    ServiceState.SERVING,
)

STATES = [
    # (name, in_service, staff, staff_on_duty, customers, expected)
    ("off duty, nobody", False, 0, 1, 0, OFF),
    ("off duty, staff and customer still there", False, 1, 1, 1, OFF),
    ("in service, nobody", True, 0, 1, 0, VACANT),
    ("in service, customer waits at an empty counter", True, 0, 1, 2, VACANT),
    ("one of two staff missing, customer served by the other", True, 1, 2, 1, VACANT),
    ("staff, nobody at the counter", True, 1, 1, 0, STAFFED),
    ("more staff than on duty, nobody at the counter", True, 3, 2, 0, STAFFED),
    ("staff and one customer", True, 1, 1, 1, SERVING),
    ("staff and a family at the counter", True, 2, 2, 3, SERVING),
]  # fmt: skip


@pytest.mark.parametrize(
    ("in_service", "staff", "on_duty", "customers", "expected"),
    [c[1:] for c in STATES],
    ids=[c[0] for c in STATES],
)
def test_service_state(
    in_service: bool, staff: int, on_duty: int, customers: int, expected: ServiceState
) -> None:
    assert service_state(in_service, staff, on_duty, customers) is expected


Samples = list[tuple[float, ServiceState]]


def run(samples: Samples, flush_at: float | None = None) -> list[WindowMinute]:
    minutes = ServiceMinutes("W01", max_hold_s=10.0)
    out: list[WindowMinute] = []
    for t, state in samples:
        out.extend(minutes.feed(t, state))
    if flush_at is not None:
        out.extend(minutes.flush(flush_at))
    return out


def every(start: int, end: int, step: int, state: ServiceState) -> Samples:
    return [(float(t), state) for t in range(start, end, step)]


MINUTES = [
    ("one minute staffed throughout, reported when the next minute starts",
     every(0, 61, 5, STAFFED), None,
     [WindowMinute("W01", 0.0, STAFFED, {STAFFED: 60.0})]),
    ("an open minute is not reported before a flush",
     every(0, 60, 5, STAFFED), None, []),
    ("flush reports the open minute up to the flush time",
     every(0, 30, 5, STAFFED), 30.0,
     [WindowMinute("W01", 0.0, STAFFED, {STAFFED: 30.0})]),
    ("serving most of the minute: serving dominates, seconds per state kept",
     every(0, 20, 5, STAFFED) + every(20, 61, 5, SERVING), None,
     [WindowMinute("W01", 0.0, SERVING, {SERVING: 40.0, STAFFED: 20.0})]),
    ("a short vacancy inside a staffed minute",
     every(0, 10, 5, STAFFED) + every(10, 25, 5, VACANT) + every(25, 61, 5, STAFFED), None,
     [WindowMinute("W01", 0.0, STAFFED, {STAFFED: 45.0, VACANT: 15.0})]),
    ("a tie goes to the first state in name order",
     every(0, 30, 5, VACANT) + every(30, 61, 5, SERVING), None,
     [WindowMinute("W01", 0.0, SERVING, {SERVING: 30.0, VACANT: 30.0})]),
    ("a sample straddling a minute boundary is split between the minutes",
     [(55.0, STAFFED), *every(65, 121, 5, VACANT)], None,
     [WindowMinute("W01", 0.0, STAFFED, {STAFFED: 5.0}),
      WindowMinute("W01", 60.0, VACANT, {STAFFED: 5.0, VACANT: 55.0})]),
    ("a camera gap longer than max_hold leaves the minute uncovered",
     [(0.0, STAFFED), (200.0, STAFFED), (241.0, STAFFED)], None,
     [WindowMinute("W01", 0.0, STAFFED, {STAFFED: 10.0}),
      WindowMinute("W01", 180.0, STAFFED, {STAFFED: 10.0})]),
    ("off-duty time is tallied like any other state",
     every(0, 61, 10, OFF), None,
     [WindowMinute("W01", 0.0, OFF, {OFF: 60.0})]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("samples", "flush_at", "expected"), [c[1:] for c in MINUTES], ids=[c[0] for c in MINUTES]
)
def test_service_minutes(
    samples: Samples, flush_at: float | None, expected: list[WindowMinute]
) -> None:
    assert run(samples, flush_at) == expected


def test_window_minute_of_an_empty_tally_is_none() -> None:
    assert window_minute("W01", MinuteTally(0.0, {})) is None


def test_window_minute_record() -> None:
    record = window_minute("W02", MinuteTally(120.0, {"vacant": 12.0, "serving": 48.0}))
    assert record == WindowMinute("W02", 120.0, SERVING, {SERVING: 48.0, VACANT: 12.0})
    assert record.covered_s == 60.0


@given(
    st.lists(
        st.tuples(st.floats(0.5, 30.0, allow_nan=False), st.sampled_from(list(ServiceState))),
        max_size=80,
    )
)
def test_minutes_cover_at_most_a_minute_and_come_in_order(
    steps: list[tuple[float, ServiceState]],
) -> None:
    minutes = ServiceMinutes("W01", max_hold_s=10.0)
    t, out = 0.0, []
    for dt, state in steps:
        t += dt
        out.extend(minutes.feed(t, state))
    out.extend(minutes.flush(t + 5.0))
    starts = [record.minute for record in out]
    assert starts == sorted(set(starts))
    for record in out:
        assert 0.0 < record.covered_s <= 60.0 + 1e-9
        assert record.seconds[record.state] == max(record.seconds.values())
