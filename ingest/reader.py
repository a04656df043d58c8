"""Per-camera reader: one connection, keyframe sampling, reconnect with backoff, status.

A reader thread demuxes its camera's video, hands due samples to a sink (which must not block:
see `hallwatch.mailbox`), reconnects with capped exponential backoff and jitter when the camera
cannot be opened or drops, and plays files at real-time pace in a loop so that a file behaves
like a live camera.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import av

from ingest.backoff import BackoffPolicy, backoff_delay, failures_after
from ingest.sampler import FrameSampler, Image
from ingest.source import OpenOptions, Source, SourceKind, open_container, redact_text

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Frame:
    camera: str
    wall_time: float  # UNIX time the sample was taken
    media_time: float  # seconds on the camera's continuous media clock
    image: Image  # BGR


@dataclass(frozen=True, slots=True)
class CameraStatus:
    camera: str
    source: str  # redacted
    online: bool
    last_frame_at: float | None
    reconnects: int
    last_error: str | None
    online_since: float | None
    offline_since: float | None
    decode_plan: str
    frames_sampled: int
    frames_decoded: int
    width: int | None = None
    height: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(slots=True)
class _Counters:
    online: bool = False
    last_frame_at: float | None = None
    reconnects: int = 0
    last_error: str | None = None
    online_since: float | None = None
    offline_since: float | None = field(default_factory=time.time)
    decode_plan: str = "keyframes"
    frames_sampled: int = 0
    frames_decoded: int = 0
    width: int | None = None
    height: int | None = None


class _Stopped(Exception):
    pass


class MediaClock:
    """Continuous media time across reconnects, file loops and broken timestamps."""

    def __init__(self, frame_step: float = 0.04) -> None:
        self.frame_step = frame_step
        self.offset = 0.0
        self.last = -frame_step  # so that a first packet without timestamp is at 0.0
        self._first: float | None = None

    def restart(self) -> None:
        """A new session (reconnect or loop) starts; its first packet continues the clock."""
        self._first = None

    def time_of(self, packet_t: float | None) -> float:
        if packet_t is None:
            self.last += self.frame_step
            return self.last
        if self._first is None:
            self._first = packet_t
            self.offset = self.last + self.frame_step - packet_t
        t = packet_t + self.offset
        if t < self.last - 5.0:  # timestamps jumped back (camera reset): keep time moving
            self.offset += self.last + self.frame_step - t
            t = self.last + self.frame_step
        if t > self.last:
            self.last = t
        return t


def packet_time(packet: Any) -> float | None:
    ts = packet.pts if packet.pts is not None else packet.dts
    return None if ts is None else float(ts * packet.time_base)


class CameraReader:
    """Runs in its own thread; `sink` gets each sampled Frame and must return quickly."""

    def __init__(
        self,
        camera_id: str,
        source: Source,
        sink: Callable[[Frame], None],
        *,
        sample_fps: float = 1.0,
        options: OpenOptions | None = None,
        backoff: BackoffPolicy | None = None,
        max_width: int = 1280,
        loop_files: bool = True,
    ) -> None:
        self.camera_id = camera_id
        self.source = source
        self.sink = sink
        self.sample_fps = sample_fps
        self.options = options or OpenOptions()
        self.backoff = backoff or BackoffPolicy()
        self.max_width = max_width
        self.loop_files = loop_files
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._counters = _Counters()
        self._clock = MediaClock()
        self._thread: threading.Thread | None = None
        self._random = random.Random()
        self._session_decoded = 0  # frames the current session's decoder has produced

    # --- control ----------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"reader-{self.camera_id}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def status(self) -> CameraStatus:
        with self._lock:
            c = self._counters
            return CameraStatus(
                self.camera_id, self.source.display, c.online, c.last_frame_at, c.reconnects,
                c.last_error, c.online_since, c.offline_since, c.decode_plan, c.frames_sampled,
                c.frames_decoded, c.width, c.height,
            )  # fmt: skip

    # --- the loop ---------------------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self._session()
                if self.source.kind is SourceKind.FILE and self.loop_files:
                    continue  # end of file: play it again at once
                self._went_offline("stream ended")
            except _Stopped:
                break
            except (av.error.FFmpegError, OSError, ValueError, RuntimeError) as error:
                self._went_offline(
                    redact_text(f"{type(error).__name__}: {error}", self.source.location)
                )
            if self._stop.is_set():
                break
            failures = failures_after(self.backoff, failures, time.monotonic() - started)
            delay = backoff_delay(self.backoff, failures - 1, self._random.random())
            log.info("camera %s: retry in %.1f s (failure %d)", self.camera_id, delay, failures)
            if self._stop.wait(delay):
                break
            with self._lock:
                self._counters.reconnects += 1
        with self._lock:
            if self._counters.online:
                self._counters.offline_since = time.time()
            self._counters.online = False

    def _went_offline(self, reason: str) -> None:
        with self._lock:
            c = self._counters
            changed = c.online or c.last_error != reason
            if c.online:
                c.offline_since = time.time()
            c.online = False
            c.online_since = None
            c.last_error = reason
        # one warning per change of state or reason, not one per retry
        level = logging.WARNING if changed else logging.DEBUG
        log.log(level, "camera %s (%s) offline: %s", self.camera_id, self.source.display, reason)

    def _went_online(self, width: int, height: int) -> None:
        with self._lock:
            c = self._counters
            if not c.online:
                log.info("camera %s (%s) online", self.camera_id, self.source.display)
                c.online_since = time.time()
            c.online = True
            c.offline_since = None
            c.last_error = None
            c.width, c.height = width, height

    def _session(self) -> None:
        container = open_container(self.source, self.options)
        try:
            stream = container.streams.video[0]
            stream.thread_type = "SLICE"
            sampler = FrameSampler(stream.codec_context, self.sample_fps, max_width=self.max_width)
            self._clock.restart()
            self._session_decoded = 0
            pacer = _Pacer(self._stop) if self.source.kind is SourceKind.FILE else None
            for packet in container.demux(stream):
                if self._stop.is_set():
                    raise _Stopped
                if packet.size == 0:
                    continue
                t = self._clock.time_of(packet_time(packet))
                if pacer is not None:
                    pacer.wait_until(t)
                self._handle(sampler, packet, t, stream)
        finally:
            container.close()

    def _handle(self, sampler: FrameSampler, packet: Any, t: float, stream: Any) -> None:
        samples = sampler.push(packet, t)
        if not samples:
            return
        self._went_online(stream.codec_context.width, stream.codec_context.height)
        now = time.time()
        with self._lock:
            c = self._counters
            c.last_frame_at = now
            c.frames_sampled += len(samples)
            c.frames_decoded += sampler.decoded - self._session_decoded
            c.decode_plan = sampler.plan.value
        self._session_decoded = sampler.decoded
        for sample in samples:
            self.sink(Frame(self.camera_id, now, sample.t, sample.image))


class _Pacer:
    """Holds packets of a file until their media time, so a file plays like a live camera."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.anchor: tuple[float, float] | None = None

    def wait_until(self, media_t: float) -> None:
        now = time.monotonic()
        if self.anchor is None:
            self.anchor = (now, media_t)
            return
        delay = self.anchor[0] + (media_t - self.anchor[1]) - now
        if delay > 0 and self.stop.wait(delay):
            raise _Stopped
