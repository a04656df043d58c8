"""Stream push: a camera's stream copied to an upstream RTSP (ANNOUNCE/RECORD) or RTMP server.

One `PushWorker` per push target runs in its own thread on its own bounded PacketQueue of the
camera's FanOut, so the push shares the camera's one reader connection and never stalls it
(a full queue drops the oldest packet and counts it). Nothing is decoded or encoded:

* an upstream session opens at a keyframe that has a timestamp, with the camera's codec
  parameters; packets are copied, their timestamps rebased to start at 0 with strictly
  increasing dts (`push_plan.Rebaser`);
* the network side of each session runs in a child process (relay/push_session.py,
  relay/push_child.py), because PyAV holds the GIL while it connects and closes a network
  output: a hung upstream must not freeze the camera process. The child muxes with PyAV
  (`av.open(url, "w", format="rtsp"|"flv")`, `add_stream_from_template`);
* both packet layouts work for both protocols: RTSP cameras give Annex-B packets with Annex-B
  extradata, file sources AVCC packets with avcC extradata. FFmpeg's RTP muxer takes either,
  and its FLV muxer writes the avcC sequence header from either extradata and turns Annex-B
  packets into AVCC. A stream without extradata gets the first keyframe's parameter sets
  (FFmpeg's probe finds them in the child);
* when the camera's session changes (reconnect, file loop) the upstream session ends and a new
  one opens at the new session's first keyframe, since the codec parameters may have changed;
* when the queue dropped packets, the push skips to the next keyframe (the missing frames would
  corrupt the rest of the GOP) and stays connected;
* when the upstream fails (refused, reset, no answer within `open_timeout_s`, no data taken for
  `stall_timeout_s`), the session ends and is retried with capped exponential backoff and
  jitter, reset once a session stayed up `healthy_reset_s`. A warning is logged when the state
  or the reason changes, not once per retry.

The push URL's credentials never reach logs or status answers: URLs go through `redact_url`,
error texts through `redact_text`; the child gets the URL on its stdin, not its command line.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av

from hallwatch.config_relay import PushTarget
from ingest.backoff import BackoffPolicy, backoff_delay, failures_after
from ingest.packets import FanOut, PacketItem, PacketQueue, SessionEnded
from ingest.source import redact_text, redact_url
from relay.push_plan import OutputPlan, PushState, Rebaser, failure_is_news, output_plan
from relay.push_session import PIPE_BYTES, SessionError, UpstreamSession

log = logging.getLogger(__name__)

DEFAULT_POLICY = BackoffPolicy(initial_s=1.0, max_s=30.0, factor=2.0, jitter=0.5,
                               healthy_reset_s=30.0)  # fmt: skip
DEFAULT_RATE = Fraction(25)  # frames per second assumed when the stream does not say
MAX_STEP_S = 5.0  # a longer dts step inside one camera session is a clock jump, closed up
_POLL_S = 0.2  # longest wait for a packet before the child's news is read anyway
_CHECK_S = 0.1  # the child's news is read at most this often (not once per packet)


@dataclass(slots=True)
class _Counters:
    state: PushState = PushState.WAITING_KEYFRAME
    connected_since: float | None = None  # UNIX time the current upstream session connected
    last_packet_at: float | None = None  # UNIX time of the last packet sent
    packets: int = 0  # packets sent upstream (handed to a connected session)
    bytes: int = 0
    sessions: int = 0  # upstream sessions that connected
    failures: int = 0  # upstream failures (open or write), all told
    skipped: int = 0  # packets not sent: before a keyframe, during backoff, after drops
    ts_fixed: int = 0  # packets whose timestamps had to be re-anchored
    last_error: str | None = None
    next_retry_at: float | None = None  # UNIX time of the next attempt while reconnecting


class PushWorker:
    """Pushes one camera stream to one upstream URL, in its own thread."""

    def __init__(
        self,
        target: PushTarget,
        fanout: FanOut,
        *,
        policy: BackoffPolicy = DEFAULT_POLICY,
        queue_len: int = 100,
        stall_timeout_s: float = 10.0,
        open_timeout_s: float = 10.0,
        pipe_bytes: int = PIPE_BYTES,
    ) -> None:
        self.target = target
        self.fanout = fanout
        self.policy = policy
        self.queue_len = queue_len
        self.stall_timeout_s = stall_timeout_s
        self.open_timeout_s = open_timeout_s
        self.pipe_bytes = pipe_bytes  # what the pipe to the child absorbs while it connects
        self.display_url = redact_url(target.url)
        self.plan: OutputPlan = output_plan(target.url, target.rtsp_transport, stall_timeout_s)
        self.name = f"push-{target.camera}-{target.stream}"
        self._queue: PacketQueue | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._counters = _Counters()
        self._up: UpstreamSession | None = None
        self._pending = (0, 0)  # packets, bytes handed to a session not yet connected
        self._consecutive = 0  # failures since the last healthy output session
        self._retry_at = 0.0  # monotonic time before which no open is tried
        self._next_check = 0.0  # monotonic time the child's news is read next
        self._seen_dropped = 0
        self._failing = False  # the last attempt to open or send failed
        self._opened_once = False
        self._random = random.Random()

    # --- control ----------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"{self.name} already started")
        self._queue = self.fanout.subscribe(self.name, self.queue_len)
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop pushing: unsubscribe, close the upstream session and join the thread."""
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("push %s -> %s: thread still blocked after %.0f s",
                            self.target.camera, self.display_url, timeout)  # fmt: skip
        self._set_state(PushState.STOPPED)

    def request_stop(self) -> None:
        """Tell the thread to end (it closes the upstream session) without waiting for it."""
        self._stop.set()
        if self._queue is not None:
            self.fanout.unsubscribe(self._queue)  # closes the queue: a waiting get returns

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    @property
    def child_pid(self) -> int | None:
        """The process of the current upstream session, if any (for diagnostics and benches)."""
        up = self._up
        return None if up is None else up.pid

    def status(self) -> dict[str, Any]:
        """JSON-ready state and counters; the URL and the error are redacted."""
        with self._lock:
            c = self._counters
            dropped = self._queue.dropped if self._queue is not None else 0
            return {
                "camera": self.target.camera, "stream": self.target.stream,
                "url": self.display_url, "protocol": self.plan.protocol, "state": c.state.value,
                "connected_since": c.connected_since, "last_packet_at": c.last_packet_at,
                "packets": c.packets, "bytes": c.bytes, "sessions": c.sessions,
                "failures": c.failures, "dropped": dropped, "skipped": c.skipped,
                "ts_fixed": c.ts_fixed, "last_error": c.last_error,
                "next_retry_at": c.next_retry_at,
            }  # fmt: skip

    # --- the loop ---------------------------------------------------------------------------

    def _run(self) -> None:
        queue = self._queue
        assert queue is not None
        try:
            while not self._stop.is_set():
                item = queue.get(_POLL_S)
                if isinstance(item, SessionEnded):
                    self._session_ended(item)
                elif item is not None:
                    self._packet(item, queue.dropped)
                self._check_upstream()
        except Exception:  # a bug: say so; the status shows the worker stopped
            trace = redact_text(traceback.format_exc(), self.target.url)
            log.error("push %s -> %s: worker failed:\n%s", self.target.camera, self.display_url,
                      trace)  # fmt: skip
            with self._lock:
                self._counters.last_error = "internal error (see the log)"
        finally:
            self._close_upstream()
            self._set_state(PushState.STOPPED)
            log.info("push %s -> %s: stopped", self.target.camera, self.display_url)

    def _session_ended(self, item: SessionEnded) -> None:
        if self._up is not None and self._up.camera_session == item.info.session:
            log.debug("push %s: camera session %d ended (%s)", self.target.camera,
                      item.info.session, item.reason)  # fmt: skip
            self._close_upstream()
            self._set_state(PushState.WAITING_KEYFRAME)

    def _packet(self, item: PacketItem, dropped: int) -> None:
        up = self._up
        if up is not None and item.info.session != up.camera_session:
            log.debug("push %s: camera session %d began", self.target.camera, item.info.session)
            self._close_upstream()
            self._set_state(PushState.WAITING_KEYFRAME)
            up = None
        if dropped != self._seen_dropped:
            self._seen_dropped = dropped
            if up is not None:
                up.resync = True
        startable = item.keyframe and item.packet.pts is not None
        if up is None:
            if time.monotonic() < self._retry_at or not startable:
                self._skip()
                return
            up = self._open(item)
            if up is None:
                return
        elif up.resync:
            if not startable:
                self._skip()
                return
            up.resync = False
        self._send(up, item)

    def _skip(self) -> None:
        with self._lock:
            self._counters.skipped += 1

    def _set_state(self, state: PushState) -> None:
        with self._lock:
            self._counters.state = state
            if state is not PushState.PUSHING:
                self._counters.connected_since = None
            if state is not PushState.RECONNECTING:
                self._counters.next_retry_at = None

    # --- upstream session -------------------------------------------------------------------

    def _open(self, item: PacketItem) -> UpstreamSession | None:
        """Start an upstream session at keyframe `item` (sent by the caller)."""
        self._set_state(PushState.CONNECTING)
        try:
            self._up = UpstreamSession(
                self.target.url, self.plan, item, _rebaser(item),
                stall_timeout_s=self.stall_timeout_s, open_timeout_s=self.open_timeout_s,
                pipe_bytes=self.pipe_bytes,
            )  # fmt: skip
        except (SessionError, OSError, ValueError, av.error.FFmpegError) as error:
            self._failed(error)
        return self._up

    def _send(self, up: UpstreamSession, item: PacketItem) -> None:
        fixed = up.rebaser.fixed
        try:
            size = up.send(item)
        except SessionError as error:
            self._failed(error)
            return
        with self._lock:
            c = self._counters
            c.ts_fixed += up.rebaser.fixed - fixed
            if up.pushing_since is None:  # counted once the child says it is connected
                self._pending = (self._pending[0] + 1, self._pending[1] + size)
                return
            c.packets += 1
            c.bytes += size
            c.last_packet_at = time.time()

    def _check_upstream(self) -> None:
        """Follow the child: connected yet? failed? (also while no packet comes)"""
        up = self._up
        now = time.monotonic()
        if up is None or now < self._next_check:
            return
        self._next_check = now + _CHECK_S
        was_pushing = up.pushing_since is not None
        try:
            pushing = up.check()
        except SessionError as error:
            self._failed(error)
            return
        if pushing and not was_pushing:
            self._connected()

    def _connected(self) -> None:
        with self._lock:
            c = self._counters
            c.state, c.connected_since, c.next_retry_at = PushState.PUSHING, time.time(), None
            c.sessions += 1
            c.packets += self._pending[0]  # what waited in the pipe went out first
            c.bytes += self._pending[1]
            self._pending = (0, 0)
        # a new session after a camera reconnect or file loop is routine: debug only
        level = logging.INFO if self._failing or not self._opened_once else logging.DEBUG
        self._failing, self._opened_once = False, True
        log.log(level, "push %s -> %s: pushing", self.target.camera, self.display_url)

    def _close_upstream(self) -> None:
        up, self._up = self._up, None
        if up is not None:
            up.close()
        self._forget_pending()

    def _forget_pending(self) -> None:
        """Packets handed to a session that never connected were not sent: skipped."""
        with self._lock:
            self._counters.skipped += self._pending[0]
            self._pending = (0, 0)

    def _failed(self, error: BaseException) -> None:
        up, self._up = self._up, None
        pushing_since = None if up is None else up.pushing_since
        if up is not None:
            up.kill()
        self._forget_pending()
        reason = redact_text(str(error) if isinstance(error, SessionError)
                             else f"{type(error).__name__}: {error}", self.target.url)  # fmt: skip
        healthy_for = 0.0 if pushing_since is None else time.monotonic() - pushing_since
        news = failure_is_news(self._failing, self._counters.last_error, reason)
        self._consecutive = failures_after(self.policy, self._consecutive, healthy_for)
        self._failing = True
        delay = backoff_delay(self.policy, self._consecutive - 1, self._random.random())
        self._retry_at = time.monotonic() + delay
        with self._lock:
            c = self._counters
            c.failures += 1
            c.last_error = reason
            c.state, c.connected_since = PushState.RECONNECTING, None
            c.next_retry_at = time.time() + delay
        level = logging.WARNING if news else logging.DEBUG
        log.log(level, "push %s -> %s failed: %s; retrying in %.1f s (failure %d)",
                self.target.camera, self.display_url, reason, delay, self._consecutive)  # fmt: skip


def _rebaser(item: PacketItem) -> Rebaser:
    time_base = item.info.time_base
    template = item.info.template
    rate = getattr(template, "average_rate", None) or getattr(template, "guessed_rate", None)
    frame_ticks = item.packet.duration or round(1 / (Fraction(rate or DEFAULT_RATE) * time_base))
    return Rebaser(frame_ticks, max_step=max(1, round(MAX_STEP_S / time_base)))


# --- the service ------------------------------------------------------------------------------

FanoutOf = Callable[[str, str], FanOut | None]


class PushService:
    """One PushWorker per configured target; a target whose camera stream has no reader gets a
    status with an error instead of a worker."""

    def __init__(
        self,
        targets: Sequence[PushTarget],
        fanout_of: FanoutOf,
        *,
        policy: BackoffPolicy = DEFAULT_POLICY,
        stall_timeout_s: float = 10.0,
    ) -> None:
        self.targets = list(targets)
        self.fanout_of = fanout_of
        self.policy = policy
        self.stall_timeout_s = stall_timeout_s
        self.workers: list[PushWorker] = []
        self._missing: list[PushTarget] = []

    def start(self) -> None:
        for target in self.targets:
            fanout = self.fanout_of(target.camera, target.stream)
            if fanout is None:
                log.warning("push %s -> %s: camera has no %s stream", target.camera,
                            redact_url(target.url), target.stream)  # fmt: skip
                self._missing.append(target)
                continue
            worker = PushWorker(target, fanout, policy=self.policy,
                                stall_timeout_s=self.stall_timeout_s)  # fmt: skip
            worker.start()
            self.workers.append(worker)

    def stop(self, timeout: float = 10.0) -> None:
        for worker in self.workers:  # all sessions close at once, not one after the other
            worker.request_stop()
        for worker in self.workers:
            worker.stop(timeout)

    def status(self) -> list[dict[str, Any]]:
        """One entry per target, in configuration order."""
        by_target = {id(worker.target): worker.status() for worker in self.workers}
        return [
            by_target[id(target)] if id(target) in by_target else missing_status(target)
            for target in self.targets
        ]


def missing_status(target: PushTarget) -> dict[str, Any]:
    """The status of a target whose camera stream has no reader (same keys as a worker's)."""
    return {
        "camera": target.camera, "stream": target.stream, "url": redact_url(target.url),
        "protocol": output_plan(target.url).protocol, "state": PushState.NO_STREAM.value,
        "connected_since": None, "last_packet_at": None, "packets": 0, "bytes": 0,
        "sessions": 0, "failures": 0, "dropped": 0, "skipped": 0, "ts_fixed": 0,
        "last_error": f"camera {target.camera} has no {target.stream} stream",
        "next_retry_at": None,
    }  # fmt: skip
