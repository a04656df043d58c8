"""The queue analyzer: table tests for confirmation, waits, build-up and long waits; properties."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzers.episodes import Closed, EpisodeChange, Opened, Transition
from analyzers.queue import QueueAnalyzer, QueueRule, QueueUpdate, Wait, Waiting, present_ids
from analyzers.zones import Zone

ZONE = Zone.of([(0.0, 0.5), (0.5, 0.5), (0.5, 1.0), (0.0, 1.0)])  # the lower left quarter
IN = (0.25, 0.75)
OUT = (0.75, 0.25)

Point = tuple[float, float]
Sample = tuple[float, dict[int, Point], bool]  # t, feet of each track id, in service


def seconds(start: int, stop: int, where: dict[int, Point], serving: bool = True) -> list[Sample]:
    """One sample per second in [start, stop) with the same people at the same places."""
    return [(float(t), dict(where), serving) for t in range(start, stop)]


def feed(analyzer: QueueAnalyzer, sample: Sample) -> QueueUpdate:
    t, where, serving = sample
    ids = np.array(list(where), dtype=np.int64)
    feet = np.array(list(where.values()), dtype=np.float64).reshape(-1, 2)
    return analyzer.update(t, ids, feet, serving)


def run(rule: QueueRule, samples: list[Sample], flush_at: float | None = None) -> list[QueueUpdate]:
    analyzer = QueueAnalyzer("Q1", ZONE, rule, window="W01")
    updates = [feed(analyzer, sample) for sample in samples]
    if flush_at is not None:
        updates.append(analyzer.flush(flush_at))
    return updates


def waits(updates: list[QueueUpdate]) -> list[tuple[int, float, float]]:
    return [(w.track_id, w.entered, w.left) for u in updates for w in u.finished]


def changes(updates: list[QueueUpdate]) -> list[tuple[str, str, Transition]]:
    return [(c.kind, c.key, c.change) for u in updates for c in u.changes]


# -- confirmation and length --------------------------------------------------------------------

CONFIRM = QueueRule(max_length=10, confirm_s=3, exit_grace_s=5)

LENGTHS = [
    ("in the zone just below confirm_s: not queuing", seconds(0, 3, {1: IN}), [0, 0, 0]),
    ("in the zone for confirm_s: queuing from that sample", seconds(0, 5, {1: IN}),
     [0, 0, 0, 1, 1]),
    ("outside the zone never queues", seconds(0, 6, {1: OUT}), [0] * 6),
    ("a dropout shorter than the grace keeps counting from the entry",
     [*seconds(0, 2, {1: IN}), *seconds(2, 5, {}), *seconds(5, 7, {1: IN})],
     [0, 0, 0, 0, 0, 1, 1]),
    ("confirmed but unseen in this sample: not in the length",
     [*seconds(0, 4, {1: IN}), (4.0, {}, True), (5.0, {1: IN}, True)], [0, 0, 0, 1, 0, 1]),
    ("two people, one queuing for longer", [*seconds(0, 2, {1: IN}), *seconds(2, 6, {1: IN, 2: IN})],
     [0, 0, 0, 1, 1, 2]),
    ("out of service: nobody is counted", seconds(0, 6, {1: IN}, serving=False), [0] * 6),
]  # fmt: skip


@pytest.mark.parametrize(
    ("samples", "expected"), [c[1:] for c in LENGTHS], ids=[c[0] for c in LENGTHS]
)
def test_queue_length(samples: list[Sample], expected: list[int]) -> None:
    assert [u.length for u in run(CONFIRM, samples)] == expected


def test_confirm_s_zero_counts_from_the_first_sample() -> None:
    updates = run(QueueRule(confirm_s=0), seconds(0, 2, {1: IN, 2: OUT}))
    assert [u.length for u in updates] == [1, 1]


# -- waits --------------------------------------------------------------------------------------

WAIT = QueueRule(max_length=10, confirm_s=3, exit_grace_s=5)

WAITS = [
    ("never queuing: no wait", [*seconds(0, 3, {1: IN}), *seconds(3, 12, {})], None, []),
    ("queued then left: entry to last sample in the zone",
     [*seconds(0, 4, {1: IN}), *seconds(4, 12, {})], None, [(1, 0.0, 3.0)]),
    ("a dropout shorter than the grace keeps one wait",
     [*seconds(0, 4, {1: IN}), *seconds(4, 7, {}), *seconds(7, 10, {1: IN}),
      *seconds(10, 20, {})], None, [(1, 0.0, 9.0)]),
    ("a dropout of exactly the grace keeps one wait",
     [*seconds(0, 4, {1: IN}), *seconds(4, 8, {}), *seconds(8, 10, {1: IN}),
      *seconds(10, 20, {})], None, [(1, 0.0, 9.0)]),
    ("a dropout longer than the grace splits the wait in two",
     [*seconds(0, 4, {1: IN}), *seconds(4, 9, {}), *seconds(9, 13, {1: IN}),
      *seconds(13, 20, {})], None, [(1, 0.0, 3.0), (1, 9.0, 12.0)]),
    ("a sample gap longer than the grace also splits the wait",
     [*seconds(0, 4, {1: IN}), *seconds(10, 14, {1: IN}), *seconds(14, 20, {})], None,
     [(1, 0.0, 3.0), (1, 10.0, 13.0)]),
    ("stepping out of the zone briefly keeps one wait",
     [*seconds(0, 4, {1: IN}), *seconds(4, 7, {1: OUT}), *seconds(7, 9, {1: IN}),
      *seconds(9, 20, {1: OUT})], None, [(1, 0.0, 8.0)]),
    ("leaving service ends the wait at the last sample in the zone",
     [*seconds(0, 6, {1: IN}), (6.0, {1: IN}, False)], None, [(1, 0.0, 5.0)]),
    ("flush ends running waits", seconds(0, 6, {1: IN, 2: IN}), 6.0,
     [(1, 0.0, 5.0), (2, 0.0, 5.0)]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("samples", "flush_at", "expected"), [c[1:] for c in WAITS], ids=[c[0] for c in WAITS]
)
def test_waits(
    samples: list[Sample], flush_at: float | None, expected: list[tuple[int, float, float]]
) -> None:
    assert waits(run(WAIT, samples, flush_at)) == expected


def test_a_wait_is_final_only_after_the_grace() -> None:
    updates = run(WAIT, [*seconds(0, 4, {1: IN}), *seconds(4, 10, {})])
    finished_at = [t for t, u in zip(range(10), updates, strict=True) if u.finished]
    assert finished_at == [9]  # last in the zone at 3, gone for more than 5 s at 9
    assert updates[9].finished == (Wait(1, "Q1", 0.0, 3.0),)
    assert updates[9].finished[0].wait_s == 3.0


def test_running_waits_are_listed_earliest_first() -> None:
    updates = run(WAIT, [*seconds(0, 2, {5: IN}), *seconds(2, 6, {5: IN, 3: IN, 4: OUT})])
    assert updates[-1].waiting == (Waiting(5, 0.0), Waiting(3, 2.0))
    assert run(WAIT, seconds(0, 2, {1: IN}))[-1].waiting == ()  # not yet queuing


# -- episodes -----------------------------------------------------------------------------------

BUILD = QueueRule(max_length=2, min_duration_s=5, max_wait_s=1000, confirm_s=0, exit_grace_s=2,
                  clear_delay_s=3)  # fmt: skip
LONG = QueueRule(max_length=10, max_wait_s=5, confirm_s=1, exit_grace_s=2)
TWO = {1: IN, 2: IN}

EPISODES = [
    ("length at max_length one sample short of min_duration_s: nothing", BUILD,
     [*seconds(0, 5, TWO), *seconds(5, 12, {1: IN})], None, []),
    ("length at max_length for min_duration_s: build-up opens", BUILD,
     seconds(0, 6, TWO), None, [("queue_buildup", "Q1", Opened(0.0, 5.0))]),
    ("shorter for clear_delay_s: build-up closes at the first shorter sample", BUILD,
     [*seconds(0, 8, TWO), *seconds(8, 12, {1: IN})], None,
     [("queue_buildup", "Q1", Opened(0.0, 5.0)), ("queue_buildup", "Q1", Closed(0.0, 8.0, 11.0))]),
    ("shorter for less than clear_delay_s: one build-up", BUILD,
     [*seconds(0, 8, TWO), *seconds(8, 10, {1: IN}), *seconds(10, 12, TWO)], None,
     [("queue_buildup", "Q1", Opened(0.0, 5.0))]),
    ("leaving service closes the build-up there", BUILD,
     [*seconds(0, 8, TWO), (8.0, TWO, False)], None,
     [("queue_buildup", "Q1", Opened(0.0, 5.0)), ("queue_buildup", "Q1", Closed(0.0, 8.0, 8.0))]),
    ("waiting max_wait_s opens a long wait from the entry", LONG,
     seconds(0, 6, {1: IN}), None, [("long_wait", "Q1/1", Opened(0.0, 5.0))]),
    ("a wait just short of max_wait_s: nothing", LONG,
     [*seconds(0, 5, {1: IN}), *seconds(5, 10, {})], None, []),
    ("the long wait closes at the last sample in the zone once the grace is over", LONG,
     [*seconds(0, 8, {1: IN}), *seconds(8, 11, {})], None,
     [("long_wait", "Q1/1", Opened(0.0, 5.0)), ("long_wait", "Q1/1", Closed(0.0, 7.0, 10.0))]),
    ("leaving service closes the long wait", LONG,
     [*seconds(0, 7, {1: IN}), (7.0, {1: IN}, False)], None,
     [("long_wait", "Q1/1", Opened(0.0, 5.0)), ("long_wait", "Q1/1", Closed(0.0, 6.0, 7.0))]),
    ("flush closes both", QueueRule(max_length=1, min_duration_s=2, max_wait_s=3, confirm_s=0),
     seconds(0, 4, {1: IN}), 9.0,
     [("queue_buildup", "Q1", Opened(0.0, 2.0)), ("long_wait", "Q1/1", Opened(0.0, 3.0)),
      ("long_wait", "Q1/1", Closed(0.0, 3.0, 9.0)), ("queue_buildup", "Q1", Closed(0.0, 9.0, 9.0))]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("rule", "samples", "flush_at", "expected"),
    [c[1:] for c in EPISODES],
    ids=[c[0] for c in EPISODES],
)
def test_episodes(
    rule: QueueRule,
    samples: list[Sample],
    flush_at: float | None,
    expected: list[tuple[str, str, Transition]],
) -> None:
    assert changes(run(rule, samples, flush_at)) == expected


def test_buildup_details_carry_the_peak_length_and_the_window() -> None:
    three = {1: IN, 2: IN, 3: IN}
    samples = [*seconds(0, 3, TWO), *seconds(3, 5, three), *seconds(5, 7, TWO), *seconds(7, 11, {})]
    found = [c for u in run(BUILD, samples) for c in u.changes]
    assert [c.change for c in found] == [Opened(0.0, 5.0), Closed(0.0, 7.0, 10.0)]
    assert [c.details["peak_length"] for c in found] == [3, 3]
    assert all(c.window == "W01" for c in found)


def test_a_later_buildup_starts_its_peak_afresh() -> None:
    three = {1: IN, 2: IN, 3: IN}
    samples = [*seconds(0, 6, three), *seconds(6, 10, {}), *seconds(10, 16, TWO)]
    opened = [c for u in run(BUILD, samples) for c in u.changes if isinstance(c.change, Opened)]
    assert [(c.change.start, c.details["peak_length"]) for c in opened] == [(0.0, 3), (10.0, 2)]


def test_long_wait_details_carry_the_wait() -> None:
    found = [
        c for u in run(LONG, [*seconds(0, 8, {1: IN}), *seconds(8, 11, {})]) for c in u.changes
    ]
    assert [c.details["wait_s"] for c in found] == [5.0, 7.0]
    assert [c.details["track_id"] for c in found] == [1, 1]


# -- minutes ------------------------------------------------------------------------------------


def test_queue_length_per_minute_is_time_weighted() -> None:
    rule = QueueRule(confirm_s=3)  # 1 queues from 3 s, 2 from 33 s
    samples = [*seconds(0, 30, {1: IN}), *seconds(30, 60, {1: IN, 2: IN}), (60.0, {}, True)]
    updates = run(rule, samples)
    minutes = [m for u in updates for m in u.minutes]
    assert len(minutes) == 1 and updates[-1].minutes == tuple(minutes)
    assert minutes[0].minute == 0.0
    assert minutes[0].mean == pytest.approx((0 * 3 + 1 * 30 + 2 * 27) / 60)
    assert minutes[0].maximum == 2.0
    assert minutes[0].covered_s == 60.0


def test_out_of_service_time_counts_as_an_empty_queue() -> None:
    samples = [*seconds(0, 30, {1: IN}), *seconds(30, 60, {1: IN}, serving=False), (60.0, {}, True)]
    minutes = [m for u in run(QueueRule(confirm_s=0), samples) for m in u.minutes]
    assert [(m.mean, m.maximum, m.covered_s) for m in minutes] == [(0.5, 1.0, 60.0)]


def test_flush_hands_over_the_open_minute() -> None:
    analyzer = QueueAnalyzer("Q1", ZONE, QueueRule(confirm_s=0))
    for sample in seconds(60, 70, {1: IN}):
        feed(analyzer, sample)
    minutes = analyzer.flush(70.0).minutes
    assert [(m.minute, m.mean, m.covered_s) for m in minutes] == [(60.0, 1.0, 10.0)]


# -- input checks -------------------------------------------------------------------------------


def test_samples_must_not_go_back_in_time() -> None:
    analyzer = QueueAnalyzer("Q1", ZONE)
    feed(analyzer, (5.0, {1: IN}, True))
    with pytest.raises(ValueError, match="older"):
        feed(analyzer, (4.0, {1: IN}, True))


def test_ids_and_feet_must_pair_up() -> None:
    with pytest.raises(ValueError, match="2 ids but 1 feet"):
        present_ids(ZONE, [1, 2], np.array([IN]))
    assert present_ids(ZONE, [], np.zeros((0, 2))) == []
    assert present_ids(ZONE, np.array([3, 4, 3]), np.array([IN, OUT, IN])) == [3]


@pytest.mark.parametrize(
    "bad",
    [
        {"max_length": 0},
        {"min_duration_s": -1.0},
        {"max_wait_s": -1.0},
        {"confirm_s": -1.0},
        {"exit_grace_s": -1.0},
        {"clear_delay_s": -1.0},
    ],
)
def test_rule_is_checked(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        QueueRule(**bad)  # type: ignore[arg-type]


# -- properties ---------------------------------------------------------------------------------

people_strategy = st.dictionaries(
    st.integers(1, 6), st.tuples(st.floats(0, 1), st.floats(0, 1)), max_size=5
)
samples_strategy = st.lists(
    st.tuples(
        st.sampled_from([0.5, 1.0, 2.0, 3.0, 7.0]),
        people_strategy,
        st.sampled_from([True, True, True, False]),  # in service, mostly
    ),
    min_size=1,
    max_size=40,
)
rule_strategy = st.builds(
    QueueRule,
    max_length=st.integers(1, 4),
    min_duration_s=st.sampled_from([0.0, 2.0, 5.0]),
    max_wait_s=st.sampled_from([0.0, 4.0, 10.0]),
    confirm_s=st.sampled_from([0.0, 1.0, 3.0]),
    exit_grace_s=st.sampled_from([0.0, 2.0, 5.0]),
    clear_delay_s=st.sampled_from([0.0, 3.0]),
)


@settings(max_examples=300, deadline=None)
@given(rule_strategy, samples_strategy)
def test_waits_and_lengths_stay_within_the_samples(
    rule: QueueRule, steps: list[tuple[float, dict[int, Point], bool]]
) -> None:
    analyzer = QueueAnalyzer("Q1", ZONE, rule)
    t = 0.0
    first_t = None
    all_changes: list[EpisodeChange] = []
    finished: list[Wait] = []
    for step, where, serving in steps:
        t += step
        first_t = t if first_t is None else first_t
        update = feed(analyzer, (t, where, serving))
        in_zone = len(present_ids(ZONE, list(where), np.array(list(where.values())).reshape(-1, 2)))
        assert 0 <= update.length <= in_zone
        assert all(first_t <= person.entered <= t for person in update.waiting)
        all_changes += update.changes
        finished += update.finished
    final = analyzer.flush(t + 1.0)
    all_changes += final.changes
    finished += final.finished
    assert first_t is not None
    for wait in finished:
        assert 0.0 <= wait.wait_s <= t - first_t
        assert first_t <= wait.entered <= wait.left <= t
    by_key: dict[str, list[Transition]] = defaultdict(list)
    for change in all_changes:
        by_key[change.key].append(change.change)
    for transitions in by_key.values():  # every episode opens, then closes, one at a time
        assert [type(c) for c in transitions] == [Opened, Closed] * (len(transitions) // 2)
        assert len(transitions) % 2 == 0
