"""Acks, verdicts, severity and the review queue's filters over a real SQLite store."""

from __future__ import annotations

from typing import Any

import pytest

from hallwatch import reviews
from hallwatch.config import Site
from hallwatch.events import Event, EventType
from hallwatch.reviews import QueueFilter, Severity, Verdict, VerdictFilter
from hallwatch.store import Store

SITE = Site.model_validate(
    {
        "name": "测试中心",
        "halls": [{"id": "H1", "name": "一楼"}, {"id": "H2", "name": "二楼"}],
        "cameras": [
            {"id": "cam01", "name": "一号", "hall": "H1", "url": "rtsp://192.0.2.1/a"},
            {"id": "cam02", "name": "二号", "hall": "H2", "url": "rtsp://192.0.2.1/b"},
        ],
        "windows": [
            {"id": "W01", "name": "1号窗口", "department": "税务局", "camera": "cam01",
             "staff_zone": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]},
            {"id": "W02", "name": "2号窗口", "department": "市场监管局", "camera": "cam02",
             "staff_zone": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]},
        ],
    }
)  # fmt: skip


@pytest.mark.parametrize(
    ("event_type", "details", "expected"),
    [
        (EventType.CASE_RED, {}, Severity.CRITICAL),
        (EventType.INTRUSION, {"zone": "Z1"}, Severity.CRITICAL),
        (EventType.COUNTER_VACANT, {"staff_on_duty": 1}, Severity.MAJOR),
        (EventType.QUEUE_BUILDUP, {"length": 9}, Severity.MAJOR),
        (EventType.CASE_YELLOW, {}, Severity.MAJOR),
        (EventType.LONG_WAIT, {"wait_s": 900}, Severity.MINOR),
        (EventType.CASE_WARNING, {}, Severity.MINOR),
        (EventType.OVERCROWDED, {"persons": 7, "max_persons": 4}, Severity.MINOR),
        (EventType.OVERCROWDED, {"persons": 8, "max_persons": 4}, Severity.MAJOR),
        (EventType.OVERCROWDED, {"persons": 8, "max_persons": 0}, Severity.MINOR),
        (EventType.OVERCROWDED, {"persons": "8", "max_persons": 4}, Severity.MINOR),
        ("something_new", {}, Severity.MINOR),
    ],
)
def test_severity_table(event_type: str, details: dict[str, Any], expected: Severity) -> None:
    assert reviews.severity(event_type, details) is expected


def add(store: Store, kind: str, camera: str, window: str | None, start: float,
        **details: Any) -> Event:  # fmt: skip
    return store.add_event(Event(kind, camera, start, start, window, start + 5, details))


def test_ack_is_stored_once_and_bumps_seq_once(store: Store) -> None:
    event = add(store, EventType.COUNTER_VACANT, "cam01", "W01", 100.0)
    first, stored = reviews.acknowledge(store, event.id or 0, "op1", 1000.0)
    assert stored and first == reviews.Ack(event.id or 0, "op1", 1000.0)
    seq_after_first = store.get_event(event.id or 0).seq
    assert seq_after_first > event.seq
    again, stored_again = reviews.acknowledge(store, event.id or 0, "op2", 2000.0)
    assert not stored_again and again == first  # who and when of the first ack
    assert store.get_event(event.id or 0).seq == seq_after_first
    assert reviews.ack_of(store, event.id or 0) == first
    with pytest.raises(KeyError):
        reviews.acknowledge(store, 999, "op1", 1.0)


def test_verdicts_append_and_the_newest_is_the_verdict(store: Store) -> None:
    event = add(store, EventType.COUNTER_VACANT, "cam01", "W01", 100.0)
    other = add(store, EventType.QUEUE_BUILDUP, "cam01", "W01", 200.0)
    reviews.add_verdict(store, event.id or 0, Verdict.FOLLOW_UP, "check", "insp", 10.0)
    reviews.add_verdict(store, event.id or 0, Verdict.CONFIRMED, "seen", "insp2", 20.0)
    history = reviews.verdict_history(store, event.id or 0)
    assert [(h.verdict, h.by) for h in history] == [("confirmed", "insp2"), ("follow_up", "insp")]
    reviews.acknowledge(store, other.id or 0, "op", 5.0)
    found = reviews.reviews_of(store, [event.id or 0, other.id or 0, 12345])
    assert found[event.id or 0].verdict == history[0] and found[event.id or 0].ack is None
    assert found[other.id or 0].ack is not None and found[other.id or 0].verdict is None
    assert 12345 not in found
    with pytest.raises(ValueError):
        reviews.add_verdict(store, event.id or 0, Verdict.CONFIRMED, "x" * 2001, "insp", 1.0)
    with pytest.raises(KeyError):
        reviews.add_verdict(store, 999, Verdict.CONFIRMED, "", "insp", 1.0)


def test_events_json_carries_severity_ack_and_verdict(store: Store) -> None:
    event = add(store, EventType.CASE_RED, "cam01", "W01", 100.0)
    plain = reviews.events_json(store, [event])[0]
    assert (plain["severity"], plain["ack"], plain["verdict"]) == ("critical", None, None)
    reviews.acknowledge(store, event.id or 0, "op", 7.0)
    reviews.add_verdict(store, event.id or 0, Verdict.FALSE_ALARM, "n", "insp", 8.0)
    shown = reviews.events_json(store, [store.get_event(event.id or 0)])[0]
    assert shown["ack"] == {"by": "op", "at": 7.0}
    assert shown["verdict"]["verdict"] == "false_alarm" and shown["verdict"]["by"] == "insp"


@pytest.mark.parametrize(
    ("given", "fields"),
    [
        (QueueFilter(), []),
        (QueueFilter(hall="H1", department="税务局", window="W01", camera="cam01"), []),
        (QueueFilter(hall="H9"), ["hall"]),
        (QueueFilter(department="公安局"), ["department"]),
        (QueueFilter(window="W99", camera="cam99"), ["window", "camera"]),
        (QueueFilter(type="fire"), ["type"]),
        (QueueFilter(since=20.0, until=10.0), ["to"]),
    ],
)
def test_filter_problems(given: QueueFilter, fields: list[str]) -> None:
    assert [name for name, _ in reviews.filter_problems(SITE, given)] == fields


def queue_ids(store: Store, **given: Any) -> list[int]:
    query = reviews.resolve_filter(SITE, QueueFilter(**given), 50, 0)
    items, total = reviews.review_queue(store, query)
    assert total == len(items)
    return [event.id or 0 for event in items]


def test_queue_filters_map_hall_and_department(store: Store) -> None:
    w1 = add(store, EventType.COUNTER_VACANT, "cam01", "W01", 100.0).id
    w2 = add(store, EventType.QUEUE_BUILDUP, "cam02", "W02", 200.0).id
    card = add(store, EventType.CASE_RED, "", None, 300.0, department="税务局").id
    assert queue_ids(store) == [card, w2, w1]  # newest first
    assert queue_ids(store, hall="H1") == [w1]
    assert queue_ids(store, hall="H2", camera="cam01") == []
    assert queue_ids(store, department="税务局") == [card, w1]  # a card's own department
    assert queue_ids(store, department="市场监管局") == [w2]
    assert queue_ids(store, window="W02") == [w2]
    assert queue_ids(store, type=EventType.CASE_RED) == [card]
    assert queue_ids(store, since=150.0, until=250.0) == [w2]


def test_queue_verdict_filter_reads_the_newest_verdict(store: Store) -> None:
    first = add(store, EventType.COUNTER_VACANT, "cam01", "W01", 100.0).id or 0
    second = add(store, EventType.COUNTER_VACANT, "cam01", "W01", 200.0).id or 0
    reviews.add_verdict(store, first, Verdict.FOLLOW_UP, "", "insp", 1.0)
    reviews.add_verdict(store, first, Verdict.CONFIRMED, "", "insp", 2.0)
    assert queue_ids(store, verdict=VerdictFilter.UNREVIEWED) == [second]
    assert queue_ids(store, verdict=VerdictFilter.REVIEWED) == [first]
    assert queue_ids(store, verdict=VerdictFilter.CONFIRMED) == [first]
    assert queue_ids(store, verdict=VerdictFilter.FOLLOW_UP) == []  # no longer the verdict
    assert queue_ids(store, verdict=VerdictFilter.ANY) == [second, first]


def test_queue_pages_with_total(store: Store) -> None:
    ids = [add(store, EventType.LONG_WAIT, "cam01", "W01", 100.0 + i).id for i in range(5)]
    query = reviews.resolve_filter(SITE, QueueFilter(), 2, 2)
    items, total = reviews.review_queue(store, query)
    assert total == 5 and [e.id for e in items] == [ids[2], ids[1]]
