"""The upload outbox: event changes become durable messages, delivered in order per source.

Filling (`Outbox.fill`). A cursor (`relay_cursors`, a position on `events.seq`) says how far
the event changes have been read. Each fill reads the events changed after the cursor, adds
one message per uploaded change to `outbox` and moves the cursor, all in ONE transaction: a
crash before the commit leaves both as they were, after it both are done, so no change is
lost or turned into two messages.

* What is a change worth a message: an event's content (type, camera, window, start, end,
  details) differs from what was last uploaded for it (`outbox_digests`). Operators' acks
  and inspectors' verdicts also bump an event's seq (hallwatch/reviews.py) but are console
  work, not supervision facts: alone they send nothing.
* Changes made between two fills are merged: the store keeps only an event's latest state,
  so the message carries that (the uploader fills about once a second, so this is rare). A
  receiver therefore always ends with every event's latest state.
* `message_id` is `event-<event id>-<seq>` (unique; a receiver dedupes on it) and `revision`
  is the seq (it grows with every change of the event).
* Source (the unit of ordering): `case:<case id>` for case cards whose details name their
  case (cases/publish.py), else `camera:<camera id>`. Messages of one source are delivered in
  the order they were filled, i.e. in seq order.
* A new outbox starts at the store's newest change: history from before the upload was
  configured is not sent. The cursor stays when the upload is switched off, so switching it
  back on later sends everything that happened meanwhile.

Delivery (`next_batch`, `mark_delivered`, `mark_failed`). A batch is the oldest messages of the
sources whose head (oldest undelivered message) is due. A message is never dropped: a
transient failure retries the same messages with backoff; a rejected batch (the platform
refuses its content) marks them `rejected`, after which they are sent one at a time so that
one bad message holds back only its own source (order per source forbids skipping it) and
waits the longest backoff between tries. `retry_now` makes everything due again.

Pruning: delivered messages are deleted `DELIVERED_KEEP_DAYS` (7) days after delivery; the
count of pruned messages is kept so that the delivered total stays right.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from hallwatch.events import Event
from hallwatch.store import Store, event_from_row

CURSOR_NAME = "upload"
DELIVERED_KEEP_DAYS = 7
DELIVERED_KEEP_S = DELIVERED_KEEP_DAYS * 86400.0
FILL_CHUNK = 500
PRUNED_COUNTER = "outbox.delivered_pruned"
MAX_ERROR_CHARS = 500
CASE_CARD_PREFIX = "case_"
CASE_FIELDS = ("case_id", "card_id", "item_name", "department", "reasons")


class Change(StrEnum):
    """What happened to an event since its previous message."""

    OPENED = "opened"  # first message about the event
    ENDED = "ended"  # the event was open in the previous message and has ended now
    UPDATED = "updated"  # anything else (details changed, or the end moved)


class MessageState(StrEnum):
    PENDING = "pending"  # not delivered (including failed and rejected)
    FAILED = "failed"  # tried at least once and not delivered
    REJECTED = "rejected"  # the platform refused it; sent alone, at the longest backoff


@dataclass(frozen=True, slots=True)
class Digest:
    """What was last uploaded of one event."""

    digest: str
    ended: bool


@dataclass(frozen=True, slots=True)
class NewMessage:
    event_id: int
    source: str
    message_id: str
    kind: str
    payload: dict[str, Any]
    digest: Digest


@dataclass(frozen=True, slots=True)
class Head:
    """A source's oldest undelivered message."""

    source: str
    id: int
    next_attempt_at: float
    rejected: bool


@dataclass(frozen=True, slots=True)
class Pick:
    """Which sources the next request takes its messages from, and how many at most."""

    sources: tuple[str, ...]
    limit: int


@dataclass(frozen=True, slots=True)
class Message:
    id: int
    message_id: str
    source: str
    kind: str
    payload: dict[str, Any]
    created_at: float
    attempts: int
    next_attempt_at: float
    rejected: bool
    last_error: str | None
    last_attempt_at: float | None

    def to_json(self) -> dict[str, Any]:
        """The message's delivery state (not its payload), as the console lists it."""
        return {
            "id": self.id,
            "message_id": self.message_id,
            "source": self.source,
            "kind": self.kind,
            "attempts": self.attempts,
            "rejected": self.rejected,
            "last_error": self.last_error,
            "last_attempt_at": self.last_attempt_at,
            "created_at": self.created_at,
            "next_attempt_at": self.next_attempt_at,
        }


@dataclass(frozen=True, slots=True)
class Counts:
    pending: int
    failed: int
    rejected: int
    delivered_total: int
    oldest_pending_at: float | None
    next_attempt_at: float | None  # the earliest head's (None: nothing pending)
    last_delivered_at: float | None
    last_error: str | None  # the newest error among undelivered messages
    cursor: int


# --- pure decisions -------------------------------------------------------------------------


def wanted(event_type: str, event_types: Collection[str]) -> bool:
    """Whether events of `event_type` are uploaded (an empty selection uploads all)."""
    return not event_types or event_type in event_types


def content_digest(event: Event) -> str:
    """A short hash of what an uploaded message says about the event (not acks or verdicts)."""
    content = [event.type, event.camera, event.window, event.start, event.end, event.details]
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def change_of(previous: Digest | None, event: Event) -> Change | None:
    """The change to upload for `event`, or None when its content is what was last sent."""
    if previous is None:
        return Change.OPENED
    if previous.digest == content_digest(event):
        return None
    if not previous.ended and event.end is not None:
        return Change.ENDED
    return Change.UPDATED


def is_case_card(event: Event) -> bool:
    return event.type.startswith(CASE_CARD_PREFIX) and "case_id" in event.details


def source_of(event: Event) -> str:
    """The ordering unit: the card's case for case cards, else the event's camera."""
    if is_case_card(event):
        return f"case:{event.details['case_id']}"
    return f"camera:{event.camera}"


def message_id_of(event: Event) -> str:
    return f"event-{event.id}-{event.seq}"


def payload_of(event: Event, change: Change, site_name: str) -> dict[str, Any]:
    """The message body: the event as the console shows it, plus delivery fields."""
    payload: dict[str, Any] = {
        **event.to_json(),
        "message_id": message_id_of(event),
        "revision": event.seq,
        "change": change.value,
        "site": site_name,
        "source": source_of(event),
    }
    if is_case_card(event):
        case = {name: event.details.get(name) for name in CASE_FIELDS}
        payload["case"] = {**case, "level": event.type[len(CASE_CARD_PREFIX) :]}
    return payload


def plan_messages(
    events: Iterable[Event],
    digests: Mapping[int, Digest],
    event_types: Collection[str],
    site_name: str,
) -> list[NewMessage]:
    """The messages for `events` (in seq order), given what was last uploaded per event."""
    planned: list[NewMessage] = []
    for event in events:
        if event.id is None or not wanted(event.type, event_types):
            continue
        change = change_of(digests.get(event.id), event)
        if change is None:
            continue
        planned.append(
            NewMessage(
                event_id=event.id,
                source=source_of(event),
                message_id=message_id_of(event),
                kind=event.type,
                payload=payload_of(event, change, site_name),
                digest=Digest(content_digest(event), event.end is not None),
            )
        )
    return planned


def pick_sources(heads: Iterable[Head], now: float, batch_size: int) -> Pick | None:
    """The next request's sources.

    A rejected head that is due goes first, alone and as a single message (so it cannot
    fail the messages of others again); else every source whose head is due shares one
    batch of up to `batch_size` messages, oldest first. None: nothing is due.
    """
    due = sorted((head for head in heads if head.next_attempt_at <= now), key=lambda h: h.id)
    for head in due:
        if head.rejected:
            return Pick((head.source,), 1)
    if not due:
        return None
    return Pick(tuple(head.source for head in due), batch_size)


def rejected_delay(batch_len: int, retry_max_s: float) -> float:
    """Wait after the platform refused a batch: none when it held several messages (they are
    tried again one by one at once, to find the bad one), the longest backoff when it was a
    single message (it stays refused until the platform or the message changes)."""
    return retry_max_s if batch_len == 1 else 0.0


# --- the outbox over the store -----------------------------------------------------------------


class Outbox:
    """The upload outbox in the store (tables of migration 7); safe to share between threads."""

    def __init__(
        self,
        store: Store,
        *,
        site_name: str,
        event_types: Collection[str] = (),
        name: str = CURSOR_NAME,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._site_name = site_name
        self._event_types = frozenset(event_types)
        self._name = name
        self._clock = clock
        with store.transaction() as conn:  # a new outbox starts at the newest change
            conn.execute(
                "INSERT OR IGNORE INTO relay_cursors (name, seq)"
                " SELECT ?, COALESCE(MAX(seq), 0) FROM events",
                (name,),
            )

    @property
    def store(self) -> Store:
        return self._store

    def cursor(self) -> int:
        rows = self._store.query("SELECT seq FROM relay_cursors WHERE name = ?", (self._name,))
        return int(rows[0]["seq"])

    # --- filling ----------------------------------------------------------------------------

    def fill(self, chunk: int = FILL_CHUNK) -> int:
        """Turn every event change after the cursor into messages; returns how many."""
        added = 0
        while True:
            count, more = self._fill_chunk(chunk)
            added += count
            if not more:
                return added

    def _fill_chunk(self, chunk: int) -> tuple[int, bool]:
        now = self._clock()
        with self._store.transaction() as conn:
            position = conn.execute(
                "SELECT seq FROM relay_cursors WHERE name = ?", (self._name,)
            ).fetchone()["seq"]
            rows = conn.execute(
                "SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (position, chunk)
            ).fetchall()
            if not rows:
                return 0, False
            events = [event_from_row(row) for row in rows]
            planned = plan_messages(
                events, _digests(conn, events), self._event_types, self._site_name
            )
            for message in planned:
                _insert_message(conn, message, now)
            conn.execute(
                "UPDATE relay_cursors SET seq = ? WHERE name = ?", (events[-1].seq, self._name)
            )
        return len(planned), len(rows) == chunk

    # --- delivery ---------------------------------------------------------------------------

    def heads(self) -> list[Head]:
        """Every source's oldest undelivered message."""
        rows = self._store.query(
            "SELECT o.source, o.id, o.next_attempt_at, o.rejected FROM outbox o"
            " JOIN (SELECT MIN(id) AS id FROM outbox WHERE delivered_at IS NULL GROUP BY source)"
            " h ON h.id = o.id"
        )
        return [
            Head(row["source"], row["id"], row["next_attempt_at"], bool(row["rejected"]))
            for row in rows
        ]

    def next_batch(self, now: float, batch_size: int) -> list[Message]:
        """The messages of the next request (oldest first), empty when none is due."""
        pick = pick_sources(self.heads(), now, batch_size)
        if pick is None:
            return []
        rows = self._store.query(
            "SELECT * FROM outbox WHERE delivered_at IS NULL"
            " AND source IN (SELECT value FROM json_each(?)) ORDER BY id LIMIT ?",
            (json.dumps(pick.sources), pick.limit),
        )
        return [_message_from_row(row) for row in rows]

    def next_due(self) -> float | None:
        """When the earliest source head is due (None: nothing pending)."""
        times = [head.next_attempt_at for head in self.heads()]
        return min(times) if times else None

    def mark_delivered(self, ids: Sequence[int], at: float) -> None:
        with self._store.transaction() as conn:
            conn.execute(
                "UPDATE outbox SET delivered_at = ?, last_attempt_at = ?,"
                " attempts = attempts + 1 WHERE delivered_at IS NULL"
                " AND id IN (SELECT value FROM json_each(?))",
                (at, at, json.dumps(list(ids))),
            )

    def mark_failed(
        self,
        ids: Sequence[int],
        at: float,
        error: str,
        next_attempt_at: float,
        rejected: bool | None = None,
    ) -> None:
        """Count a failed attempt; `rejected` None keeps each message's flag."""
        rejected_value = None if rejected is None else int(rejected)
        with self._store.transaction() as conn:
            conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?, last_attempt_at = ?,"
                " next_attempt_at = ?, rejected = COALESCE(?, rejected)"
                " WHERE delivered_at IS NULL AND id IN (SELECT value FROM json_each(?))",
                (
                    error[:MAX_ERROR_CHARS],
                    at,
                    next_attempt_at,
                    rejected_value,
                    json.dumps(list(ids)),
                ),
            )

    def retry_now(self, now: float) -> int:
        """Make every undelivered message due now; returns how many were waiting."""
        with self._store.transaction() as conn:
            cursor = conn.execute(
                "UPDATE outbox SET next_attempt_at = ?"
                " WHERE delivered_at IS NULL AND next_attempt_at > ?",
                (now, now),
            )
        return cursor.rowcount

    def prune(self, now: float, keep_s: float = DELIVERED_KEEP_S) -> int:
        """Delete messages delivered more than `keep_s` ago; returns how many."""
        with self._store.transaction() as conn:
            cursor = conn.execute(
                "DELETE FROM outbox WHERE delivered_at IS NOT NULL AND delivered_at < ?",
                (now - keep_s,),
            )
            pruned = cursor.rowcount
            if pruned:
                conn.execute(
                    "INSERT INTO relay_counters (name, value) VALUES (?, ?)"
                    " ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
                    (PRUNED_COUNTER, pruned),
                )
            conn.execute("DELETE FROM outbox_digests WHERE event_id NOT IN (SELECT id FROM events)")
        return pruned

    # --- state --------------------------------------------------------------------------------

    def counts(self) -> Counts:
        # the cursor first: every change up to it is already counted below
        cursor = self.cursor()
        pending = self._store.query(
            "SELECT COUNT(*) AS pending, COALESCE(SUM(attempts > 0), 0) AS failed,"
            " COALESCE(SUM(rejected), 0) AS rejected, MIN(created_at) AS oldest"
            " FROM outbox WHERE delivered_at IS NULL"
        )[0]
        delivered = self._store.query(
            "SELECT COUNT(*) AS delivered, MAX(delivered_at) AS last FROM outbox"
            " WHERE delivered_at IS NOT NULL"
        )[0]
        pruned = self._store.query(
            "SELECT value FROM relay_counters WHERE name = ?", (PRUNED_COUNTER,)
        )
        error = self._store.query(
            "SELECT last_error FROM outbox WHERE delivered_at IS NULL AND last_error IS NOT NULL"
            " ORDER BY last_attempt_at DESC LIMIT 1"
        )
        return Counts(
            pending=int(pending["pending"]),
            failed=int(pending["failed"]),
            rejected=int(pending["rejected"]),
            delivered_total=int(delivered["delivered"]) + (int(pruned[0][0]) if pruned else 0),
            oldest_pending_at=pending["oldest"],
            next_attempt_at=self.next_due(),
            last_delivered_at=delivered["last"],
            last_error=error[0]["last_error"] if error else None,
            cursor=cursor,
        )

    def messages(self, state: MessageState | str, limit: int = 100) -> list[Message]:
        """Undelivered messages in `state`, oldest first."""
        condition = {
            MessageState.PENDING: "1",
            MessageState.FAILED: "attempts > 0",
            MessageState.REJECTED: "rejected = 1",
        }[MessageState(state)]
        rows = self._store.query(
            f"SELECT * FROM outbox WHERE delivered_at IS NULL AND {condition} ORDER BY id LIMIT ?",
            (limit,),
        )
        return [_message_from_row(row) for row in rows]


def _digests(conn: sqlite3.Connection, events: Sequence[Event]) -> dict[int, Digest]:
    ids = [event.id for event in events if event.id is not None]
    rows = conn.execute(
        "SELECT event_id, digest, ended FROM outbox_digests"
        " WHERE event_id IN (SELECT value FROM json_each(?))",
        (json.dumps(ids),),
    ).fetchall()
    return {row["event_id"]: Digest(row["digest"], bool(row["ended"])) for row in rows}


def _insert_message(conn: sqlite3.Connection, message: NewMessage, now: float) -> None:
    # a plain INSERT: a second message with the same id would be a bug, and it fails loudly
    conn.execute(
        "INSERT INTO outbox (source, message_id, kind, payload, created_at, next_attempt_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (
            message.source,
            message.message_id,
            message.kind,
            json.dumps(message.payload, ensure_ascii=False),
            now,
            now,
        ),
    )
    conn.execute(
        "INSERT INTO outbox_digests (event_id, digest, ended) VALUES (?, ?, ?)"
        " ON CONFLICT (event_id) DO UPDATE SET digest = excluded.digest, ended = excluded.ended",
        (message.event_id, message.digest.digest, int(message.digest.ended)),
    )


def _message_from_row(row: sqlite3.Row) -> Message:
    return Message(
        id=row["id"],
        message_id=row["message_id"],
        source=row["source"],
        kind=row["kind"],
        payload=json.loads(row["payload"]),
        created_at=row["created_at"],
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        rejected=bool(row["rejected"]),
        last_error=row["last_error"],
        last_attempt_at=row["last_attempt_at"],
    )
