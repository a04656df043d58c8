"""The upload outbox over a real SQLite store: filling, cursor, order per source, crash
safety, retry scheduling; the pure decisions as table tests."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hallwatch import reviews
from hallwatch.events import Event
from hallwatch.store import SCHEMA_VERSION, Store
from relay.outbox import (
    Change,
    Digest,
    Head,
    MessageState,
    Outbox,
    Pick,
    change_of,
    content_digest,
    pick_sources,
    plan_messages,
    rejected_delay,
    source_of,
    wanted,
)

ROOT = Path(__file__).resolve().parents[2]


def vacancy(camera: str = "cam01", start: float = 100.0, **details: object) -> Event:
    return Event(type="counter_vacant", camera=camera, window="W01", start=start,
                 detected_at=start + 3, details=dict(details))  # fmt: skip


def card(case_id: str, level: str = "warning", camera: str = "cam01") -> Event:
    details = {"case_id": case_id, "card_id": 7, "item_name": "营业执照", "department": "市场监管局",
               "reasons": ["overdue"]}  # fmt: skip
    return Event(type=f"case_{level}", camera=camera, window="W01", start=50.0,
                 detected_at=60.0, details=details)  # fmt: skip


def payloads(outbox: Outbox) -> list[dict[str, object]]:
    return [message.payload for message in outbox.messages(MessageState.PENDING, 10_000)]


# --- pure decisions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "selection", "expected"),
    [
        ("counter_vacant", (), True),
        ("case_red", (), True),
        ("counter_vacant", ("counter_vacant", "case_red"), True),
        ("intrusion", ("counter_vacant", "case_red"), False),
    ],
)
def test_wanted(event_type: str, selection: tuple[str, ...], expected: bool) -> None:
    assert wanted(event_type, selection) is expected


OPEN = Event(id=1, seq=5, type="intrusion", camera="cam02", start=10.0, detected_at=11.0)
ENDED = Event(id=1, seq=9, type="intrusion", camera="cam02", start=10.0, detected_at=11.0,
              end=20.0)  # fmt: skip
MORE = Event(id=1, seq=12, type="intrusion", camera="cam02", start=10.0, detected_at=11.0,
             end=25.0, details={"persons": 3})  # fmt: skip


@pytest.mark.parametrize(
    ("previous", "event", "expected"),
    [
        (None, OPEN, Change.OPENED),
        (None, ENDED, Change.OPENED),  # opened and ended before a fill: one message
        (Digest(content_digest(OPEN), False), OPEN, None),  # an ack or verdict: seq only
        (Digest(content_digest(OPEN), False), ENDED, Change.ENDED),
        (Digest(content_digest(ENDED), True), ENDED, None),
        (Digest(content_digest(ENDED), True), MORE, Change.UPDATED),
        (Digest("something-else", False), OPEN, Change.UPDATED),
    ],
)
def test_change_of(previous: Digest | None, event: Event, expected: Change | None) -> None:
    assert change_of(previous, event) is expected


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (vacancy("cam07"), "camera:cam07"),
        (card("C-1"), "case:C-1"),
        (Event(type="case_red", camera="cam01", start=1.0, detected_at=1.0), "camera:cam01"),
        (
            Event(
                type="intrusion", camera="", start=1.0, detected_at=1.0, details={"case_id": "X"}
            ),
            "camera:",
        ),
    ],
)
def test_source_of(event: Event, expected: str) -> None:
    assert source_of(event) == expected


def test_plan_messages_payload_and_filter() -> None:
    events = [
        Event(
            id=3,
            seq=7,
            type="case_yellow",
            camera="cam01",
            start=1.0,
            detected_at=2.0,
            details=card("C-9").details,
        ),
        Event(id=4, seq=8, type="intrusion", camera="cam02", start=1.0, detected_at=2.0),
        Event(id=5, seq=9, type="queue_buildup", camera="cam02", start=1.0, detected_at=2.0),
    ]
    planned = plan_messages(events, {}, ("case_yellow", "intrusion"), "某市政务服务中心")
    assert [(m.message_id, m.source, m.kind) for m in planned] == [
        ("event-3-7", "case:C-9", "case_yellow"),
        ("event-4-8", "camera:cam02", "intrusion"),
    ]
    first = planned[0].payload
    assert first["revision"] == 7 and first["change"] == "opened"
    assert first["site"] == "某市政务服务中心" and first["label"] == "办件黄牌"
    assert first["case"] == {"case_id": "C-9", "card_id": 7, "item_name": "营业执照",
                             "department": "市场监管局", "reasons": ["overdue"],
                             "level": "yellow"}  # fmt: skip
    assert "case" not in planned[1].payload


def head(source: str, id_: int, at: float = 0.0, rejected: bool = False) -> Head:
    return Head(source, id_, at, rejected)


@pytest.mark.parametrize(
    ("heads", "expected"),
    [
        ([], None),
        ([head("a", 5, at=101.0)], None),  # not due yet
        ([head("b", 9), head("a", 5)], Pick(("a", "b"), 50)),  # oldest first
        ([head("a", 5, at=101.0), head("b", 9)], Pick(("b",), 50)),  # a waits, b goes
        ([head("a", 5), head("b", 9, rejected=True)], Pick(("b",), 1)),  # a probe goes first
        ([head("a", 5), head("b", 9, at=400.0, rejected=True)], Pick(("a",), 50)),
        ([head("c", 12, rejected=True), head("b", 9, rejected=True)], Pick(("b",), 1)),
    ],
)
def test_pick_sources(heads: list[Head], expected: Pick | None) -> None:
    assert pick_sources(heads, now=100.0, batch_size=50) == expected


@pytest.mark.parametrize(("batch_len", "expected"), [(1, 300.0), (2, 0.0), (50, 0.0)])
def test_rejected_delay(batch_len: int, expected: float) -> None:
    assert rejected_delay(batch_len, 300.0) == expected


# --- filling over the store -------------------------------------------------------------------


def test_migration_7_from_a_version_6_file(tmp_path: Path) -> None:
    Store(tmp_path / "hw.db").close()
    conn = sqlite3.connect(tmp_path / "hw.db")
    conn.executescript(
        "DROP TABLE relay_cursors; DROP TABLE outbox; DROP TABLE outbox_digests;"
        " DROP TABLE relay_counters; PRAGMA user_version = 6;"
    )
    conn.close()
    store = Store(tmp_path / "hw.db")
    assert store.schema_version == SCHEMA_VERSION == 7
    Outbox(store, site_name="s").fill()
    store.close()


def test_new_outbox_starts_at_the_newest_change(store: Store) -> None:
    store.add_event(vacancy("cam01"))
    store.add_event(vacancy("cam02"))
    outbox = Outbox(store, site_name="s")
    assert outbox.cursor() == 2 and outbox.fill() == 0
    later = store.add_event(vacancy("cam03"))
    assert outbox.fill() == 1
    assert [p["message_id"] for p in payloads(outbox)] == [f"event-{later.id}-3"]
    assert Outbox(store, site_name="s").cursor() == 3  # an existing cursor is kept


def test_fill_one_message_per_content_change(store: Store) -> None:
    outbox = Outbox(store, site_name="s")
    event = store.add_event(vacancy("cam01"))
    assert event.id is not None
    assert outbox.fill() == 1
    reviews.acknowledge(store, event.id, "op", 120.0)  # bumps seq, content unchanged
    reviews.add_verdict(store, event.id, reviews.Verdict.CONFIRMED, "", "insp", 130.0)
    assert outbox.fill() == 0
    assert outbox.cursor() == store.max_seq()
    ended = store.end_event(event.id, 150.0)
    assert outbox.fill() == 1
    store.end_event(event.id, 150.0)  # same content again: nothing new
    assert outbox.fill() == 0
    sent = payloads(outbox)
    assert [(p["change"], p["revision"], p["end"]) for p in sent] == [
        ("opened", 1, None),
        ("ended", ended.seq, 150.0),
    ]
    assert outbox.fill() == 0


def test_fill_filters_types_but_moves_the_cursor(store: Store) -> None:
    outbox = Outbox(store, site_name="s", event_types=["case_red"])
    store.add_event(vacancy())
    red = store.add_event(card("C-1", "red"))
    assert outbox.fill() == 1
    assert outbox.cursor() == store.max_seq()
    assert [p["id"] for p in payloads(outbox)] == [red.id]


def test_fill_in_chunks_keeps_seq_order(store: Store) -> None:
    outbox = Outbox(store, site_name="s")
    events = [store.add_event(vacancy(f"cam{i % 3}", start=float(i))) for i in range(23)]
    assert outbox.fill(chunk=5) == 23
    assert [p["id"] for p in payloads(outbox)] == [e.id for e in events]


def test_a_failed_fill_changes_nothing(store: Store) -> None:
    """A fault in the middle of a fill (here a trigger refusing the third insert, as a full
    disk would) rolls back the messages already added and the cursor together."""
    outbox = Outbox(store, site_name="s")
    events = [store.add_event(vacancy(f"cam{i}")) for i in range(5)]
    bad = f"event-{events[2].id}-{events[2].seq}"
    with store.transaction() as conn:
        conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON outbox WHEN NEW.message_id = ?"
            " BEGIN SELECT RAISE(ABORT, 'disk full'); END".replace("?", f"'{bad}'")
        )
    with pytest.raises(sqlite3.IntegrityError, match="disk full"):
        outbox.fill()
    assert outbox.cursor() == 0 and payloads(outbox) == []
    assert store.query("SELECT COUNT(*) FROM outbox_digests")[0][0] == 0
    with store.transaction() as conn:
        conn.execute("DROP TRIGGER refuse")
    assert outbox.fill() == 5
    assert [p["id"] for p in payloads(outbox)] == [e.id for e in events]


WRITER = textwrap.dedent(
    """
    import sys, itertools
    from pathlib import Path
    from hallwatch.events import Event
    from hallwatch.store import Store
    from relay.outbox import Outbox
    store = Store(Path(sys.argv[1]))
    outbox = Outbox(store, site_name="s")
    print("ready", flush=True)
    for i in itertools.count():
        event = store.add_event(Event(type="intrusion", camera=f"cam{i % 4}", start=float(i),
                                      detected_at=float(i)))
        if i % 3 == 0:
            store.end_event(event.id, float(i) + 0.5)
        outbox.fill(chunk=2)
    """
)


def test_killed_while_filling_loses_and_repeats_nothing(tmp_path: Path) -> None:
    """A writer that fills the outbox in small chunks is SIGKILLed at a random moment; after
    reopening and filling, every event's latest state has a message and no change has two
    (a second insert of a message id would fail the UNIQUE constraint, so fill would raise)."""
    path = tmp_path / "hw.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE,
                             env=env)  # fmt: skip
    assert child.stdout is not None and child.stdout.readline().strip() == b"ready"
    time.sleep(0.6)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    store = Store(path)
    outbox = Outbox(store, site_name="s")
    written = store.max_seq()
    assert written > 20, "the writer should have written events before it was killed"
    outbox.fill()
    assert outbox.cursor() == written
    sent = payloads(outbox)
    assert len({p["message_id"] for p in sent}) == len(sent)
    latest: dict[int, dict[str, object]] = {}
    for payload in sent:
        latest[int(str(payload["id"]))] = payload
    events = store.events_after(0, limit=100_000)
    assert sorted(latest) == sorted(e.id for e in events if e.id is not None)
    for event in events:
        assert latest[event.id or 0]["revision"] == event.seq
        assert latest[event.id or 0]["end"] == event.end
    store.close()


# --- delivery bookkeeping ---------------------------------------------------------------------


def test_batches_keep_order_per_source_and_skip_waiting_sources(store: Store) -> None:
    outbox = Outbox(store, site_name="s", clock=lambda: 1000.0)
    for i in range(4):
        store.add_event(vacancy("camA", start=float(i)))
        store.add_event(vacancy("camB", start=float(i)))
    outbox.fill()
    first = outbox.next_batch(1000.0, 3)
    assert [(m.source, m.payload["start"]) for m in first] == [
        ("camera:camA", 0.0), ("camera:camB", 0.0), ("camera:camA", 1.0)
    ]  # fmt: skip
    # camA's head fails and waits; camB goes on alone; camA's later messages wait with it
    outbox.mark_failed([first[0].id], 1000.0, "HTTP 503", next_attempt_at=1010.0)
    outbox.mark_delivered([first[1].id], 1000.0)
    second = outbox.next_batch(1000.0, 10)
    assert [(m.source, m.payload["start"]) for m in second] == [
        ("camera:camB", 1.0), ("camera:camB", 2.0), ("camera:camB", 3.0)
    ]  # fmt: skip
    assert outbox.next_due() == 1000.0
    outbox.mark_delivered([m.id for m in second], 1001.0)
    assert outbox.next_batch(1001.0, 10) == []
    assert outbox.next_due() == 1010.0
    again = outbox.next_batch(1010.0, 10)
    assert [m.payload["start"] for m in again] == [0.0, 1.0, 2.0, 3.0]
    assert again[0].attempts == 1 and again[0].last_error == "HTTP 503"


def test_rejected_messages_go_alone_and_block_only_their_source(store: Store) -> None:
    outbox = Outbox(store, site_name="s", clock=lambda: 1000.0)
    store.add_event(vacancy("camA", start=0.0))
    store.add_event(vacancy("camB", start=0.0))
    store.add_event(vacancy("camA", start=1.0))
    outbox.fill()
    batch = outbox.next_batch(1000.0, 10)
    outbox.mark_failed([m.id for m in batch], 1000.0, "HTTP 422", 1000.0, rejected=True)
    probe = outbox.next_batch(1000.0, 10)
    assert [(m.source, m.payload["start"], m.rejected) for m in probe] == [
        ("camera:camA", 0.0, True)
    ]
    outbox.mark_failed([probe[0].id], 1000.0, "HTTP 422", 1300.0, rejected=True)
    probe = outbox.next_batch(1000.0, 10)
    assert [(m.source, m.rejected) for m in probe] == [("camera:camB", True)]
    outbox.mark_delivered([probe[0].id], 1000.0)
    assert outbox.next_batch(1000.0, 10) == []  # camA's second message waits behind its head
    counts = outbox.counts()
    assert (counts.pending, counts.failed, counts.rejected) == (2, 2, 2)
    assert [m.to_json()["last_error"] for m in outbox.messages("rejected")] == ["HTTP 422"] * 2
    assert outbox.retry_now(1001.0) == 1
    assert [m.payload["start"] for m in outbox.next_batch(1001.0, 10)] == [0.0]


def test_counts_prune_and_listing(store: Store) -> None:
    outbox = Outbox(store, site_name="s", clock=lambda: 1000.0)
    for i in range(3):
        store.add_event(vacancy("camA", start=float(i)))
    outbox.fill()
    ids = [m.id for m in outbox.next_batch(1000.0, 10)]
    outbox.mark_delivered(ids[:2], 1000.0)
    outbox.mark_failed(ids[2:], 1005.0, "ConnectionRefusedError: refused", 1010.0)
    counts = outbox.counts()
    assert (counts.pending, counts.failed, counts.rejected, counts.delivered_total) == (1, 1, 0, 2)
    assert counts.last_delivered_at == 1000.0 and counts.next_attempt_at == 1010.0
    assert counts.last_error == "ConnectionRefusedError: refused"
    assert [m["attempts"] for m in (x.to_json() for x in outbox.messages("failed"))] == [1]
    with pytest.raises(ValueError):
        outbox.messages("delivered")
    assert outbox.prune(1000.0 + 7 * 86400.0 - 1) == 0
    assert outbox.prune(1000.0 + 7 * 86400.0 + 1) == 2
    assert outbox.counts().delivered_total == 2  # pruned ones still count
    assert json.loads(store.query("SELECT payload FROM outbox")[0][0])["start"] == 2.0


OUTCOMES = st.sampled_from(["ok", "transient", "lost_answer", "rejected"])


@settings(max_examples=40)
@given(
    writes=st.lists(st.sampled_from(["camA", "camB", "camC", "end"]), min_size=1, max_size=25),
    outcomes=st.lists(OUTCOMES, max_size=30),
    batch_size=st.integers(1, 6),
)
def test_any_failure_sequence_delivers_everything_in_order_per_source(
    writes: list[str], outcomes: list[str], batch_size: int
) -> None:
    """Model of the uploader's bookkeeping under any answers: a batch answered 'ok' is kept by
    the receiver, 'lost_answer' is kept but counted as failed (timeout after storing),
    'transient' and 'rejected' are not kept. Events keep coming between requests. In the
    end every message was received, and per source the first arrivals follow fill order."""
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder) / "hw.db")
        now = 1000.0
        outbox = Outbox(store, site_name="s", clock=lambda: now)
        received: list[str] = []
        pending_writes = list(writes)
        answers = list(outcomes)
        last_by_camera: dict[str, int] = {}
        for _ in range(400):
            if pending_writes:  # one change per step, interleaved with the requests
                write = pending_writes.pop(0)
                if write == "end" and last_by_camera:
                    store.end_event(next(iter(last_by_camera.values())), now)
                elif write != "end":
                    event = store.add_event(vacancy(write, start=now))
                    last_by_camera[write] = event.id or 0
            outbox.fill()
            batch = outbox.next_batch(now, batch_size)
            if not batch and not pending_writes and outbox.counts().pending == 0:
                break
            if not batch:
                outbox.retry_now(now)
                now += 1.0
                continue
            answer = answers.pop(0) if answers else "ok"
            ids = [m.id for m in batch]
            if answer in ("ok", "lost_answer"):
                received.extend(m.message_id for m in batch)
            if answer == "ok":
                outbox.mark_delivered(ids, now)
            elif answer == "rejected":
                delay = rejected_delay(len(batch), 30.0)
                outbox.mark_failed(ids, now, "HTTP 422", now + delay, rejected=True)
            else:
                outbox.mark_failed(ids, now, "timed out", now + 2.0)
            now += 1.0
        order: dict[str, list[str]] = {}
        for row in store.query("SELECT source, message_id FROM outbox ORDER BY id"):
            order.setdefault(row["source"], []).append(row["message_id"])
        firsts: dict[str, list[str]] = {}
        source_of_message = {m: s for s, ms in order.items() for m in ms}
        for message_id in dict.fromkeys(received):
            firsts.setdefault(source_of_message[message_id], []).append(message_id)
        assert outbox.counts().pending == 0
        assert firsts == order
        store.close()
