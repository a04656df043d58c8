"""The store: SQLite in WAL mode, schema version with migrations, thread-safe access.

Every write commits before the call returns, so an event is durable before it is announced.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hallwatch.events import Event

MIGRATIONS: tuple[str, ...] = (
    # 1: users, sessions, events, audit log
    """
    CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        username TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        role TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL
    );
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        seq INTEGER NOT NULL,
        type TEXT NOT NULL,
        camera TEXT NOT NULL,
        window TEXT,
        start REAL NOT NULL,
        "end" REAL,
        detected_at REAL NOT NULL,
        details TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX events_start ON events(start);
    CREATE INDEX events_seq ON events(seq);
    CREATE INDEX events_window ON events(window, start);
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        username TEXT,
        action TEXT NOT NULL,
        target TEXT,
        details TEXT NOT NULL DEFAULT '{}'
    );
    """,
    # 2: recording segments (paths relative to the recordings root)
    """
    CREATE TABLE segments (
        id INTEGER PRIMARY KEY,
        camera TEXT NOT NULL,
        path TEXT NOT NULL UNIQUE,
        session INTEGER,
        start REAL NOT NULL,
        "end" REAL,
        bytes INTEGER,
        state TEXT NOT NULL CHECK (state IN ('open', 'closed')),
        codec TEXT,
        width INTEGER,
        height INTEGER
    );
    CREATE INDEX segments_camera_start ON segments(camera, start);
    CREATE INDEX segments_state ON segments(state);
    """,
    # 3: camera outages: no video (and so no recording or analysis) from start to end
    """
    CREATE TABLE gaps (
        id INTEGER PRIMARY KEY,
        camera TEXT NOT NULL,
        start REAL NOT NULL,
        "end" REAL,
        reason TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX gaps_camera_start ON gaps(camera, start);
    """,
    # 4: event and evidence clips cut from the segments (paths relative to the clips root);
    # evidence = 1: never deleted by retention
    """
    CREATE TABLE clips (
        id INTEGER PRIMARY KEY,
        event_id INTEGER UNIQUE REFERENCES events(id),
        camera TEXT NOT NULL,
        start REAL NOT NULL,
        "end" REAL NOT NULL,
        path TEXT NOT NULL UNIQUE,
        bytes INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        frames INTEGER NOT NULL DEFAULT 0,
        sources TEXT NOT NULL DEFAULT '[]',
        created_at REAL NOT NULL,
        evidence INTEGER NOT NULL DEFAULT 0 CHECK (evidence IN (0, 1))
    );
    CREATE INDEX clips_camera_start ON clips(camera, start);
    """,
    # 5: statistics for reports: a window's service state and a queue's length per clock minute
    # (UNIX seconds of the minute's start), and every finished wait in a queue
    """
    CREATE TABLE window_minutes (
        window TEXT NOT NULL,
        minute REAL NOT NULL,
        state TEXT NOT NULL,
        seconds TEXT NOT NULL,
        PRIMARY KEY (window, minute)
    );
    CREATE TABLE queue_minutes (
        queue TEXT NOT NULL,
        minute REAL NOT NULL,
        mean REAL NOT NULL,
        maximum REAL NOT NULL,
        covered_s REAL NOT NULL,
        PRIMARY KEY (queue, minute)
    );
    CREATE TABLE queue_waits (
        id INTEGER PRIMARY KEY,
        queue TEXT NOT NULL,
        track INTEGER NOT NULL,
        entered REAL NOT NULL,
        "left" REAL NOT NULL,
        wait_s REAL NOT NULL
    );
    CREATE INDEX queue_waits_queue_entered ON queue_waits(queue, entered);
    """,
    # 6: the console's work: operators' acknowledgements of alarms, inspectors' verdicts
    # (append-only: the newest row per event is its verdict), login throttling, users
    # limited to halls (JSON list, empty = all) or disabled, and indexes for the audit log
    # and the review queue
    """
    CREATE TABLE event_acks (
        event_id INTEGER PRIMARY KEY REFERENCES events(id),
        username TEXT NOT NULL,
        at REAL NOT NULL
    );
    CREATE TABLE verdicts (
        id INTEGER PRIMARY KEY,
        event_id INTEGER NOT NULL REFERENCES events(id),
        verdict TEXT NOT NULL CHECK (verdict IN ('confirmed', 'false_alarm', 'follow_up')),
        note TEXT NOT NULL DEFAULT '',
        username TEXT NOT NULL,
        at REAL NOT NULL
    );
    CREATE INDEX verdicts_event ON verdicts(event_id, id);
    CREATE TABLE login_failures (
        key TEXT PRIMARY KEY,
        failures INTEGER NOT NULL,
        first_at REAL NOT NULL,
        last_at REAL NOT NULL,
        locked_until REAL NOT NULL DEFAULT 0
    );
    ALTER TABLE users ADD COLUMN halls TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX audit_at ON audit(at);
    CREATE INDEX audit_action_at ON audit(action, at);
    CREATE INDEX events_type_start ON events(type, start);
    """,
    # --- relay upload outbox (relay/outbox.py owns these tables and their SQL) --------------
    # 7: how far a relay has read the event changes (a cursor on events.seq); one message per
    # uploaded event change, kept until delivered (and 7 days after); the content digest last
    # uploaded per event (an ack or a verdict alone sends nothing); counters that outlive
    # pruning
    """
    CREATE TABLE relay_cursors (
        name TEXT PRIMARY KEY,
        seq INTEGER NOT NULL
    );
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        source TEXT NOT NULL,
        message_id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL DEFAULT 0,
        rejected INTEGER NOT NULL DEFAULT 0 CHECK (rejected IN (0, 1)),
        last_error TEXT,
        last_attempt_at REAL,
        delivered_at REAL
    );
    CREATE INDEX outbox_pending ON outbox(source, id) WHERE delivered_at IS NULL;
    CREATE INDEX outbox_delivered ON outbox(delivered_at) WHERE delivered_at IS NOT NULL;
    CREATE TABLE outbox_digests (
        event_id INTEGER PRIMARY KEY,
        digest TEXT NOT NULL,
        ended INTEGER NOT NULL CHECK (ended IN (0, 1))
    );
    CREATE TABLE relay_counters (
        name TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    );
    """,
    # --- end of the relay upload outbox ------------------------------------------------------
)

SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    password_hash: str
    role: str
    halls: tuple[str, ...] = ()  # the halls the user is limited to; empty = all halls
    disabled: bool = False
    created_at: float = 0.0


@dataclass(frozen=True, slots=True)
class LoginFailures:
    """Failed logins counted under one key (a user name or a client address)."""

    failures: int
    first_at: float
    last_at: float
    locked_until: float


@dataclass(frozen=True, slots=True)
class EventQuery:
    window: str | None = None
    camera: str | None = None
    type: str | None = None
    since: float | None = None  # events that end at or after (or are open)
    until: float | None = None  # events that start before
    limit: int = 50
    offset: int = 0
    cameras: frozenset[str] | None = None  # only events of these cameras (a user's halls)


class StoreError(Exception):
    """The store cannot be opened or is newer than this program."""


def event_from_row(row: sqlite3.Row) -> Event:
    return Event(
        id=row["id"],
        seq=row["seq"],
        type=row["type"],
        camera=row["camera"],
        window=row["window"],
        start=row["start"],
        end=row["end"],
        detected_at=row["detected_at"],
        details=json.loads(row["details"]),
    )


def migrate(conn: sqlite3.Connection) -> int:
    """Apply pending migrations; returns the schema version now in the file."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise StoreError(f"store schema {version} is newer than this program ({SCHEMA_VERSION})")
    for number in range(version, SCHEMA_VERSION):
        conn.executescript(
            f"BEGIN;\n{MIGRATIONS[number]}\nPRAGMA user_version = {number + 1};\nCOMMIT;"
        )
    return SCHEMA_VERSION


class Store:
    """One connection guarded by a lock; safe to share between reader threads and the console."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.execute("PRAGMA busy_timeout=5000")
        with self._lock:
            self.schema_version = migrate(self._conn)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE … COMMIT) under the store's lock."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Rows of a read-only statement."""
        with self._lock:
            return list(self._conn.execute(sql, params).fetchall())

    # --- events -----------------------------------------------------------------------------

    @staticmethod
    def _next_seq(conn: sqlite3.Connection) -> int:
        return int(conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM events").fetchone()[0])

    def add_event(self, event: Event) -> Event:
        """Insert `event` durably; returns it with its id and seq."""
        with self.transaction() as conn:
            seq = self._next_seq(conn)
            cursor = conn.execute(
                'INSERT INTO events (seq, type, camera, window, start, "end", detected_at, details)'
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    seq,
                    event.type,
                    event.camera,
                    event.window,
                    event.start,
                    event.end,
                    event.detected_at,
                    json.dumps(event.details, ensure_ascii=False),
                ),
            )
            event_id = cursor.lastrowid
        return dataclasses.replace(event, id=event_id, seq=seq)

    def end_event(self, event_id: int, end: float, details: dict[str, Any] | None = None) -> Event:
        with self.transaction() as conn:
            row = conn.execute("SELECT details FROM events WHERE id = ?", (event_id,)).fetchone()
            if row is None:
                raise KeyError(event_id)
            merged = {**json.loads(row["details"]), **(details or {})}
            conn.execute(
                'UPDATE events SET "end" = ?, seq = ?, details = ? WHERE id = ?',
                (end, self._next_seq(conn), json.dumps(merged, ensure_ascii=False), event_id),
            )
        return self.get_event(event_id)

    def end_open_events(self, at: float, reason: str) -> int:
        """Close events left open by a previous run (crash or stop); returns how many."""
        open_ids = [row["id"] for row in self.query('SELECT id FROM events WHERE "end" IS NULL')]
        for event_id in open_ids:
            self.end_event(event_id, at, {"closed_by": reason})
        return len(open_ids)

    def event_intervals(self, camera: str) -> list[tuple[float, float | None]]:
        """(start, end) of every event of `camera` (end None while it is open)."""
        rows = self.query('SELECT start, "end" FROM events WHERE camera = ?', (camera,))
        return [(row["start"], row["end"]) for row in rows]

    def get_event(self, event_id: int) -> Event:
        rows = self.query("SELECT * FROM events WHERE id = ?", (event_id,))
        if not rows:
            raise KeyError(event_id)
        return event_from_row(rows[0])

    def list_events(self, query: EventQuery) -> tuple[list[Event], int]:
        """Events matching `query`, newest start first, and the total count."""
        clauses, params = _event_filters(query)
        return self.event_page(clauses, params, query.limit, query.offset)

    def event_page(
        self, clauses: Sequence[str], params: Sequence[Any], limit: int, offset: int
    ) -> tuple[list[Event], int]:
        """One page of the events meeting all `clauses`, newest start first, and their total."""
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        total = int(self.query(f"SELECT COUNT(*) FROM events {where}", params)[0][0])
        rows = self.query(
            f"SELECT * FROM events {where} ORDER BY start DESC, id DESC LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return [event_from_row(row) for row in rows], total

    def events_after(self, seq: int, limit: int = 200) -> list[Event]:
        rows = self.query("SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit))
        return [event_from_row(row) for row in rows]

    def max_seq(self) -> int:
        return int(self.query("SELECT COALESCE(MAX(seq), 0) FROM events")[0][0])

    # --- camera outages (gaps) ---------------------------------------------------------------

    def open_gap(self, camera: str, start: float, reason: str) -> None:
        """Record that `camera` has been without video since `start` (kept if already open)."""
        with self.transaction() as conn:
            row = conn.execute(
                'SELECT id FROM gaps WHERE camera = ? AND "end" IS NULL', (camera,)
            ).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO gaps (camera, start, reason) VALUES (?, ?, ?)",
                    (camera, start, reason),
                )

    def close_gap(self, camera: str, end: float) -> None:
        with self.transaction() as conn:
            conn.execute(
                'UPDATE gaps SET "end" = MAX(start, ?) WHERE camera = ? AND "end" IS NULL',
                (end, camera),
            )

    def gaps(self, camera: str, since: float, until: float) -> list[tuple[float, float | None]]:
        """Outages of `camera` overlapping [since, until], oldest first (end None: ongoing)."""
        rows = self.query(
            'SELECT start, "end" FROM gaps WHERE camera = ? AND start < ?'
            ' AND ("end" IS NULL OR "end" > ?) ORDER BY start',
            (camera, until, since),
        )
        return [(row["start"], row["end"]) for row in rows]

    # --- users and sessions -----------------------------------------------------------------

    def add_user(self, username: str, password_hash: str, role: str) -> User:
        created_at = time.time()
        with self.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO users (username, password_hash, role, created_at) VALUES (?, ?, ?, ?)",
                (username, password_hash, role, created_at),
            )
        user_id = int(cursor.lastrowid or 0)
        return User(user_id, username, password_hash, role, created_at=created_at)

    def set_password(self, username: str, password_hash: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                "UPDATE users SET password_hash = ? WHERE username = ?", (password_hash, username)
            )

    def user(self, username: str) -> User | None:
        rows = self.query("SELECT * FROM users WHERE username = ?", (username,))
        return _user_from_row(rows[0]) if rows else None

    def add_session(self, token_hash: str, user_id: int, expires_at: float) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM sessions WHERE expires_at < ?", (time.time(),))
            conn.execute(
                "INSERT INTO sessions (token_hash, user_id, created_at, expires_at)"
                " VALUES (?, ?, ?, ?)",
                (token_hash, user_id, time.time(), expires_at),
            )

    def session_user(self, token_hash: str, now: float) -> User | None:
        rows = self.query(
            "SELECT users.* FROM sessions JOIN users ON users.id = sessions.user_id"
            " WHERE sessions.token_hash = ? AND sessions.expires_at > ? AND users.disabled = 0",
            (token_hash, now),
        )
        return _user_from_row(rows[0]) if rows else None

    def delete_session(self, token_hash: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))

    def users(self) -> list[User]:
        return [_user_from_row(row) for row in self.query("SELECT * FROM users ORDER BY username")]

    def update_user(
        self,
        username: str,
        *,
        role: str | None = None,
        halls: Sequence[str] | None = None,
        disabled: bool | None = None,
    ) -> User | None:
        """Change what is given; a disabled user's sessions end. None when there is no such user."""
        changes: list[tuple[str, Any]] = []
        if role is not None:
            changes.append(("role", role))
        if halls is not None:
            changes.append(("halls", json.dumps(list(halls), ensure_ascii=False)))
        if disabled is not None:
            changes.append(("disabled", int(disabled)))
        with self.transaction() as conn:
            if changes:
                assignments = ", ".join(f"{column} = ?" for column, _ in changes)
                conn.execute(
                    f"UPDATE users SET {assignments} WHERE username = ?",
                    (*[value for _, value in changes], username),
                )
            if disabled:
                conn.execute(_END_SESSIONS, (username,))
            rows = conn.execute("SELECT * FROM users WHERE username = ?", (username,)).fetchall()
        return _user_from_row(rows[0]) if rows else None

    def delete_user(self, username: str) -> bool:
        """Remove a user and (by cascade) its sessions; False when there was no such user."""
        with self.transaction() as conn:
            cursor = conn.execute("DELETE FROM users WHERE username = ?", (username,))
        return cursor.rowcount > 0

    def end_sessions(self, username: str) -> None:
        with self.transaction() as conn:
            conn.execute(_END_SESSIONS, (username,))

    def count_active_admins(self) -> int:
        rows = self.query("SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0")
        return int(rows[0][0])

    # --- login throttling ---------------------------------------------------------------------

    def login_failures(self, keys: Sequence[str]) -> dict[str, LoginFailures]:
        marks = ", ".join("?" for _ in keys)
        rows = self.query(f"SELECT * FROM login_failures WHERE key IN ({marks})", tuple(keys))
        return {
            row["key"]: LoginFailures(
                row["failures"], row["first_at"], row["last_at"], row["locked_until"]
            )
            for row in rows
        }

    def put_login_failures(self, key: str, state: LoginFailures) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO login_failures"
                " (key, failures, first_at, last_at, locked_until) VALUES (?, ?, ?, ?, ?)",
                (key, state.failures, state.first_at, state.last_at, state.locked_until),
            )

    def clear_login_failures(self, key: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM login_failures WHERE key = ?", (key,))

    def prune_login_failures(self, idle_since: float) -> int:
        """Forget the keys whose last failure and lock both ended before `idle_since`."""
        with self.transaction() as conn:
            cursor = conn.execute(
                "DELETE FROM login_failures WHERE MAX(last_at, locked_until) < ?", (idle_since,)
            )
            return cursor.rowcount

    # --- audit log --------------------------------------------------------------------------

    def audit(
        self, username: str | None, action: str, target: str | None = None, **details: Any
    ) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO audit (at, username, action, target, details) VALUES (?, ?, ?, ?, ?)",
                (time.time(), username, action, target, json.dumps(details, ensure_ascii=False)),
            )

    def audit_entries(self, limit: int = 100) -> list[dict[str, Any]]:
        rows = self.query("SELECT * FROM audit ORDER BY id DESC LIMIT ?", (limit,))
        return [{**dict(row), "details": json.loads(row["details"])} for row in rows]


_END_SESSIONS = "DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE username = ?)"


def _user_from_row(row: sqlite3.Row) -> User:
    halls = json.loads(row["halls"]) if row["halls"] else []
    return User(
        row["id"],
        row["username"],
        row["password_hash"],
        row["role"],
        halls=tuple(str(hall) for hall in halls),
        disabled=bool(row["disabled"]),
        created_at=float(row["created_at"]),
    )


def _event_filters(query: EventQuery) -> tuple[list[str], list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (("window", query.window), ("camera", query.camera), ("type", query.type)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if query.cameras is not None:
        clauses.append(f"camera IN ({', '.join('?' for _ in query.cameras) or 'NULL'})")
        params.extend(sorted(query.cameras))
    if query.since is not None:
        clauses.append('("end" IS NULL OR "end" >= ?)')
        params.append(query.since)
    if query.until is not None:
        clauses.append("start < ?")
        params.append(query.until)
    return clauses, params
