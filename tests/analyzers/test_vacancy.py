"""The vacancy state machine, table-tested: (t, staff, in_service) sequences → transitions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analyzers.episodes import Closed, Opened
from analyzers.vacancy import (
    Transition,
    VacancyClosed,
    VacancyMachine,
    VacancyOpened,
    VacancyRule,
    WindowState,
)

Feed = list[tuple[float, int, bool]]


def run(rule: VacancyRule, feed: Feed) -> list[Transition]:
    machine = VacancyMachine(rule)
    out: list[Transition] = []
    for t, staff, serving in feed:
        out.extend(machine.feed(t, staff, serving))
    return out


def seconds(start: int, end: int, staff: int, serving: bool = True) -> Feed:
    return [(float(t), staff, serving) for t in range(start, end)]


RULE = VacancyRule(staff_on_duty=1, absence_delay_s=3, return_delay_s=2)

TABLE = [
    ("always staffed: nothing", RULE, seconds(0, 20, 1), []),
    ("short absence below the delay: nothing", RULE,
     seconds(0, 5, 1) + seconds(5, 7, 0) + seconds(7, 20, 1), []),
    ("absence opens at delay, start is the first empty sample", RULE,
     seconds(0, 5, 1) + seconds(5, 12, 0), [VacancyOpened(5.0, 8.0)]),
    ("return closes after the return delay, end is the first staffed sample", RULE,
     seconds(0, 5, 1) + seconds(5, 12, 0) + seconds(12, 20, 1),
     [VacancyOpened(5.0, 8.0), VacancyClosed(5.0, 12.0, 14.0)]),
    ("a brief return shorter than the return delay does not split the event", RULE,
     [*seconds(0, 10, 0), (10.0, 1, True), *seconds(11, 14, 0), *seconds(14, 20, 1)],
     [VacancyOpened(0.0, 3.0), VacancyClosed(0.0, 14.0, 16.0)]),
    ("two staff on duty: one is not enough", VacancyRule(2, 3, 2),
     seconds(0, 5, 2) + seconds(5, 10, 1), [VacancyOpened(5.0, 8.0)]),
    ("zero delays: open and close on the first sample", VacancyRule(1, 0, 0),
     seconds(0, 2, 1) + seconds(2, 4, 0) + seconds(4, 5, 1),
     [VacancyOpened(2.0, 2.0), VacancyClosed(2.0, 4.0, 4.0)]),
    ("outside service hours no event", RULE, seconds(0, 30, 0, serving=False), []),
    ("service ends (lunch) while vacant: closed at the first off-duty sample", RULE,
     seconds(0, 10, 0) + seconds(10, 15, 0, serving=False),
     [VacancyOpened(0.0, 3.0), VacancyClosed(0.0, 10.0, 10.0)]),
    ("service starts with nobody there: counted from the first in-service sample", RULE,
     seconds(0, 10, 0, serving=False) + seconds(10, 15, 0),
     [VacancyOpened(10.0, 13.0)]),
    ("absence straddling lunch start never reaches the delay", RULE,
     seconds(0, 5, 1) + seconds(5, 7, 0) + seconds(7, 12, 0, serving=False)
     + seconds(12, 14, 1), []),
    ("irregular sampling: delay measured in time, not samples", RULE,
     [(0.0, 1, True), (1.0, 0, True), (1.5, 0, True), (4.5, 0, True), (5.0, 1, True),
      (8.0, 1, True)],
     [VacancyOpened(1.0, 4.5), VacancyClosed(1.0, 5.0, 8.0)]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("rule", "feed", "expected"), [c[1:] for c in TABLE], ids=[c[0] for c in TABLE]
)
def test_vacancy_table(rule: VacancyRule, feed: Feed, expected: list[Transition]) -> None:
    assert run(rule, feed) == expected


def test_state_and_open_since() -> None:
    machine = VacancyMachine(RULE)
    machine.feed(0.0, 0, False)
    assert machine.state is WindowState.OFF_DUTY
    machine.feed(1.0, 1, True)
    assert machine.state is WindowState.STAFFED and machine.open_since is None
    for t in (2.0, 3.0, 4.0, 5.0):
        machine.feed(t, 0, True)
    assert machine.state is WindowState.VACANT
    assert machine.open_since == 2.0


def test_transitions_are_the_shared_episode_values() -> None:
    """The runtime matches vacancy changes and other episodes with the same isinstance checks."""
    assert VacancyOpened is Opened and VacancyClosed is Closed


samples = st.lists(
    st.tuples(
        st.floats(min_value=0.0, max_value=5.0, allow_nan=False),
        st.integers(min_value=0, max_value=3),
        st.booleans(),
    ),
    max_size=60,
)


@given(samples, st.integers(min_value=1, max_value=2))
def test_transitions_alternate_and_close_what_opened(
    steps: list[tuple[float, int, bool]], on_duty: int
) -> None:
    machine = VacancyMachine(VacancyRule(on_duty, absence_delay_s=2.0, return_delay_s=1.0))
    t = 0.0
    opened: VacancyOpened | None = None
    for dt, staff, in_service in steps:
        t += dt
        for change in machine.feed(t, staff, in_service):
            if isinstance(change, VacancyOpened):
                assert opened is None and change.detected_at - change.start >= 2.0
                opened = change
            else:
                assert opened is not None and change.start == opened.start
                assert opened.start <= change.end <= change.detected_at
                opened = None
        assert machine.open_since == (None if opened is None else opened.start)
        assert (machine.state is WindowState.VACANT) == (opened is not None)
