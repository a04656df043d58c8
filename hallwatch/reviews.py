"""Operators' acknowledgements of alarms and inspectors' verdicts on events, over the store.

* An acknowledgement (`event_acks`) is stored once per event: acknowledging again changes
  nothing and answers the first one (who and when).
* Verdicts (`verdicts`) are append-only: the newest row of an event is its verdict, the older
  rows are its history.
* Both bump the event's `seq` in the same transaction, so the console's event stream
  re-sends the event (with its new ack or verdict) to every open console.

Severity is a pure function of an event's type and details (`severity`):

    critical  case_red, intrusion
    major     counter_vacant, queue_buildup, case_yellow, and an overcrowded zone holding
              at least twice its allowed persons
    minor     everything else (long_wait, case_warning, overcrowded, unknown types)
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from hallwatch.config import Site
from hallwatch.events import Event, EventType
from hallwatch.store import Store

MAX_NOTE_CHARS = 2000


class Severity(StrEnum):
    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"


class Verdict(StrEnum):
    CONFIRMED = "confirmed"
    FALSE_ALARM = "false_alarm"
    FOLLOW_UP = "follow_up"


class VerdictFilter(StrEnum):
    """The review queue's verdict filter: no verdict yet, any verdict, one verdict, or all."""

    UNREVIEWED = "unreviewed"
    REVIEWED = "reviewed"
    CONFIRMED = "confirmed"
    FALSE_ALARM = "false_alarm"
    FOLLOW_UP = "follow_up"
    ANY = "any"


SEVERITY_OF_TYPE: dict[str, Severity] = {
    EventType.CASE_RED: Severity.CRITICAL,
    EventType.INTRUSION: Severity.CRITICAL,
    EventType.COUNTER_VACANT: Severity.MAJOR,
    EventType.QUEUE_BUILDUP: Severity.MAJOR,
    EventType.CASE_YELLOW: Severity.MAJOR,
}


def severity(event_type: str, details: Mapping[str, Any]) -> Severity:
    """How urgent an event is for the people watching (see the module docstring)."""
    if event_type == EventType.OVERCROWDED:
        persons, allowed = details.get("persons"), details.get("max_persons")
        if isinstance(persons, int) and isinstance(allowed, int) and 0 < allowed <= persons / 2:
            return Severity.MAJOR
    return SEVERITY_OF_TYPE.get(event_type, Severity.MINOR)


@dataclass(frozen=True, slots=True)
class Ack:
    event_id: int
    by: str
    at: float

    def to_json(self) -> dict[str, Any]:
        return {"by": self.by, "at": self.at}


@dataclass(frozen=True, slots=True)
class VerdictEntry:
    id: int
    event_id: int
    verdict: str
    note: str
    by: str
    at: float

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "verdict": self.verdict, "note": self.note, "by": self.by,
                "at": self.at}  # fmt: skip


def _verdict_from_row(row: sqlite3.Row) -> VerdictEntry:
    return VerdictEntry(row["id"], row["event_id"], row["verdict"], row["note"],
                        row["username"], row["at"])  # fmt: skip


def _bump_seq(conn: sqlite3.Connection, event_id: int) -> None:
    conn.execute(
        "UPDATE events SET seq = (SELECT COALESCE(MAX(seq), 0) + 1 FROM events) WHERE id = ?",
        (event_id,),
    )


def _require_event(conn: sqlite3.Connection, event_id: int) -> None:
    if conn.execute("SELECT 1 FROM events WHERE id = ?", (event_id,)).fetchone() is None:
        raise KeyError(event_id)


def acknowledge(store: Store, event_id: int, username: str, at: float) -> tuple[Ack, bool]:
    """Acknowledge an event once; (the stored ack, whether this call stored it).

    Raises KeyError for an unknown event.
    """
    with store.transaction() as conn:
        _require_event(conn, event_id)
        row = conn.execute(
            "SELECT username, at FROM event_acks WHERE event_id = ?", (event_id,)
        ).fetchone()
        if row is not None:
            return Ack(event_id, row["username"], row["at"]), False
        conn.execute(
            "INSERT INTO event_acks (event_id, username, at) VALUES (?, ?, ?)",
            (event_id, username, at),
        )
        _bump_seq(conn, event_id)
    return Ack(event_id, username, at), True


def add_verdict(
    store: Store, event_id: int, verdict: Verdict, note: str, username: str, at: float
) -> VerdictEntry:
    """Append a verdict (it becomes the event's verdict). Raises KeyError for an unknown event."""
    if len(note) > MAX_NOTE_CHARS:
        raise ValueError(f"a note has at most {MAX_NOTE_CHARS} characters")
    with store.transaction() as conn:
        _require_event(conn, event_id)
        cursor = conn.execute(
            "INSERT INTO verdicts (event_id, verdict, note, username, at) VALUES (?, ?, ?, ?, ?)",
            (event_id, verdict.value, note, username, at),
        )
        _bump_seq(conn, event_id)
    return VerdictEntry(int(cursor.lastrowid or 0), event_id, verdict.value, note, username, at)


def verdict_history(store: Store, event_id: int) -> list[VerdictEntry]:
    """Every verdict given on the event, newest first."""
    rows = store.query("SELECT * FROM verdicts WHERE event_id = ? ORDER BY id DESC", (event_id,))
    return [_verdict_from_row(row) for row in rows]


def ack_of(store: Store, event_id: int) -> Ack | None:
    rows = store.query("SELECT * FROM event_acks WHERE event_id = ?", (event_id,))
    return Ack(event_id, rows[0]["username"], rows[0]["at"]) if rows else None


@dataclass(frozen=True, slots=True)
class Review:
    """What the console adds to an event: its ack and its verdict (newest), if any."""

    ack: Ack | None = None
    verdict: VerdictEntry | None = None


_REVIEWS_SQL = """
SELECT e.id AS event_id, a.username AS ack_by, a.at AS ack_at,
       v.id, v.verdict, v.note, v.username, v.at
FROM events e
LEFT JOIN event_acks a ON a.event_id = e.id
LEFT JOIN verdicts v ON v.id = (SELECT MAX(id) FROM verdicts WHERE event_id = e.id)
WHERE e.id IN ({marks}) AND (a.event_id IS NOT NULL OR v.id IS NOT NULL)
"""


def reviews_of(store: Store, event_ids: Iterable[int]) -> dict[int, Review]:
    """Acks and verdicts of many events in one query (events with neither are left out)."""
    ids = sorted(set(event_ids))
    if not ids:
        return {}
    rows = store.query(_REVIEWS_SQL.format(marks=", ".join("?" * len(ids))), ids)
    result = {}
    for row in rows:
        ack = None if row["ack_by"] is None else Ack(row["event_id"], row["ack_by"], row["ack_at"])
        verdict = None if row["id"] is None else _verdict_from_row(row)
        result[int(row["event_id"])] = Review(ack, verdict)
    return result


def event_json(event: Event, review: Review | None) -> dict[str, Any]:
    """The event as the console shows it: with severity, ack and verdict."""
    review = review or Review()
    return {
        **event.to_json(),
        "severity": severity(event.type, event.details).value,
        "ack": None if review.ack is None else review.ack.to_json(),
        "verdict": None if review.verdict is None else review.verdict.to_json(),
    }


def events_json(store: Store, events: Sequence[Event]) -> list[dict[str, Any]]:
    """Many events as the console shows them, with one lookup for their acks and verdicts."""
    reviews = reviews_of(store, (event.id for event in events if event.id is not None))
    return [event_json(event, reviews.get(event.id or 0)) for event in events]


# --- the review queue ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueFilter:
    """The review queue's filters as given (ids), before they are checked against the site."""

    hall: str | None = None
    department: str | None = None
    window: str | None = None
    camera: str | None = None
    type: str | None = None
    since: float | None = None
    until: float | None = None
    verdict: VerdictFilter = VerdictFilter.ANY


@dataclass(frozen=True, slots=True)
class QueueQuery:
    """The review queue's filters resolved against the site: plain store conditions."""

    cameras: frozenset[str] | None = None  # from the hall (and the camera filter)
    windows: frozenset[str] | None = None  # from the window filter
    department: str | None = None  # its windows, or a case event's own department
    department_windows: frozenset[str] = field(default_factory=frozenset)
    type: str | None = None
    since: float | None = None
    until: float | None = None
    verdict: VerdictFilter = VerdictFilter.ANY
    limit: int = 50
    offset: int = 0


def departments(site: Site) -> list[str]:
    """The site's departments (from its windows), sorted."""
    return sorted({window.department for window in site.windows})


def filter_problems(site: Site, given: QueueFilter) -> list[tuple[str, str]]:
    """(field, message) for every filter value the site does not know."""
    problems = []
    known: tuple[tuple[str, str | None, set[str]], ...] = (
        ("hall", given.hall, {hall.id for hall in site.halls}),
        ("department", given.department, set(departments(site))),
        ("window", given.window, {window.id for window in site.windows}),
        ("camera", given.camera, {camera.id for camera in site.cameras}),
        ("type", given.type, {kind.value for kind in EventType}),
    )
    for name, value, values in known:
        if value is not None and value not in values:
            problems.append((name, f"unknown {name} '{value}'"))
    if given.since is not None and given.until is not None and given.until < given.since:
        problems.append(("to", "'to' must not be before 'from'"))
    return problems


def resolve_filter(site: Site, given: QueueFilter, limit: int, offset: int) -> QueueQuery:
    """The store conditions of checked filters (see filter_problems)."""
    cameras: frozenset[str] | None = None
    if given.hall is not None:
        cameras = frozenset(c.id for c in site.cameras if c.hall == given.hall)
    if given.camera is not None:
        cameras = frozenset({given.camera}) & (cameras if cameras is not None else {given.camera})
    department_windows = frozenset(
        w.id
        for w in site.windows
        if given.department is not None and w.department == given.department
    )
    return QueueQuery(
        cameras=cameras,
        windows=None if given.window is None else frozenset({given.window}),
        department=given.department,
        department_windows=department_windows,
        type=given.type,
        since=given.since,
        until=given.until,
        verdict=given.verdict,
        limit=limit,
        offset=offset,
    )


_LATEST_VERDICT = (
    "(SELECT verdict FROM verdicts WHERE event_id = events.id ORDER BY id DESC LIMIT 1)"
)


def _in(column: str, values: frozenset[str]) -> tuple[str, list[Any]]:
    if not values:
        return "0", []
    return f"{column} IN ({', '.join('?' * len(values))})", sorted(values)


def _verdict_clause(verdict: VerdictFilter) -> tuple[str | None, list[Any]]:
    if verdict is VerdictFilter.ANY:
        return None, []
    if verdict is VerdictFilter.UNREVIEWED:
        return "NOT EXISTS (SELECT 1 FROM verdicts WHERE event_id = events.id)", []
    if verdict is VerdictFilter.REVIEWED:
        return "EXISTS (SELECT 1 FROM verdicts WHERE event_id = events.id)", []
    return f"{_LATEST_VERDICT} = ?", [verdict.value]


def queue_conditions(query: QueueQuery) -> tuple[list[str], list[Any]]:
    """SQL conditions (over `events`) and their parameters for the review queue."""
    clauses: list[str] = []
    params: list[Any] = []

    def add(clause: str | None, values: Sequence[Any]) -> None:
        if clause is not None:
            clauses.append(clause)
            params.extend(values)

    if query.cameras is not None:
        add(*_in("camera", query.cameras))
    if query.windows is not None:
        add(*_in("window", query.windows))
    if query.department is not None:
        window_clause, window_params = _in("window", query.department_windows)
        add(f"({window_clause} OR json_extract(details, '$.department') = ?)",
            [*window_params, query.department])  # fmt: skip
    if query.type is not None:
        add("type = ?", [query.type])
    if query.since is not None:
        add('("end" IS NULL OR "end" >= ?)', [query.since])
    if query.until is not None:
        add("start < ?", [query.until])
    add(*_verdict_clause(query.verdict))
    return clauses, params


def review_queue(store: Store, query: QueueQuery) -> tuple[list[Event], int]:
    """The events of the review queue, newest first, and how many match in all."""
    clauses, params = queue_conditions(query)
    return store.event_page(clauses, params, query.limit, query.offset)
