"""Event clips: a short MP4 per analyzer event, cut from the segments, kept apart from them.

Clips live under their own root (`{root}/{camera}/{YYYY-MM-DD}/event-{id}.mp4`, UTC date of the
event's start) and in their own table, so the segment retention never sees them; a clip marked
as evidence (`evidence = 1`) is never to be deleted by any retention.

`ClipMaker` is the service: `request(event)` queues a clip; a thread cuts it once the wall
clock has passed the clip's end (event end + post roll) by `settle_s`, so the fragments that
cover it have reached the disk. An event still open after `max_event_s` gets a clip of its
first `max_event_s` (plus the rolls) without waiting for its end.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av

from hallwatch.config_base import ID_PATTERN
from hallwatch.events import Event
from hallwatch.store import Store
from recordings.cut import CutResult, NoFootage, cut
from recordings.index import SegmentIndex

log = logging.getLogger(__name__)

PRE_ROLL_S = 10.0
POST_ROLL_S = 10.0
MAX_EVENT_S = 600.0  # an event longer than this gets a clip of its beginning
SETTLE_S = 5.0  # after the clip's end, for the recorder to flush the GOP that covers it
_COLUMNS = ('id, event_id, camera, start, "end", path, bytes, sha256, frames, sources,'
            " created_at, evidence")  # fmt: skip
_UPSERT = (
    'INSERT INTO clips (event_id, camera, start, "end", path, bytes, sha256, frames, sources,'
    " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO UPDATE SET"
    ' start = excluded.start, "end" = excluded."end", path = excluded.path,'
    " bytes = excluded.bytes, sha256 = excluded.sha256, frames = excluded.frames,"
    " sources = excluded.sources, created_at = excluded.created_at RETURNING id"
)
_CUT_ERRORS = (OSError, av.error.FFmpegError, sqlite3.Error, ValueError)


@dataclass(frozen=True, slots=True)
class Clip:
    id: int
    event_id: int | None
    camera: str
    start: float  # wall clock (UNIX s) of the first frame
    end: float  # wall clock of the end of the last frame
    path: str  # relative to the clips root, '/' separators
    bytes: int
    sha256: str
    frames: int
    sources: list[dict[str, Any]]  # the cut's pieces: segment, start, end, offset
    created_at: float
    evidence: bool

    @property
    def segments(self) -> list[str]:
        return [str(source["segment"]) for source in self.sources]


def _clip(row: sqlite3.Row) -> Clip:
    values = dict(row)
    values["sources"] = json.loads(values["sources"])
    values["evidence"] = bool(values["evidence"])
    return Clip(**values)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def clip_range(
    event: Event,
    pre_roll: float = PRE_ROLL_S,
    post_roll: float = POST_ROLL_S,
    max_event_s: float = MAX_EVENT_S,
) -> tuple[float, float]:
    """Wall-clock [start, end) of the clip of `event` (an open event: its first max_event_s)."""
    end = event.start + max_event_s
    if event.end is not None:
        end = min(end, max(event.start, event.end))
    return event.start - pre_roll, end + post_roll


class ClipStore:
    """Clip rows in the store; files resolve against `root`."""

    def __init__(self, store: Store, root: Path) -> None:
        self.store = store
        self.root = root

    def path_of(self, clip: Clip) -> Path:
        return self.root / clip.path

    @staticmethod
    def relpath_for(event: Event) -> str:
        if event.id is None or not re.match(ID_PATTERN, event.camera):
            raise ValueError(f"event {event.id} of {event.camera!r} cannot name a clip file")
        utc = datetime.fromtimestamp(event.start, UTC)
        return f"{event.camera}/{utc:%Y-%m-%d}/event-{event.id}.mp4"

    def cut_event(
        self,
        index: SegmentIndex,
        event: Event,
        pre_roll: float = PRE_ROLL_S,
        post_roll: float = POST_ROLL_S,
        max_event_s: float = MAX_EVENT_S,
    ) -> Clip:
        """Cut the clip of `event` from the segments and record it (replacing an older cut).

        Raises NoFootage when nothing was recorded around the event.
        """
        relpath = self.relpath_for(event)
        start, end = clip_range(event, pre_roll, post_roll, max_event_s)
        result = cut(index, event.camera, start, end, self.root / relpath)
        return self.add(result, relpath, event.id)

    def add(self, result: CutResult, relpath: str, event_id: int | None = None) -> Clip:
        """Record a cut written at `root / relpath`; a clip of the same event is replaced."""
        path = self.root / relpath
        sources = json.dumps([piece.to_json() for piece in result.pieces])
        values = (event_id, result.camera, result.start, result.end, relpath,
                  path.stat().st_size, sha256_file(path), result.frames, sources,
                  time.time())  # fmt: skip
        with self.store.transaction() as conn:
            clip_id = int(conn.execute(_UPSERT, values).fetchone()[0])
        return self.get(clip_id)

    def get(self, clip_id: int) -> Clip:
        rows = self.store.query(f"SELECT {_COLUMNS} FROM clips WHERE id = ?", (clip_id,))
        if not rows:
            raise KeyError(clip_id)
        return _clip(rows[0])

    def clip_for_event(self, event_id: int) -> Clip | None:
        rows = self.store.query(f"SELECT {_COLUMNS} FROM clips WHERE event_id = ?", (event_id,))
        return _clip(rows[0]) if rows else None

    def clips(self, camera: str | None = None) -> list[Clip]:
        rows = self.store.query(
            f"SELECT {_COLUMNS} FROM clips WHERE ? IS NULL OR camera = ? ORDER BY start, id",
            (camera, camera),
        )
        return [_clip(row) for row in rows]

    def delete(self, clip: Clip) -> None:
        """Remove a clip's file, then its row (evidence is refused: it is never deleted)."""
        if clip.evidence:
            raise ValueError(f"clip {clip.id} is evidence and is never deleted")
        self.path_of(clip).unlink(missing_ok=True)
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM clips WHERE id = ? AND evidence = 0", (clip.id,))

    def set_evidence(self, clip_id: int, evidence: bool = True) -> None:
        """Mark (or unmark) a clip as evidence: retention never deletes evidence."""
        with self.store.transaction() as conn:
            cursor = conn.execute(
                "UPDATE clips SET evidence = ? WHERE id = ?", (int(evidence), clip_id)
            )
            if cursor.rowcount == 0:
                raise KeyError(clip_id)

    def events_without_clip(self, since: float) -> list[int]:
        """Ids of events starting at or after `since` that have no clip (oldest first)."""
        rows = self.store.query(
            "SELECT events.id FROM events LEFT JOIN clips ON clips.event_id = events.id"
            " WHERE clips.id IS NULL AND events.start >= ? ORDER BY events.start",
            (since,),
        )
        return [int(row[0]) for row in rows]


class ClipMaker:
    """Cuts the clip of each requested event once its footage is on disk, in a thread."""

    def __init__(
        self,
        clips: ClipStore,
        index: SegmentIndex,
        *,
        pre_roll: float = PRE_ROLL_S,
        post_roll: float = POST_ROLL_S,
        max_event_s: float = MAX_EVENT_S,
        settle_s: float = SETTLE_S,
        poll_s: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if pre_roll < 0 or post_roll < 0 or max_event_s <= 0 or settle_s < 0:
            raise ValueError("clip rolls and settle time must not be negative")
        self.clips = clips
        self.index = index
        self.pre_roll, self.post_roll, self.max_event_s = pre_roll, post_roll, max_event_s
        self.settle_s = settle_s
        self.poll_s = poll_s
        self.clock = clock
        self._pending: dict[int, Event] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def request(self, event: Event) -> None:
        """Queue the clip of a stored event (open or ended); a later request replaces it."""
        if event.id is None:
            raise ValueError("only a stored event (with an id) can get a clip")
        with self._lock:
            self._pending[event.id] = event

    def request_missing(self, since: float) -> int:
        """Queue every event since `since` that has no clip (after a restart); how many."""
        ids = self.clips.events_without_clip(since)
        for event_id in ids:
            self.request(self.clips.store.get_event(event_id))
        return len(ids)

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def clip_range(self, event: Event) -> tuple[float, float]:
        return clip_range(event, self.pre_roll, self.post_roll, self.max_event_s)

    def run_pending(self, now: float | None = None) -> list[Clip]:
        """Cut the clips that are due at `now`; the thread calls this every `poll_s`."""
        now = self.clock() if now is None else now
        made = []
        for event in self._due(now):
            clip = self._make(event)
            if clip is not None:
                made.append(clip)
        return made

    def _due(self, now: float) -> list[Event]:
        """Take the requests whose clip is due out of the queue (and the events now gone)."""
        with self._lock:
            pending = list(self._pending.items())
        due = []
        for event_id, event in pending:
            current = self._refresh(event)
            if current is not None and self.clip_range(current)[1] + self.settle_s > now:
                continue
            with self._lock:
                if self._pending.get(event_id) is not event:
                    continue  # requested again meanwhile: the next round sees the new one
                del self._pending[event_id]
            if current is not None:
                due.append(current)
        return due

    def _refresh(self, event: Event) -> Event | None:
        """The event as stored now (an open one may have ended); None if it is gone."""
        if event.end is not None:
            return event
        try:
            return self.clips.store.get_event(event.id or 0)
        except KeyError:
            log.warning("clips: event %s is gone, no clip", event.id)
            return None

    def _make(self, event: Event) -> Clip | None:
        try:
            clip = self.clips.cut_event(self.index, event, self.pre_roll, self.post_roll,
                                        self.max_event_s)  # fmt: skip
        except NoFootage:
            log.info("clips: no footage for event %s of %s", event.id, event.camera)
            return None
        except _CUT_ERRORS as error:
            log.error("clips: cannot cut the clip of event %s: %s", event.id, error)
            return None
        log.info("clips: event %s: %s (%d frames)", event.id, clip.path, clip.frames)
        return clip

    # --- the thread -------------------------------------------------------------------------

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="clip-maker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """End the thread; requests not yet due are dropped (request_missing finds them)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stopping.wait(self.poll_s):
            try:
                self.run_pending()
            except Exception:  # a bug must not end clip making
                log.exception("clips: unexpected error")
