"""Retention of recording segments: a pure keep/delete decision and the sweeper that applies it.

Rules, per camera (`plan`):

1. Age: a closed segment whose end is more than `continuous_days` ago goes, unless it is
   event-protected: it overlaps a kept event interval and its end is at most `event_days` ago.
2. Space: then, while the camera's recordings exceed `max_bytes` or the disk has less than
   `min_free_bytes` free, the oldest remaining segments go: every unprotected one before any
   event-protected one (an event's footage is the last to go, but a full disk would stop all
   recording, which is worse).
3. Never: a segment still 'open', and evidence (exported clips live outside the segment
   table, so retention cannot see them).

Intervals are closed: an instant event (start == end) on the boundary of two segments protects
both. Open events should be passed with end = now.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from recordings.clips import Clip, ClipStore
from recordings.index import Segment, SegmentIndex

log = logging.getLogger(__name__)

DAY_S = 86400.0
MB = 1_000_000

Interval = tuple[float, float]


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    continuous_days: float
    event_days: float
    max_bytes: int | None = None  # this camera's recordings at most; None: no quota
    min_free_bytes: int = 0  # free space the disk keeps

    def __post_init__(self) -> None:
        if self.continuous_days < 0 or self.event_days < 0 or self.min_free_bytes < 0:
            raise ValueError("retention days and free space must not be negative")
        if self.max_bytes is not None and self.max_bytes < 0:
            raise ValueError("max_bytes must not be negative")


class Reason(StrEnum):
    AGE = "older than its retention"
    QUOTA = "over the camera's quota"
    FREE_SPACE = "disk free space under the minimum"


@dataclass(frozen=True, slots=True)
class Removal:
    segment: Segment
    reason: Reason


def _end(segment: Segment) -> float:
    return segment.end if segment.end is not None else segment.start


def _size(segment: Segment) -> int:
    return segment.bytes or 0


def _event_protected(
    segment: Segment, policy: RetentionPolicy, now: float, protected: Sequence[Interval]
) -> bool:
    if now - _end(segment) > policy.event_days * DAY_S:
        return False
    return any(start <= _end(segment) and end >= segment.start for start, end in protected)


@dataclass(slots=True)
class _Space:
    policy: RetentionPolicy
    used: int
    free: int

    def pressure(self) -> Reason | None:
        if self.policy.max_bytes is not None and self.used > self.policy.max_bytes:
            return Reason.QUOTA
        if self.free < self.policy.min_free_bytes:
            return Reason.FREE_SPACE
        return None

    def release(self, size: int) -> None:
        self.used -= size
        self.free += size  # the segments live on the disk that is measured


def plan(
    segments: Iterable[Segment],
    policy: RetentionPolicy,
    now: float,
    protected: Sequence[Interval],
    disk_free_bytes: int,
    total_bytes: int,
) -> list[Removal]:
    """The segments to delete, in deletion order, each with its reason (see module doc).

    `total_bytes`: what the camera's recordings take now (open segments included);
    `disk_free_bytes`: free space on the disk that holds them.
    """
    closed = sorted((s for s in segments if s.closed), key=lambda s: (s.start, s.id))
    shielded = {s.id for s in closed if _event_protected(s, policy, now, protected)}
    expired = [
        s for s in closed if s.id not in shielded and now - _end(s) > policy.continuous_days * DAY_S
    ]
    removals = [Removal(s, Reason.AGE) for s in expired]
    space = _Space(policy, total_bytes, disk_free_bytes)
    for segment in expired:
        space.release(_size(segment))
    gone = {s.id for s in expired}
    rest = sorted((s for s in closed if s.id not in gone), key=lambda s: s.id in shielded)
    for segment in rest:  # the sort is stable: oldest unprotected first, then oldest protected
        reason = space.pressure()
        if reason is None:
            break
        removals.append(Removal(segment, reason))
        space.release(_size(segment))
    return removals


def decide(
    segments: Iterable[Segment],
    policy: RetentionPolicy,
    now: float,
    protected: Sequence[Interval],
    disk_free_bytes: int,
    total_bytes: int,
) -> list[Segment]:
    """The segments to delete, in deletion order (see `plan`)."""
    return [r.segment for r in plan(segments, policy, now, protected, disk_free_bytes, total_bytes)]


def disk_free(path: Path) -> int:
    return shutil.disk_usage(path).free


def expired_clips(
    clips: Iterable[Clip], now: float, event_days: Callable[[str], float]
) -> list[Clip]:
    """Clips whose event ended more than the camera's `event_days` ago, except evidence."""
    return [clip for clip in clips
            if not clip.evidence and clip.end < now - event_days(clip.camera) * DAY_S]  # fmt: skip


class Sweeper:
    """Applies the retention of every camera every `interval_s` seconds, in its own thread.

    Cameras are swept in the order of their oldest segment, so free-space pressure falls on
    the oldest footage first; the free space is measured again for each camera.
    """

    def __init__(
        self,
        index: SegmentIndex,
        root: Path,
        policy_for_camera: Callable[[str], RetentionPolicy],
        protected_intervals: Callable[[str], list[Interval]],
        interval_s: float = 60.0,
        *,
        free_bytes: Callable[[Path], int] = disk_free,
        clock: Callable[[], float] = time.time,
        clips: ClipStore | None = None,
    ) -> None:
        self.index = index
        self.clips = clips
        self.root = root
        self.policy_for_camera = policy_for_camera
        self.protected_intervals = protected_intervals
        self.interval_s = interval_s
        self.free_bytes = free_bytes
        self.clock = clock
        self.removed = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="retention", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sweep()
            self._stop.wait(self.interval_s)

    def sweep(self) -> list[Removal]:
        """One pass over every camera; returns what was removed."""
        removed: list[Removal] = []
        for camera in self.index.cameras():
            try:
                removed += self._sweep_camera(camera)
            except Exception:  # the next camera and the next pass still run
                log.exception("retention: sweep of camera %s failed", camera)
        if self.clips is not None:
            self._sweep_clips(self.clips)
        return removed

    def _sweep_clips(self, clips: ClipStore) -> None:
        """Event clips live as long as `event_days`; evidence clips forever."""
        def event_days(camera: str) -> float:
            return self.policy_for_camera(camera).event_days

        expired = expired_clips(clips.clips(), self.clock(), event_days)
        for clip in expired:
            try:
                clips.delete(clip)
            except OSError as error:
                log.warning("retention: clip %s not removed: %s", clip.path, error)
        if expired:
            log.info("retention: removed %d event clip(s) older than their event_days",
                     len(expired))  # fmt: skip

    def _sweep_camera(self, camera: str) -> list[Removal]:
        segments = self.index.segments(camera)
        removals = plan(segments, self.policy_for_camera(camera), self.clock(),
                        self.protected_intervals(camera), self.free_bytes(self.root),
                        self._bytes_on_disk(segments))  # fmt: skip
        done = [removal for removal in removals if self._remove(removal.segment)]
        self.removed += len(done)
        for reason in Reason:
            _log_removed(camera, [r.segment for r in done if r.reason is reason], reason)
        return done

    def _bytes_on_disk(self, segments: Iterable[Segment]) -> int:
        return sum(_size(s) if s.closed else self._file_size(s) for s in segments)

    def _file_size(self, segment: Segment) -> int:
        try:
            return self.index.path_of(segment).stat().st_size
        except OSError:
            return 0

    def _remove(self, segment: Segment) -> bool:
        """Delete the file, then the row (a file already gone still loses its row)."""
        path = self.index.path_of(segment)
        try:
            path.unlink(missing_ok=True)
        except OSError as error:
            log.error("retention: cannot delete %s: %s", path, error)
            return False
        self.index.delete(segment.id)
        _remove_empty_dirs(path.parent, self.root)
        return True


def _remove_empty_dirs(directory: Path, root: Path) -> None:
    """Remove `directory` and its parents up to (not including) `root` while empty."""
    while directory != root and root in directory.parents:
        try:
            directory.rmdir()
        except OSError:  # not empty (or gone): stop
            return
        directory = directory.parent


def _log_removed(camera: str, segments: Sequence[Segment], reason: Reason) -> None:
    if segments:
        megabytes = sum(_size(s) for s in segments) / MB
        log.info("retention: removed %d segment(s) of camera %s (%.1f MB): %s",
                 len(segments), camera, megabytes, reason)  # fmt: skip
