"""Continuous recording of one camera into fragmented-MP4 segments, by stream copy.

The writer consumes its own PacketQueue (so it never blocks the camera reader) in a thread:

* a segment starts at a keyframe that has a timestamp; packets before it are skipped;
* it rolls at the first keyframe once `segment_s` of media time are in it, closes when the
  session ends (camera dropped, file loop) or a new session starts, and when the queue dropped
  packets (a hole would corrupt the rest of the GOP); the next one starts at the next keyframe;
* fMP4 (`frag_keyframe+empty_moov+default_base_moof`) with `flush_packets=1` hands every
  finished fragment (one GOP) to the kernel at once, so a killed process leaves a file that
  plays up to its last complete fragment; `SegmentIndex.recover()` settles it at start-up;
* output timestamps start at 0 in each segment and dts strictly increases: a packet whose
  dts goes backwards (or has none) is re-anchored one frame after the previous one, counted
  in `stats()["ts_fixed"]`;
* wall clock: packets arrive late (an RTSP client hands over its probe buffer in a burst after
  connecting), never early, so a segment starts at min(wall_time - media_time) over its packets
  plus its first media time. The file is named after the first packet's wall_time (the
  provisional start, which is what a crash leaves in the row); the row gets the refined start,
  never later, when the segment closes. A segment that follows a roll in the same session
  starts exactly where the previous ended unless the two differ by more than
  `SNAP_TOLERANCE_S` (clock drift); end = start + media span + one frame;
* write errors (disk full, permissions) are logged and counted; the segment is closed on its
  readable part (or removed) and recording resumes at the next keyframe.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from hallwatch.config_base import ID_PATTERN
from ingest.packets import Item, PacketItem, PacketQueue, SessionEnded, copy_packet
from recordings.index import Segment, SegmentIndex

log = logging.getLogger(__name__)

FRAGMENTED_MP4_OPTIONS = {
    "movflags": "frag_keyframe+empty_moov+default_base_moof",
    "flush_packets": "1",  # each fragment reaches the kernel when it is complete
}
SNAP_TOLERANCE_S = 0.5
DEFAULT_RATE = Fraction(25)  # frames per second assumed until packets tell
MAX_FRAME_S = 1.0  # longest frame duration believed (a longer dts step is a jump)
ROLL_EPSILON_S = 1e-3
_WRITE_ERRORS = (av.error.FFmpegError, OSError, ValueError)
_POLL_S = 0.5


def segment_relpath(camera: str, start: float) -> str:
    """`{camera}/{YYYY-MM-DD}/{camera}_{YYYYmmddTHHMMSS.ffffff}Z.mp4` of the UTC start."""
    utc = datetime.fromtimestamp(start, UTC)
    return f"{camera}/{utc:%Y-%m-%d}/{camera}_{utc:%Y%m%dT%H%M%S.%f}Z.mp4"


class _Timeline:
    """Output timestamps of one segment: dts from 0, strictly increasing, pts >= dts; a jump
    back or far ahead in the camera's timestamps is closed up (the media clock does the same)."""

    def __init__(self, first: Any, frame_ticks: int, max_step: int) -> None:
        self.offset = int(first.dts if first.dts is not None else first.pts)
        self.step = max(1, int(first.duration or frame_ticks))
        self.max_step = max_step  # a longer dts step is a jump, not a frame duration
        self.last_dts: int | None = None
        self.fixed = 0  # packets re-anchored: dts went backwards, jumped ahead or was missing

    def place(self, packet: Any) -> None:
        """Rewrite the timestamps of `packet` (a private copy) for this segment."""
        raw = packet.dts if packet.dts is not None else packet.pts
        dts = None if raw is None else int(raw) - self.offset
        last = self.last_dts
        jumped = dts is not None and last is not None and dts - last > self.max_step
        if self.last_dts is not None and (dts is None or dts <= self.last_dts or jumped):
            dts = self.last_dts + self.step
            if raw is not None:
                self.offset = int(raw) - dts  # later packets continue from here
            self.fixed += 1
        elif self.last_dts is not None and dts is not None and dts - self.last_dts <= self.max_step:
            self.step = dts - self.last_dts
        dts = 0 if dts is None else dts
        pts = dts if packet.pts is None else max(dts, int(packet.pts) - self.offset)
        packet.dts, packet.pts = dts, pts
        self.last_dts = dts


@dataclass(slots=True)
class _Open:
    """The segment being written."""

    id: int
    relpath: str
    path: Path
    session: int
    first_media: float
    last_media: float
    time_base: Fraction
    container: Any
    stream: Any
    timeline: _Timeline
    offset: float  # least (wall_time - media_time) seen: packets arrive late, never early

    def capture_start(self) -> float:
        """Wall-clock time of the first packet, corrected for late (burst) delivery."""
        return self.offset + self.first_media

    def span(self) -> float:
        return self.last_media - self.first_media + float(self.timeline.step * self.time_base)


def _timeline(item: PacketItem) -> _Timeline:
    time_base = item.info.time_base
    rate = getattr(item.info.template, "average_rate", None) or DEFAULT_RATE
    frame_ticks = max(1, round(1 / (rate * time_base)))
    return _Timeline(item.packet, frame_ticks, max_step=max(1, round(MAX_FRAME_S / time_base)))


def _can_start(item: PacketItem) -> bool:
    """A segment starts at a keyframe that has a timestamp."""
    return item.keyframe and item.packet.pts is not None


def _open_output(path: Path, template: Any) -> tuple[Any, Any]:
    path.parent.mkdir(parents=True, exist_ok=True)
    container = av.open(str(path), "w", format="mp4", options=dict(FRAGMENTED_MP4_OPTIONS))
    try:
        return container, container.add_stream_from_template(template)
    except BaseException:
        container.close()
        raise


class SegmentWriter:
    """Records one camera's PacketQueue into segments under `root`, indexed in `index`."""

    def __init__(
        self,
        camera_id: str,
        queue: PacketQueue,
        index: SegmentIndex,
        root: Path,
        *,
        segment_s: float = 60.0,
        on_closed: Callable[[Segment], None] | None = None,
    ) -> None:
        if not re.match(ID_PATTERN, camera_id):
            raise ValueError(f"camera id {camera_id!r} cannot name a recording directory")
        if segment_s <= 0:
            raise ValueError("segment_s must be positive")
        self.camera_id = camera_id
        self.queue = queue
        self.index = index
        self.root = root
        self.segment_s = segment_s
        self.on_closed = on_closed
        self._current: _Open | None = None
        self._previous_end: tuple[int, float] | None = None  # (session, end) after a roll
        self._seen_drops = queue.dropped
        self._hole = False
        self._last_error: str | None = None  # kind of the last write error, until a success
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # --- control ----------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"recorder-{self.camera_id}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued, close the current segment, end the thread."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def stats(self) -> dict[str, int]:
        """segments (closed), errors, packets (written), skipped (waiting for a keyframe),
        ts_fixed, gaps (segments closed because the queue dropped packets), bytes."""
        with self._lock:
            keys = ("segments", "errors", "packets", "skipped", "ts_fixed", "gaps", "bytes")
            return {key: self._counts[key] for key in keys}

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._counts[key] += n

    # --- the loop ---------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                item = self._next()
                if item is not None:
                    self._handle_safely(item)
                elif self._stopping.is_set():
                    break
        finally:
            self._close_current("writer stopped")

    def _next(self) -> Item | None:
        item = self.queue.get(0 if self._stopping.is_set() else _POLL_S)
        dropped = self.queue.dropped  # read after get: drops so far were before `item`
        if dropped != self._seen_drops:
            self._seen_drops = dropped
            self._hole = True
        return item

    def _handle_safely(self, item: Item) -> None:
        try:
            self._handle(item)
        except Exception as error:  # a bug must not end the recording of the camera
            log.exception("recording %s: unexpected error", self.camera_id)
            self._abandon(error)

    def _handle(self, item: Item) -> None:
        current = self._current
        if isinstance(item, SessionEnded):
            if current is not None and current.session == item.info.session:
                self._close_current(f"session ended ({item.reason})")
            return
        reason = self._close_reason(current, item)
        if reason is not None:
            self._close_current(reason)
        self._hole = False
        if self._current is None and not self._begin(item):
            return
        self._write(item)

    def _close_reason(self, current: _Open | None, item: PacketItem) -> str | None:
        if current is None:
            return None
        if self._hole:
            self._count("gaps")
            return "queue dropped packets"
        if item.info.session != current.session:
            return "new session"
        elapsed = item.media_time - current.first_media
        if _can_start(item) and elapsed >= self.segment_s - ROLL_EPSILON_S:
            return "roll"
        return None

    # --- one segment ------------------------------------------------------------------------

    def _snap(self, session: int, start: float) -> float:
        """The previous segment's end if it rolled into this one and the clocks agree."""
        previous = self._previous_end
        if previous is None or previous[0] != session:
            return start
        end = previous[1]
        return end if abs(start - end) <= SNAP_TOLERANCE_S else start

    def _begin(self, item: PacketItem) -> bool:
        """Open a segment at `item` if it can start one; False if the packet is not used."""
        if not _can_start(item):
            self._count("skipped")
            return False
        info = item.info
        start = self._snap(info.session, item.wall_time)  # final once the segment closes
        relpath = segment_relpath(self.camera_id, start)
        try:
            segment_id = self.index.open(self.camera_id, relpath, start, info.session,
                                         info.codec, info.width, info.height)  # fmt: skip
        except sqlite3.Error as error:
            self._report(relpath, error)
            self._count("errors")
            return False
        path = self.root / relpath
        try:
            container, stream = _open_output(path, info.template)
        except _WRITE_ERRORS as error:
            self._failed(segment_id, relpath, error)
            return False
        self._current = _Open(segment_id, relpath, path, info.session, item.media_time,
                              item.media_time, info.time_base, container, stream,
                              _timeline(item), item.wall_time - item.media_time)  # fmt: skip
        log.debug("recording %s: opened %s", self.camera_id, relpath)
        return True

    def _write(self, item: PacketItem) -> None:
        current = self._current
        assert current is not None
        packet = copy_packet(item)
        fixed = current.timeline.fixed
        current.timeline.place(packet)
        if current.timeline.fixed != fixed:
            self._count("ts_fixed")
        packet.stream = current.stream
        try:
            current.container.mux(packet)
        except _WRITE_ERRORS as error:
            self._current = None
            _close_quietly(current.container)
            self._failed(current.id, current.relpath, error)
            return
        current.last_media = item.media_time
        current.offset = min(current.offset, item.wall_time - item.media_time)
        self._count("packets")

    def _close_current(self, reason: str) -> None:
        current, self._current = self._current, None
        if current is None:
            return
        try:
            current.container.close()
            size = current.path.stat().st_size
        except _WRITE_ERRORS as error:
            self._failed(current.id, current.relpath, error)
            return
        start = self._snap(current.session, current.capture_start())
        end = start + current.span()
        try:
            segment = self.index.close(current.id, end, size, start=start)
        except sqlite3.Error as error:  # the row stays open: recover() settles it at start-up
            self._report(current.relpath, error)
            self._count("errors")
            return
        self._last_error = None
        self._previous_end = (current.session, end) if reason == "roll" else None
        log.info("recording %s: closed %s (%.2f s, %d bytes): %s", self.camera_id,
                 current.relpath, segment.duration or 0.0, size, reason)  # fmt: skip
        self._closed(segment)

    def _abandon(self, error: BaseException) -> None:
        """After an unexpected error: settle the current segment like a failed write."""
        current, self._current = self._current, None
        if current is None:
            self._count("errors")
            return
        _close_quietly(current.container)
        self._failed(current.id, current.relpath, error)

    def _failed(self, segment_id: int, relpath: str, error: BaseException) -> None:
        """A write error: keep the readable part of the segment (or remove it), go on."""
        self._report(relpath, error)
        self._count("errors")
        self._previous_end = None
        try:
            segment = self.index.salvage(segment_id)
        except (OSError, sqlite3.Error, KeyError) as salvage_error:
            log.error("recording %s: cannot settle %s: %s", self.camera_id, relpath,
                      salvage_error)  # fmt: skip
            return
        if segment is not None:
            self._closed(segment)

    def _report(self, relpath: str, error: BaseException) -> None:
        """An error once at ERROR level; the same error again at each keyframe at DEBUG."""
        kind = f"{type(error).__name__} {getattr(error, 'errno', '')}"
        level = logging.DEBUG if kind == self._last_error else logging.ERROR
        self._last_error = kind
        log.log(level, "recording %s: cannot record %s: %s", self.camera_id, relpath, error)

    def _closed(self, segment: Segment) -> None:
        self._count("segments")
        self._count("bytes", segment.bytes or 0)
        if self.on_closed is None:
            return
        try:
            self.on_closed(segment)
        except Exception:
            log.exception("recording %s: on_closed failed for %s", self.camera_id, segment.path)


def _close_quietly(container: Any) -> None:
    try:
        container.close()
    except _WRITE_ERRORS as error:
        log.debug("recordings: closing a failed output: %s", error)
