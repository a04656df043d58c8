"""Per-camera reader: ONE connection per camera, demux only, packets fanned out to consumers.

A reader thread demuxes its camera's video and offers every packet to the camera's FanOut
(recorder, analysis tap, live view, relay), each through its own bounded queue, so no consumer
can stall it. It reconnects with capped exponential backoff and jitter when the camera cannot
be opened, drops, or stalls (no packet for `stall_timeout_s`), reports outages as gaps, and
plays files at real-time pace in a loop so that a file behaves like a live camera.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import av

from ingest.backoff import BackoffPolicy, backoff_delay, failures_after
from ingest.clock import MediaClock, packet_time
from ingest.meter import RateMeter, RecentCount
from ingest.packets import FanOut, PacketItem, SessionEnded, StreamInfo, detached_template
from ingest.source import OpenOptions, Source, SourceKind, open_container, redact_text

log = logging.getLogger(__name__)

# (camera, start, end): end is None when the outage begins, set when the camera is back
OutageCallback = Callable[[str, float, float | None], None]


@dataclass(frozen=True, slots=True)
class CameraStatus:
    camera: str
    source: str  # redacted
    online: bool
    last_packet_at: float | None
    reconnects: int
    reconnects_last_hour: int
    last_error: str | None
    online_since: float | None
    offline_since: float | None
    codec: str | None
    width: int | None
    height: int | None
    bitrate_bps: float
    fps: float
    session: int
    packets: int

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


class StallError(Exception):
    """No video packet arrived for longer than the stall timeout."""


class _Stopped(Exception):
    pass


@dataclass(slots=True)
class _State:
    online: bool = False
    last_packet_at: float | None = None
    reconnects: int = 0
    last_error: str | None = None
    online_since: float | None = None
    offline_since: float | None = None
    codec: str | None = None
    width: int | None = None
    height: int | None = None
    session: int = 0
    packets: int = 0


class CameraReader:
    """Runs in its own thread; consumers subscribe to `fanout`."""

    def __init__(
        self,
        camera_id: str,
        source: Source,
        fanout: FanOut | None = None,
        *,
        options: OpenOptions | None = None,
        backoff: BackoffPolicy | None = None,
        stall_timeout_s: float = 10.0,
        loop_files: bool = True,
        on_outage: OutageCallback | None = None,
    ) -> None:
        self.camera_id = camera_id
        self.source = source
        self.fanout = fanout or FanOut()
        self.options = options or OpenOptions(read_timeout_s=stall_timeout_s / 2)
        self.backoff = backoff or BackoffPolicy()
        self.stall_timeout_s = stall_timeout_s
        self.loop_files = loop_files
        self.on_outage = on_outage
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._state = _State(offline_since=time.time())
        self._clock = MediaClock()
        self._rates = RateMeter()  # over media time, like the camera's own fps and bitrate
        self._recent_reconnects = RecentCount()
        self._thread: threading.Thread | None = None
        self._random = random.Random()

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
        now = time.time()
        with self._lock:
            s = self._state
            bitrate, fps = self._rates.rates(self._clock.last) if s.online else (0.0, 0.0)
            return CameraStatus(
                self.camera_id, self.source.display, s.online, s.last_packet_at, s.reconnects,
                self._recent_reconnects.count(now), s.last_error, s.online_since,
                s.offline_since, s.codec, s.width, s.height, round(bitrate), round(fps, 2),
                s.session, s.packets,
            )  # fmt: skip

    # --- the loop ---------------------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        if self.on_outage is not None:
            self.on_outage(self.camera_id, time.time(), None)  # offline until the first packet
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self._session()
                if self.source.kind is SourceKind.FILE and self.loop_files:
                    continue  # end of file: play it again at once, not an outage
                self._went_offline("stream ended")
            except _Stopped:
                break
            except (av.error.FFmpegError, OSError, ValueError, RuntimeError, StallError) as error:
                reason = f"{type(error).__name__}: {error}"
                self._went_offline(redact_text(reason, self.source.location))
            except Exception as error:  # a bug: log it, but keep the camera's reader alive
                trace = redact_text(traceback.format_exc(), self.source.location)
                log.error("camera %s: reader failed:\n%s", self.camera_id, trace)
                reason = f"internal error {type(error).__name__}: {error}"
                self._went_offline(redact_text(reason, self.source.location))
            failures = failures_after(self.backoff, failures, time.monotonic() - started)
            delay = backoff_delay(self.backoff, failures - 1, self._random.random())
            log.debug("camera %s: retry in %.1f s (failure %d)", self.camera_id, delay, failures)
            if self._stop.wait(delay):
                break
            with self._lock:
                self._state.reconnects += 1
            self._recent_reconnects.add(time.time())
        self._went_offline("stopped", stopping=True)

    def _went_offline(self, reason: str, stopping: bool = False) -> None:
        now = time.time()
        with self._lock:
            s = self._state
            was_online = s.online
            changed = was_online or s.last_error != reason
            if was_online:
                s.offline_since = s.last_packet_at or now
            s.online = False
            s.online_since = None
            if not stopping:
                s.last_error = reason
            since = s.offline_since
        if stopping:
            return
        # one warning per change of state or reason, not one per retry
        level = logging.WARNING if changed else logging.DEBUG
        log.log(level, "camera %s (%s) offline: %s", self.camera_id, self.source.display, reason)
        if was_online and self.on_outage is not None and since is not None:
            self.on_outage(self.camera_id, since, None)

    def _went_online(self, info: StreamInfo, now: float) -> None:
        with self._lock:
            s = self._state
            gap_start = None if s.online else s.offline_since
            if not s.online:
                log.info("camera %s (%s) online", self.camera_id, self.source.display)
                s.online_since = now
            s.online = True
            s.offline_since = None
            s.last_error = None
        if gap_start is not None and self.on_outage is not None:
            self.on_outage(self.camera_id, gap_start, now)

    def _open_session(self, container: Any) -> tuple[Any, StreamInfo]:
        if not container.streams.video:  # e.g. an audio-only channel: retry, don't die
            raise ValueError("no video stream in the source")
        stream = container.streams.video[0]
        with self._lock:
            self._state.session += 1
            session = self._state.session
            ctx = stream.codec_context
            self._state.codec, self._state.width, self._state.height = (
                ctx.name,
                ctx.width,
                ctx.height,
            )
        info = StreamInfo(
            camera=self.camera_id, session=session, codec=ctx.name, width=ctx.width,
            height=ctx.height, time_base=stream.time_base, template=detached_template(stream),
            extradata=bytes(ctx.extradata or b""), started_at=time.time(),
        )  # fmt: skip
        return stream, info

    def _session(self) -> None:
        container = open_container(self.source, self.options)
        info: StreamInfo | None = None
        try:
            stream, info = self._open_session(container)
            self._clock.restart()
            is_file = self.source.kind is SourceKind.FILE
            pacer = _Pacer(self._stop, self.stall_timeout_s) if is_file else None
            last_packet = time.monotonic()
            for packet in container.demux(stream):
                if self._stop.is_set():
                    raise _Stopped
                now_mono = time.monotonic()
                if packet.size == 0:
                    if now_mono - last_packet > self.stall_timeout_s:
                        raise StallError(f"no video packet for {self.stall_timeout_s:.0f} s")
                    continue
                last_packet = now_mono
                t = self._clock.time_of(packet_time(packet))
                if pacer is not None:
                    pacer.wait_until(t)
                self._publish(info, packet, t)
        finally:
            container.close()
            if info is not None:
                self.fanout.publish(SessionEnded(info, time.time(), "session closed"))

    def _publish(self, info: StreamInfo, packet: Any, t: float) -> None:
        now = time.time()
        if not self._state.online:
            self._went_online(info, now)
        with self._lock:
            self._state.last_packet_at = now
            self._state.packets += 1
            self._rates.add(t, packet.size)  # on media time: bursts after a connect don't count
        self.fanout.publish(PacketItem(info, packet, t, now, bool(packet.is_keyframe)))


class _Pacer:
    """Holds packets of a file until their media time, so a file plays like a live camera.

    A packet due more than `max_wait_s` ahead is a jump of the file's timestamps, not a pause
    (a live camera that long silent would be a stall): pacing starts again from it instead of
    sleeping through the jump.
    """

    def __init__(self, stop: threading.Event, max_wait_s: float) -> None:
        self.stop = stop
        self.max_wait_s = max_wait_s
        self.anchor: tuple[float, float] | None = None

    def wait_until(self, media_t: float) -> None:
        now = time.monotonic()
        if self.anchor is not None:
            delay = self.anchor[0] + (media_t - self.anchor[1]) - now
            if delay <= self.max_wait_s:
                if delay > 0 and self.stop.wait(delay):
                    raise _Stopped
                return
        self.anchor = (now, media_t)
