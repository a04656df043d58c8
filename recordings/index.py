"""The index of recording segments in the store, and recovery of segments a crash left open.

A segment's row is inserted (state 'open') before its file gets its first byte and closed once
the file is complete, so after a crash every file a writer created has a row: `recover()` turns
each row left 'open' into a closed one covering what the file holds readable, or removes it.
Paths in the table are relative to the recordings root, with '/' separators.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import av

from hallwatch.store import Store

log = logging.getLogger(__name__)

OPEN = "open"
CLOSED = "closed"
_COLUMNS = 'id, camera, path, session, start, "end", bytes, state, codec, width, height'
# what reading a cut or damaged file can raise
_READ_ERRORS = (av.error.FFmpegError, OSError, ValueError, IndexError)


@dataclass(frozen=True, slots=True)
class Segment:
    """One recorded file: wall-clock UTC span [start, end) in UNIX seconds."""

    id: int
    camera: str
    path: str  # relative to the recordings root
    session: int | None
    start: float
    end: float | None  # None while open
    bytes: int | None  # None while open
    state: str  # 'open' or 'closed'
    codec: str | None = None
    width: int | None = None
    height: int | None = None

    @property
    def closed(self) -> bool:
        return self.state == CLOSED

    @property
    def duration(self) -> float | None:
        return None if self.end is None else self.end - self.start


@dataclass(frozen=True, slots=True)
class Readable:
    """What a (possibly torn) segment file holds that a player can use."""

    duration: float  # seconds from the first packet to the end of the last intact one
    packets: int
    keyframes: int


@dataclass(slots=True)
class RecoveryReport:
    closed: list[Segment] = field(default_factory=list)  # open rows closed on their readable part
    removed: list[Segment] = field(default_factory=list)  # rows (and files) with nothing readable


class _Scan:
    """Accumulates the intact packets of one video stream."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.first: int | None = None
        self.end: int | None = None
        self.last: int | None = None
        self.step = 0
        self.packets = 0
        self.keyframes = 0
        self.decoded = False

    def add(self, packet: Any) -> None:
        pts = int(packet.pts)
        if packet.duration:
            self.step = int(packet.duration)
        elif self.last is not None and pts > self.last:
            self.step = pts - self.last  # no duration stored: the spacing of the packets
        self.last = pts
        self.first = pts if self.first is None else min(self.first, pts)
        self.end = max(self.end if self.end is not None else pts, pts + self.step)
        self.packets += 1
        self.keyframes += int(bool(packet.is_keyframe))
        if not self.decoded and self.keyframes:
            self.decoded = self._decodes(packet)

    def _decodes(self, packet: Any) -> bool:
        """Decode from the first keyframe until a picture comes out."""
        try:
            return bool(self.stream.codec_context.decode(packet))
        except av.error.FFmpegError:
            return False

    def flush(self) -> None:
        if not self.decoded and self.keyframes:
            try:
                self.decoded = bool(self.stream.codec_context.decode(None))
            except av.error.FFmpegError:
                self.decoded = False

    def result(self) -> Readable | None:
        if not self.decoded or self.first is None or self.end is None:
            return None
        seconds = float((self.end - self.first) * self.stream.time_base)
        return Readable(seconds, self.packets, self.keyframes)


def readable_part(path: Path) -> Readable | None:
    """The readable part of a segment file; None if missing or without a decodable keyframe.

    A file cut by a crash ends in a torn fragment: demuxing stops at the first error or
    corrupt packet there.
    """
    if not path.is_file():  # missing, or not a file we wrote (a device, a directory)
        return None
    try:
        with av.open(str(path)) as container:
            scan = _Scan(container.streams.video[0])
            try:
                for packet in container.demux(scan.stream):
                    if packet.is_corrupt:
                        break
                    if packet.size and packet.pts is not None:
                        scan.add(packet)
            except av.error.FFmpegError as error:
                log.debug("recordings: %s readable up to a damaged tail: %s", path, error)
            scan.flush()
            return scan.result()
    except _READ_ERRORS as error:
        log.debug("recordings: %s unreadable: %s", path, error)
        return None


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        path.unlink()


def _segment(row: sqlite3.Row) -> Segment:
    return Segment(*row)  # the columns of _COLUMNS, in the order of the fields


def _check_relpath(relpath: str) -> None:
    pure = PurePosixPath(relpath)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts or "\\" in relpath:
        raise ValueError(f"segment path must be relative to the root: {relpath!r}")


class SegmentIndex:
    """Segment rows in the store; file paths resolve against `root`."""

    def __init__(self, store: Store, root: Path) -> None:
        self.store = store
        self.root = root

    def path_of(self, segment: Segment) -> Path:
        return self.root / segment.path

    def open(
        self,
        camera: str,
        relpath: str,
        start: float,
        session: int | None,
        codec: str | None,
        width: int | None,
        height: int | None,
    ) -> int:
        """Insert an 'open' row (before the file is written); returns its id."""
        _check_relpath(relpath)
        with self.store.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO segments (camera, path, session, start, state, codec, width, height)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (camera, relpath, session, start, OPEN, codec, width, height),
            )
            return int(cursor.lastrowid or 0)

    def close(
        self, segment_id: int, end: float, size: int, *, start: float | None = None
    ) -> Segment:
        """Mark a segment complete with its end, file size and (if given) a refined start."""
        with self.store.transaction() as conn:
            cursor = conn.execute(
                'UPDATE segments SET start = COALESCE(?, start), "end" = ?, bytes = ?, state = ?'
                " WHERE id = ?",
                (start, end, size, CLOSED, segment_id),
            )
            if cursor.rowcount == 0:
                raise KeyError(segment_id)
        return self.get(segment_id)

    def delete(self, segment_id: int) -> None:
        """Remove the row only (the caller removes the file first)."""
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM segments WHERE id = ?", (segment_id,))

    def get(self, segment_id: int) -> Segment:
        rows = self.store.query(f"SELECT {_COLUMNS} FROM segments WHERE id = ?", (segment_id,))
        if not rows:
            raise KeyError(segment_id)
        return _segment(rows[0])

    def _select(self, where: str, params: tuple[Any, ...]) -> list[Segment]:
        rows = self.store.query(
            f"SELECT {_COLUMNS} FROM segments WHERE {where} ORDER BY start, id", params
        )
        return [_segment(row) for row in rows]

    def overlapping(self, camera: str, start: float, end: float) -> list[Segment]:
        """Segments of `camera` that overlap [start, end), open ones included, by start."""
        return self._select(
            'camera = ? AND start < ? AND ("end" IS NULL OR "end" > ?)', (camera, end, start)
        )

    def segments(self, camera: str | None = None, state: str | None = None) -> list[Segment]:
        """Segments by start, optionally of one camera and/or in one state."""
        return self._select(
            "(? IS NULL OR camera = ?) AND (? IS NULL OR state = ?)", (camera, camera, state, state)
        )

    def all_closed(self, camera: str | None = None) -> list[Segment]:
        return self.segments(camera, CLOSED)

    def cameras(self) -> list[str]:
        """Cameras that have segments, the one with the oldest segment first."""
        rows = self.store.query("SELECT camera FROM segments GROUP BY camera ORDER BY MIN(start)")
        return [str(row["camera"]) for row in rows]

    # --- crash recovery ---------------------------------------------------------------------

    def salvage(self, segment_id: int) -> Segment | None:
        """Close an unfinished segment on its readable part, or remove file and row.

        Returns the closed segment, or None if nothing was readable.
        """
        segment = self.get(segment_id)
        path = self.path_of(segment)
        readable = readable_part(path)
        if readable is None:
            _unlink(path)  # the file first: a row without a file is recoverable
            self.delete(segment.id)
            log.warning("recordings: removed unreadable segment %s of %s", segment.path,
                        segment.camera)  # fmt: skip
            return None
        closed = self.close(segment.id, segment.start + readable.duration, path.stat().st_size)
        log.warning("recordings: closed unfinished segment %s of %s on %.2f s readable",
                    segment.path, segment.camera, readable.duration)  # fmt: skip
        return closed

    def recover(self) -> RecoveryReport:
        """At start-up, before any writer runs: settle every row a crash left 'open'."""
        report = RecoveryReport()
        for segment in self.segments(state=OPEN):
            try:
                closed = self.salvage(segment.id)
            except OSError as error:
                log.error("recordings: cannot recover segment %s: %s", segment.path, error)
                continue
            if closed is None:
                report.removed.append(segment)
            else:
                report.closed.append(closed)
        if report.closed or report.removed:
            log.info("recordings: recovery closed %d and removed %d unfinished segment(s)",
                     len(report.closed), len(report.removed))  # fmt: skip
        return report
