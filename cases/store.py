"""The supervision store's tables (on hallwatch.database: SQLite or PostgreSQL).

- `case_sources`: the approval systems allowed to send data, each with its own API key (only
  a SHA-256 of the key is kept; the key is shown once when the source is added).
- `case_events`: every accepted message, verbatim (the validated JSON body), append-only and
  unique by (source, event_id), so a message sent twice is stored once (idempotent intake).
- `cases`: one row per case, a projection of its events (rebuilt from them whenever one
  arrives, so out-of-order events end in the same state), with the evaluated deadline and
  card, and `next_change_at`, the instant its card can next change without a new event.
- `cards` and `card_history`: a case's card (预警 / 黄牌 / 红牌) as state with history;
  `console_event` and `published_*` record what the console's event feed was last told (an
  outbox: see cases.publish); a card change sets `published_state` to NULL (pending).
- The fact columns of `cases` (limits, pauses and limited steps packed): what the bulk
  judgement (cases.judge) needs of an open case, written with its row, so re-judging every
  open case reads one table instead of folding every case's events.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hallwatch.database import Cursor, Database, in_list, migrate

# The case list's order: open red, yellow, warning, no card, then the others; nearest promised
# deadline first. Migration 4 indexes exactly these terms, so a page is read off the index.
URGENCY_TERMS = (
    "(CASE WHEN status = 'open' THEN CASE card_level WHEN 'red' THEN 0 WHEN 'yellow' THEN 1"
    " WHEN 'warning' THEN 2 ELSE 3 END ELSE 4 END)",
    "(CASE WHEN promised_deadline IS NULL THEN 1 ELSE 0 END)",
    "promised_deadline",
    "case_id",
)
URGENCY_ORDER = ", ".join(URGENCY_TERMS)

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE case_sources (
        name TEXT PRIMARY KEY,
        key_hash TEXT NOT NULL UNIQUE,
        created_at {real} NOT NULL
    );
    CREATE TABLE case_events (
        id {id},
        source TEXT NOT NULL REFERENCES case_sources(name),
        event_id TEXT NOT NULL,
        case_id TEXT NOT NULL,
        type TEXT NOT NULL,
        at {real} NOT NULL,
        body TEXT NOT NULL,
        received_at {real} NOT NULL,
        UNIQUE (source, event_id)
    );
    CREATE INDEX case_events_case ON case_events(case_id, at);
    CREATE TABLE cases (
        case_id TEXT PRIMARY KEY,
        source TEXT NOT NULL,
        item_code TEXT,
        item_name TEXT,
        department TEXT,
        window_id TEXT,
        applicant_type TEXT,
        accepted_at {real},
        status TEXT NOT NULL,
        completed_at {real},
        outcome TEXT,
        promised_deadline {real},
        legal_deadline {real},
        provisional INTEGER NOT NULL DEFAULT 0,
        suspended INTEGER NOT NULL DEFAULT 0,
        remaining_s {real},
        card_level TEXT,
        reasons TEXT NOT NULL DEFAULT '[]',
        on_time INTEGER,
        early INTEGER,
        next_change_at {real},
        evaluated_at {real} NOT NULL,
        updated_at {real} NOT NULL
    );
    CREATE INDEX cases_next_change ON cases(next_change_at);
    CREATE INDEX cases_department ON cases(department, accepted_at);
    CREATE INDEX cases_window ON cases(window_id, accepted_at);
    CREATE INDEX cases_status ON cases(status, card_level);
    CREATE TABLE cards (
        id {id},
        case_id TEXT NOT NULL UNIQUE REFERENCES cases(case_id),
        level TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('open', 'closed')),
        reasons TEXT NOT NULL DEFAULT '[]',
        raised_at {real} NOT NULL,
        escalated_at {real},
        acknowledged_by TEXT,
        acknowledged_at {real},
        note TEXT,
        closed_at {real},
        console_event {bigint},
        published_level TEXT,
        published_state TEXT
    );
    CREATE INDEX cards_state ON cards(state, level);
    CREATE TABLE card_history (
        id {id},
        card_id {bigint} NOT NULL REFERENCES cards(id),
        at {real} NOT NULL,
        action TEXT NOT NULL,
        level TEXT NOT NULL,
        by_user TEXT,
        note TEXT
    );
    CREATE INDEX card_history_card ON card_history(card_id, at)
    """,
    # 2: scores count card actions by period (cases.scoring)
    "CREATE INDEX card_history_at ON card_history(at)",
    # 3: the cards the console's feed has not been told about (published_state NULL, set so
    # by every raise, escalation and close) are found by index, not by scanning every card
    "CREATE INDEX cards_unpublished ON cards(published_state)",
    # 4: the facts the bulk judgement (cases.judge) reads instead of folding events, in the
    # case row (cases.rejudge packs them): limits, the earliest open pause, closed pauses
    # merged and the steps with a node limit (packed int64), those steps' names, and a digest
    # of the stored judgement (cases.rejudge.judgement_digest) to find what changed
    """
    ALTER TABLE cases ADD COLUMN promised_amount INTEGER;
    ALTER TABLE cases ADD COLUMN promised_unit TEXT;
    ALTER TABLE cases ADD COLUMN legal_amount INTEGER;
    ALTER TABLE cases ADD COLUMN legal_unit TEXT;
    ALTER TABLE cases ADD COLUMN suspended_since {real};
    ALTER TABLE cases ADD COLUMN pauses {blob};
    ALTER TABLE cases ADD COLUMN steps {blob};
    ALTER TABLE cases ADD COLUMN step_names TEXT;
    ALTER TABLE cases ADD COLUMN judged_digest {bigint};
    CREATE INDEX cases_facts ON cases(status, promised_amount)
    """
    + f"; CREATE INDEX cases_urgency ON cases({URGENCY_ORDER})",
)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class IncomingEvent:
    """A validated message, ready to store: its identity and its JSON body."""

    event_id: str
    case_id: str
    type: str
    at: float  # UNIX seconds
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StoredEvent:
    id: int
    source: str
    event_id: str
    case_id: str
    type: str
    at: float
    body: dict[str, Any]


def open_case_db(url: str) -> Database:
    db = Database(url)
    migrate(db, "cases", MIGRATIONS)
    return db


class Sources:
    """The approval systems and their API keys."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, name: str) -> str:
        """Register a source (or give it a new key); returns the key, shown only now."""
        key = secrets.token_urlsafe(32)
        with self.db.transaction() as cursor:
            cursor.execute(
                "INSERT INTO case_sources (name, key_hash, created_at) VALUES (?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET key_hash = excluded.key_hash",
                (name, key_hash(key), time.time()),
            )
        return key

    def authenticate(self, key: str) -> str | None:
        """The source whose key this is, or None."""
        digest = key_hash(key)
        rows = self.db.query(
            "SELECT name, key_hash FROM case_sources WHERE key_hash = ?", (digest,)
        )
        for row in rows:  # compare in constant time all the same
            if hmac.compare_digest(row["key_hash"], digest):
                return str(row["name"])
        return None

    def names(self) -> list[str]:
        return [row["name"] for row in self.db.query("SELECT name FROM case_sources ORDER BY name")]


class EventConflict(ValueError):
    """Events whose (source, event_id) was stored before with other content."""

    def __init__(self, event_ids: Sequence[str]) -> None:
        super().__init__(f"event ids stored before with other content: {', '.join(event_ids)}")
        self.event_ids = list(event_ids)


def _body_text(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False, sort_keys=True)


def append_events(
    cursor: Cursor, source: str, events: Sequence[IncomingEvent], received_at: float
) -> list[IncomingEvent]:
    """Store the events not stored before (by source and event_id); returns the new ones.
    An event id stored before with other content raises EventConflict (the caller's
    transaction then writes nothing)."""
    fresh, conflicts = [], []
    for event in events:
        text = _body_text(event.body)
        inserted = cursor.execute(
            "INSERT INTO case_events (source, event_id, case_id, type, at, body, received_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (source, event_id) DO NOTHING"
            " RETURNING id",
            (source, event.event_id, event.case_id, event.type, event.at, text, received_at),
        )
        if inserted:
            fresh.append(event)
            continue
        (stored,) = cursor.execute(
            "SELECT body FROM case_events WHERE source = ? AND event_id = ?",
            (source, event.event_id),
        )
        if stored["body"] != text:
            conflicts.append(event.event_id)
    if conflicts:
        raise EventConflict(conflicts)
    return fresh


def events_of_cases(cursor: Cursor, case_ids: Sequence[str]) -> dict[str, list[StoredEvent]]:
    """Each case's events in the order they happened (ties: in the order received)."""
    rows = cursor.execute(
        "SELECT id, source, event_id, case_id, type, at, body FROM case_events"
        f" WHERE case_id IN ({in_list(len(case_ids))}) ORDER BY case_id, at, id",
        tuple(case_ids),
    )
    found: dict[str, list[StoredEvent]] = {}
    for row in rows:
        found.setdefault(row["case_id"], []).append(_stored(row))
    return found


def events_of(cursor: Cursor, case_id: str) -> list[StoredEvent]:
    """A case's events in the order they happened (ties: in the order received)."""
    return events_of_cases(cursor, [case_id]).get(case_id, [])


def _stored(row: dict[str, Any]) -> StoredEvent:
    return StoredEvent(
        int(row["id"]),
        row["source"],
        row["event_id"],
        row["case_id"],
        row["type"],
        float(row["at"]),
        json.loads(row["body"]),
    )
