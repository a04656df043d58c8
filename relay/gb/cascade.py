"""GB/T 28181 (2016) cascade: we are a lower platform registered with the upper platform.

`Cascade` runs a SIP user agent in its own thread with an asyncio loop:

- REGISTER (first without credentials; a 401/407 challenge is answered with MD5 digest, the
  username being our platform id and the digest URI ``sip:server_id@domain``), refreshed at
  `refresh_after` (half-way through short registrations, a minute before expiry of long ones)
  using the lifetime the registrar granted. 403, or a second challenge with the same nonce,
  means the password is wrong: state ``auth_failed``. No answer (SIP retransmission over UDP
  from T1 = 500 ms doubling up to T2 = 4 s, given up after 64·T1 = 32 s, RFC 3261 §17.1.2) or a
  lost TCP connection: state ``offline``. Both retry with capped exponential backoff and
  jitter; a warning is logged once per change of outcome, not per retry.
- MESSAGE Keepalive every ``keepalive_interval_s``; ``keepalive_max_failures`` unanswered or
  refused in a row ⇒ ``offline`` and register again.
- Incoming MESSAGE Query (Catalog in pages, DeviceInfo, DeviceStatus): 200 OK at once, then
  the Response MESSAGE(s). Other commands: 200 and nothing (logged once per command).
- Incoming INVITE for a channel: 100 Trying, the MediaFactory opens a bound session, 200 OK
  with the SDP answer (retransmitted over UDP until the ACK); ACK starts the media, BYE or
  CANCEL stops it; a session whose media ended (the platform went away) gets our BYE.
- `send_alarm` forwards video alarms (relay.gb.alarms) as MESSAGE Alarm notify.

Only the upper platform (``server_ip``, when it is an IP address) may send us requests; others
get 403.

2022 edition: the same flows. It has REGISTER carry ``X-GB-Ver`` (3.0 for 2022); we send none,
which platforms read as an older device (that header is known here from secondary sources, not
from the standard's text). TCP media roles (a=setup) are spelled out there; relay.gb.sdp
follows them. Malformed input is counted and logged at most once per 10 s; it never stops the loop.
The password never appears in logs or in `status()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from hallwatch.config_relay import Gb28181Settings, GbChannel
from hallwatch.events import Event
from ingest.backoff import BackoffPolicy, backoff_delay
from ingest.source import redact_text
from relay.gb import manscdp
from relay.gb.alarms import GbAlarm, alarm_time, gb_alarm
from relay.gb.digest import Challenge, DigestError, authorization, parse_challenge
from relay.gb.media_api import MediaFactory, MediaOffer, MediaSession, SdpError
from relay.gb.sdp import answer_sdp, parse_offer
from relay.gb.sip import (
    Headers,
    NameAddr,
    SipError,
    SipMessage,
    SipRequest,
    SipResponse,
    StreamFramer,
    call_id,
    make_response,
    new_branch,
    new_call_id,
    new_tag,
    parse_message,
    parse_name_addr,
    top_via,
    transaction_id,
    uri_user,
)

log = logging.getLogger(__name__)

State = Literal["stopped", "registering", "registered", "auth_failed", "offline"]
Address = tuple[str, int]
USER_AGENT = "hallwatch GB28181"
ALLOW = "INVITE, ACK, BYE, CANCEL, MESSAGE, OPTIONS"
MALFORMED_LOG_INTERVAL_S = 10.0
SESSION_POLL_S = 1.0
SHUTDOWN_WAIT_S = 3.0
DEFAULT_BACKOFF = BackoffPolicy(initial_s=2.0, max_s=300.0, factor=2.0, jitter=0.5)


@dataclass(frozen=True, slots=True)
class SipTimers:
    """RFC 3261 timers: T1 (RTT estimate) and T2 (retransmission cap); 64·T1 is the timeout."""

    t1: float = 0.5
    t2: float = 4.0

    @property
    def timeout(self) -> float:
        return 64 * self.t1


# ---- pure decisions ---------------------------------------------------------------------------


def refresh_after(granted_s: float) -> float:
    """Seconds from a successful REGISTER to its refresh: half-way for registrations of up to
    two minutes, one minute before expiry for longer ones, never sooner than 1 s."""
    return max(1.0, granted_s / 2, granted_s - 60)


RegisterStep = Literal["ok", "answer_challenge", "auth_failed", "rejected"]


def register_step(status: int, nonce: str | None, answered_nonce: str | None) -> RegisterStep:
    """What a REGISTER answer means. `nonce` is the new challenge's (401/407), and
    `answered_nonce` the one our credentials answered (None on the first, bare REGISTER)."""
    if 200 <= status < 300:
        return "ok"
    if status in (401, 407):
        if nonce is None:
            return "rejected"
        if answered_nonce is not None and nonce == answered_nonce:
            return "auth_failed"  # our answer to this very nonce was refused: wrong password
        return "answer_challenge"
    if status == 403:
        return "auth_failed"
    return "rejected"


def granted_expires(response: SipResponse, our_user: str, asked_s: int) -> int:
    """The registration lifetime granted: our Contact's expires parameter, else the Expires
    header, else what we asked for (RFC 3261 §10.2.4)."""
    for value in response.headers.get_all("Contact"):
        try:
            contact = parse_name_addr(value)
        except SipError:
            continue
        text = contact.params.get("expires", "")
        if uri_user(contact.uri) == our_user and text.isdigit():
            return int(text)
    text = (response.headers.get("Expires") or "").strip()
    return int(text) if text.isdigit() else asked_s


@dataclass(slots=True)
class LogLimiter:
    """One log line per `interval_s`; `allow` returns how many were held back before it, or
    None when this one is held back."""

    interval_s: float
    next_at: float = float("-inf")
    held: int = 0

    def allow(self, now: float) -> int | None:
        if now < self.next_at:
            self.held += 1
            return None
        held, self.held = self.held, 0
        self.next_at = now + self.interval_s
        return held


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


# ---- transports -------------------------------------------------------------------------------


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, owner: Cascade) -> None:
        self.owner = owner
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.owner._on_data(data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        log.debug("GB cascade: UDP error %s", exc)


class _Tcp(asyncio.Protocol):
    def __init__(self, owner: Cascade) -> None:
        self.owner = owner
        self.framer = StreamFramer()
        self.transport: asyncio.Transport | None = None
        self.peer: Address = ("", 0)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.peer = (str(peer[0]), int(peer[1])) if peer else ("", 0)

    def data_received(self, data: bytes) -> None:
        for item in self.framer.feed(data):
            if isinstance(item, SipError):
                self.owner._malformed(str(item), self.peer)
            else:
                self.owner._on_message(item, self.peer)

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner._on_tcp_lost(self, exc)


# ---- dialogs ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Invite:
    """An INVITE server transaction until its final answer."""

    request: SipRequest
    addr: Address
    cancelled: bool = False


@dataclass(slots=True)
class _Dialog:
    call_id: str
    channel: GbChannel
    offer: MediaOffer
    session: MediaSession
    local: NameAddr  # us (the INVITE's To, with our tag)
    remote: NameAddr  # the platform (the INVITE's From, with its tag)
    target: str  # the platform's Contact URI
    addr: Address
    ok: SipResponse
    created_at: float
    confirmed: bool = False
    cseq: int = 0
    ended: bool = False


@dataclass(slots=True)
class _Counters:
    keepalives_sent: int = 0
    keepalives_failed: int = 0
    keepalive_streak: int = 0
    malformed: int = 0
    alarms_sent: int = 0
    alarms_failed: int = 0
    catalog_answers: int = 0
    ignored: set[str] = field(default_factory=set)


class Cascade:
    """The lower-platform SIP UA (see the module docstring). Thread-safe: start, stop,
    status, send_alarm."""

    def __init__(
        self,
        settings: Gb28181Settings,
        media: MediaFactory,
        *,
        channel_names: Mapping[str, str],
        channel_online: Callable[[str], bool],
        platform_name: str,
        timers: SipTimers | None = None,
        backoff: BackoffPolicy = DEFAULT_BACKOFF,
    ) -> None:
        self.settings = settings
        self.media = media
        self.channel_names = dict(channel_names)
        self.channel_online = channel_online
        self.platform_name = platform_name
        self.timers = timers or SipTimers()
        self.backoff = backoff
        self._channels = {channel.channel_id: channel for channel in settings.channels}
        self._by_camera = {channel.camera: channel for channel in settings.channels}
        self._server: Address = (settings.server_ip, settings.server_port)
        self._domain = settings.platform_id[:10]
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._wake: asyncio.Event | None = None
        # loop-owned state (read by status() under the lock)
        self._state: State = "stopped"
        self._logged: tuple[str, str | None] | None = None
        self._registered_at: float | None = None
        self._expires_at: float | None = None
        self._last_error: str | None = None
        self._next_retry_at: float | None = None
        self._local: Address = (settings.local_ip, settings.local_port)
        self._counters = _Counters()
        self._dialogs: dict[str, _Dialog] = {}
        self._invites: dict[str, _Invite] = {}  # by the INVITE's branch
        self._pending: dict[str, asyncio.Future[SipResponse]] = {}
        self._answered: OrderedDict[tuple[str, str], tuple[float, bytes, Address]] = OrderedDict()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._udp: _Udp | None = None
        self._tcp: _Tcp | None = None
        self._reg_call_id = ""
        self._reg_cseq = 0
        self._reg_tag = new_tag()
        self._challenge: Challenge | None = None
        self._nc = 0
        self._sn = 0
        self._keepalive_due: float | None = None  # loop time of the next keepalive
        self._malformed_log = LogLimiter(MALFORMED_LOG_INTERVAL_S)

    # ---- public, any thread -------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._thread_main, args=(ready,), name="gb-cascade", daemon=True
        )
        self._thread.start()
        ready.wait(10.0)

    def stop(self, timeout: float = 15.0) -> None:
        """Unregister (REGISTER Expires: 0), BYE every session, stop media, end the thread."""
        thread, loop, stop_event = self._thread, self._loop, self._stop_event
        if thread is None:
            return
        if loop is not None and stop_event is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop_event.set)
        thread.join(timeout)
        if thread.is_alive():
            log.warning("GB cascade: thread did not end within %s s", timeout)
        self._thread = None

    def status(self) -> dict[str, Any]:
        with self._lock:
            counters = self._counters
            sessions = [self._session_status(d) for d in self._dialogs.values()]
            return {
                "state": self._state,
                "server": f"{self.settings.server_id}@{self._server[0]}:{self._server[1]}",
                "transport": self.settings.transport,
                "local": f"{self._local[0]}:{self._local[1]}",
                "registered_at": self._registered_at,
                "expires_at": self._expires_at,
                "last_error": self._last_error,
                "next_retry_at": self._next_retry_at,
                "keepalives": {
                    "sent": counters.keepalives_sent,
                    "failed": counters.keepalives_failed,
                    "consecutive_failures": counters.keepalive_streak,
                },
                "malformed": counters.malformed,
                "alarms": {"sent": counters.alarms_sent, "failed": counters.alarms_failed},
                "catalog_answers": counters.catalog_answers,
                "sessions": sessions,
            }

    def send_alarm(self, event: Event) -> bool:
        """Queue `event` as a MESSAGE Alarm; False when alarms are off, we are not registered,
        the camera is not shared or the event type is not forwarded."""
        loop = self._loop
        if not self.settings.alarms or loop is None or loop.is_closed():
            return False
        with self._lock:
            if self._state != "registered":
                return False
        channel = self._by_camera.get(event.camera)
        alarm = gb_alarm(event)
        if channel is None or alarm is None:
            return False
        try:
            loop.call_soon_threadsafe(self._spawn, self._send_alarm(channel.channel_id, alarm))
        except RuntimeError:  # the loop closed meanwhile
            return False
        return True

    # ---- thread and lifecycle -----------------------------------------------------------------

    def _thread_main(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        self._stop_event = asyncio.Event()
        self._wake = asyncio.Event()
        ready.set()
        try:
            loop.run_until_complete(self._main())
        except Exception:
            log.exception("GB cascade: loop failed")
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()
            with self._lock:
                self._state = "stopped"

    async def _main(self) -> None:
        assert self._stop_event is not None
        with self._lock:
            self._state = "registering"
        runner = asyncio.create_task(self._register_loop())
        watcher = asyncio.create_task(self._watch_sessions())
        await self._stop_event.wait()
        for task in (runner, watcher):
            task.cancel()
        await asyncio.gather(runner, watcher, return_exceptions=True)
        await self._shutdown()

    async def _shutdown(self) -> None:
        dialogs = list(self._dialogs.values())
        byes = [self._hang_up(dialog, "shutdown") for dialog in dialogs]
        was_registered = self._state == "registered"
        jobs: list[Coroutine[Any, Any, Any]] = list(byes)
        if was_registered:
            jobs.append(self._register_once(0))
        if jobs:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.gather(*jobs, return_exceptions=True), SHUTDOWN_WAIT_S
                )
        for dialog in dialogs:  # BYE not answered in time: stop the media anyway
            await self._stop_session(dialog)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._close_transport()
        with self._lock:
            self._state = "stopped"
            self._dialogs.clear()
            self._expires_at = None
            self._next_retry_at = None
        log.info("GB cascade stopped%s", " (unregistered)" if was_registered else "")

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("GB cascade: task failed", exc_info=task.exception())

    # ---- registration -------------------------------------------------------------------------

    async def _register_loop(self) -> None:
        attempt = 0
        while True:
            try:
                outcome, detail, granted = await self._register_attempt()
            except OSError as exc:
                outcome, detail, granted = "offline", f"cannot reach the platform: {exc}", 0
            if outcome == "ok":
                attempt = 0
                self._registered(granted)
                reason = await self._registered_phase(granted)
                if reason is not None:
                    self._failed("offline", reason)
                    self._new_registration()
                continue
            self._new_registration()
            self._failed("auth_failed" if outcome == "auth_failed" else "offline", detail)
            delay = backoff_delay(self.backoff, attempt, random.random())
            attempt += 1
            with self._lock:
                self._next_retry_at = time.time() + delay
            log.debug("GB cascade: next REGISTER in %.1f s", delay)
            await asyncio.sleep(delay)

    async def _register_attempt(self) -> tuple[str, str, int]:
        if self.settings.transport == "tcp":
            await self._ensure_tcp()
        elif self._udp is None:
            await self._open_udp()
        return await self._register_once(self.settings.register_expires_s)

    def _new_registration(self) -> None:
        """After a failure or on a new connection: the next REGISTER starts a new Call-ID
        (refreshes keep theirs, RFC 3261 §10.2.4)."""
        self._reg_call_id = ""

    async def _register_once(self, expires: int) -> tuple[str, str, int]:
        """One registration (or, with 0, unregistration) with its challenge round trips:
        ("ok", "", granted) / ("auth_failed" | "timeout" | "rejected", why, 0)."""
        if not self._reg_call_id:
            self._reg_call_id = new_call_id(self.settings.local_ip)
            self._reg_tag = new_tag()
        answered: str | None = None
        credentials: tuple[str, str] | None = None
        if self._challenge is not None:  # answer the last challenge at once (next nc)
            credentials = self._credentials(self._challenge)
            answered = self._challenge.nonce
        for _ in range(3):
            response = await self._request(self._register_request(expires, credentials))
            if response is None:
                return "timeout", "REGISTER: no answer from the platform", 0
            header = "Proxy-Authenticate" if response.status == 407 else "WWW-Authenticate"
            challenge: Challenge | None = None
            if response.status in (401, 407):
                try:
                    challenge = parse_challenge(response.headers.get(header) or "")
                except DigestError as exc:
                    return "rejected", f"REGISTER: unusable challenge ({exc})", 0
                if challenge.stale:
                    answered = None  # our password was right, the nonce had expired
            step = register_step(response.status, challenge.nonce if challenge else None, answered)
            if step == "ok":
                return "ok", "", granted_expires(response, self.settings.platform_id, expires)
            if step == "auth_failed":
                self._challenge = None
                return "auth_failed", f"REGISTER refused: {response.status} {response.reason}", 0
            if step == "rejected":
                return "rejected", f"REGISTER answered {response.status} {response.reason}", 0
            assert challenge is not None
            self._challenge = challenge
            self._nc = 0
            credentials = self._credentials(challenge, proxy=response.status == 407)
            answered = challenge.nonce
        return "auth_failed", "REGISTER: challenged again and again", 0

    def _credentials(self, challenge: Challenge, proxy: bool = False) -> tuple[str, str]:
        self._nc += 1
        value = authorization(
            challenge,
            username=self.settings.platform_id,
            password=self.settings.password,
            method="REGISTER",
            uri=self._server_uri(),
            nc=self._nc,
        )
        return ("Proxy-Authorization" if proxy else "Authorization"), value

    def _register_request(self, expires: int, credentials: tuple[str, str] | None) -> SipRequest:
        self._reg_cseq += 1
        me = f"sip:{self.settings.platform_id}@{self._domain}"
        headers = self._via_headers()
        headers.add("From", f"<{me}>;tag={self._reg_tag}")
        headers.add("To", f"<{me}>")
        headers.add("Call-ID", self._reg_call_id)
        headers.add("CSeq", f"{self._reg_cseq} REGISTER")
        headers.add("Contact", f"<{self._contact_uri(self.settings.platform_id)}>")
        if credentials is not None:
            headers.add(*credentials)
        headers.add("Max-Forwards", "70")
        headers.add("User-Agent", USER_AGENT)
        headers.add("Expires", str(expires))
        return SipRequest("REGISTER", self._server_uri(), headers)

    def _registered(self, granted: int) -> None:
        now = time.time()
        with self._lock:
            if self._state != "registered":
                self._registered_at = now
                self._keepalive_due = None  # the first keepalive right after registering
            self._state = "registered"
            self._expires_at = now + granted
            self._last_error = None
            self._next_retry_at = None
            self._counters.keepalive_streak = 0
        self._log_outcome("registered", None, logging.INFO)

    def _failed(self, state: State, detail: str) -> None:
        detail = redact_text(detail, hidden=(self.settings.password,))
        with self._lock:
            self._state = state
            self._last_error = detail
            self._registered_at = None
            self._expires_at = None
        self._log_outcome(state, detail, logging.WARNING)

    def _log_outcome(self, state: str, detail: str | None, level: int) -> None:
        """Log once per change of (state, reason): retries that fail alike stay quiet."""
        if self._logged == (state, detail):
            return
        self._logged = (state, detail)
        if detail is None:
            log.log(level, "GB cascade %s with %s", state, self._server_text())
        else:
            log.log(level, "GB cascade %s (%s): %s", state, self._server_text(), detail)

    async def _registered_phase(self, granted: int) -> str | None:
        """Keepalives until the refresh is due (None) or the platform looks gone (why)."""
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        refresh_at = loop.time() + refresh_after(granted)
        next_keepalive = self._keepalive_due or loop.time()  # a refresh keeps the rhythm
        interval = self.settings.keepalive_interval_s
        while True:
            if self.settings.transport == "tcp" and self._tcp is None:
                return "TCP connection to the platform lost"
            now = loop.time()
            if now >= refresh_at:
                return None
            if now >= next_keepalive:
                if not await self._keepalive():
                    streak = self._counters.keepalive_streak
                    if streak >= self.settings.keepalive_max_failures:
                        return f"{streak} keepalives in a row unanswered or refused"
                next_keepalive = max(next_keepalive + interval, loop.time())
                self._keepalive_due = next_keepalive
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), min(refresh_at, next_keepalive) - now)

    async def _keepalive(self) -> bool:
        body = manscdp.keepalive(self._next_sn(), self.settings.platform_id)
        with self._lock:
            self._counters.keepalives_sent += 1
        response = await self._send_message(body)
        ok = response is not None and 200 <= response.status < 300
        with self._lock:
            if ok:
                self._counters.keepalive_streak = 0
            else:
                self._counters.keepalives_failed += 1
                self._counters.keepalive_streak += 1
        if not ok:
            log.debug("GB cascade: keepalive %s", "timed out" if response is None else "refused")
        return ok

    # ---- transports ---------------------------------------------------------------------------

    async def _open_udp(self) -> None:
        loop = asyncio.get_running_loop()
        host, port = self.settings.local_ip, self.settings.local_port
        try:
            transport, protocol = await loop.create_datagram_endpoint(
                lambda: _Udp(self), local_addr=(host, port)
            )
        except OSError:
            transport, protocol = await loop.create_datagram_endpoint(
                lambda: _Udp(self), local_addr=("0.0.0.0", port)
            )
        self._udp = protocol
        bound = transport.get_extra_info("sockname")
        with self._lock:
            self._local = (self.settings.local_ip, int(bound[1]))

    async def _ensure_tcp(self) -> None:
        if self._tcp is not None:
            return
        loop = asyncio.get_running_loop()
        port = self.settings.local_port
        local = (self.settings.local_ip, port) if port else None
        protocol = _Tcp(self)
        try:
            await asyncio.wait_for(
                loop.create_connection(
                    lambda: protocol, self._server[0], self._server[1], local_addr=local
                ),
                min(10.0, self.timers.timeout),
            )
        except TimeoutError:
            raise OSError("TCP connect timed out") from None
        assert protocol.transport is not None
        self._tcp = protocol
        bound = protocol.transport.get_extra_info("sockname")
        with self._lock:
            self._local = (self.settings.local_ip, int(bound[1]))
        self._new_registration()  # a new connection is a new registration

    def _on_tcp_lost(self, protocol: _Tcp, exc: Exception | None) -> None:
        if self._tcp is not protocol:
            return
        self._tcp = None
        log.debug("GB cascade: TCP connection lost (%s)", exc)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionError("TCP connection lost"))
        if self._wake is not None:
            self._wake.set()

    def _close_transport(self) -> None:
        if self._udp is not None and self._udp.transport is not None:
            self._udp.transport.close()
        self._udp = None
        if self._tcp is not None and self._tcp.transport is not None:
            self._tcp.transport.close()
        self._tcp = None

    def _send(self, data: bytes, addr: Address) -> None:
        if self.settings.transport == "tcp":
            if self._tcp is None or self._tcp.transport is None:
                raise ConnectionError("no TCP connection to the platform")
            self._tcp.transport.write(data)
        else:
            if self._udp is None or self._udp.transport is None:
                raise ConnectionError("SIP socket closed")
            self._udp.transport.sendto(data, addr)

    # ---- client transactions ------------------------------------------------------------------

    async def _request(
        self, request: SipRequest, addr: Address | None = None
    ) -> SipResponse | None:
        """Send a non-INVITE request and wait for its final answer (None: timeout or no
        connection). Over UDP it is retransmitted per RFC 3261 §17.1.2."""
        loop = asyncio.get_running_loop()
        branch = top_via(request).branch or ""
        future: asyncio.Future[SipResponse] = loop.create_future()
        self._pending[branch] = future
        data = request.to_bytes()
        target = addr or self._server
        deadline = loop.time() + self.timers.timeout
        interval = self.timers.t1
        try:
            while True:
                self._send(data, target)
                left = max(0.0, deadline - loop.time())
                wait = left if self.settings.transport == "tcp" else min(interval, left)
                try:
                    return await asyncio.wait_for(asyncio.shield(future), wait)
                except TimeoutError:
                    if loop.time() >= deadline - 0.001:
                        return None
                    interval = min(interval * 2, self.timers.t2)
        except (OSError, ConnectionError) as exc:
            log.debug("GB cascade: %s not sent: %s", request.method, exc)
            return None
        finally:
            self._pending.pop(branch, None)
            if not future.done():
                future.cancel()

    def _via_headers(self) -> Headers:
        headers = Headers()
        proto = self.settings.transport.upper()
        host, port = self._local
        headers.add("Via", f"SIP/2.0/{proto} {host}:{port};rport;branch={new_branch()}")
        return headers

    def _server_uri(self) -> str:
        return f"sip:{self.settings.server_id}@{self.settings.server_domain}"

    def _contact_uri(self, user: str) -> str:
        host, port = self._local
        return f"sip:{user}@{host}:{port}"

    def _server_text(self) -> str:
        return f"{self.settings.server_id}@{self._server[0]}:{self._server[1]}"

    def _next_sn(self) -> int:
        self._sn += 1
        return self._sn

    async def _send_message(self, xml_text: str) -> SipResponse | None:
        """An out-of-dialog MESSAGE with a MANSCDP body to the upper platform."""
        headers = self._via_headers()
        headers.add("From", f"<sip:{self.settings.platform_id}@{self._domain}>;tag={new_tag()}")
        headers.add("To", f"<{self._server_uri()}>")
        headers.add("Call-ID", new_call_id(self.settings.local_ip))
        headers.add("CSeq", "1 MESSAGE")  # a new Call-ID each: a new sequence each
        headers.add("Max-Forwards", "70")
        headers.add("User-Agent", USER_AGENT)
        headers.add("Content-Type", manscdp.CONTENT_TYPE)
        body = manscdp.encode(xml_text, self.settings.charset)
        return await self._request(SipRequest("MESSAGE", self._server_uri(), headers, body))

    # ---- incoming -----------------------------------------------------------------------------

    def _on_data(self, data: bytes, addr: Address) -> None:
        if not data.strip(b"\r\n\x00 "):
            return  # keepalive pings
        try:
            message = parse_message(data)
        except SipError as exc:
            self._malformed(str(exc), addr)
            return
        self._on_message(message, addr)

    def _malformed(self, why: str, addr: Address) -> None:
        with self._lock:
            self._counters.malformed += 1
        held = self._malformed_log.allow(time.monotonic())
        if held is not None:
            log.warning(
                "GB cascade: malformed SIP from %s:%s ignored (%s); %d more not logged",
                addr[0], addr[1], why, held,
            )  # fmt: skip

    def _on_message(self, message: SipMessage, addr: Address) -> None:
        try:
            if isinstance(message, SipResponse):
                self._on_response(message)
            else:
                self._on_request(message, addr)
        except (SipError, ValueError) as exc:
            self._malformed(str(exc), addr)
        except Exception:
            log.exception("GB cascade: failed to handle a message from %s:%s", *addr)

    def _on_response(self, response: SipResponse) -> None:
        branch = top_via(response).branch or ""
        future = self._pending.get(branch)
        if future is None or future.done() or response.status < 200:
            return
        future.set_result(response)

    def _on_request(self, request: SipRequest, addr: Address) -> None:
        cached = self._answered.get((transaction_id(request), request.method))
        if cached is not None and request.method != "ACK":  # a retransmission
            self._send_quietly(cached[1], cached[2])
            return
        if is_ip(self._server[0]) and addr[0] != self._server[0] and request.method != "ACK":
            self._respond(request, addr, make_response(request, 403, "Only the upper platform"))
            return
        handlers: dict[str, Callable[[SipRequest, Address], None]] = {
            "MESSAGE": self._on_message_request,
            "INVITE": self._on_invite,
            "ACK": self._on_ack,
            "BYE": self._on_bye,
            "CANCEL": self._on_cancel,
            "OPTIONS": self._on_options,
        }
        handler = handlers.get(request.method)
        if handler is None:
            response = make_response(request, 501, extra=[("Allow", ALLOW)])
            self._respond(request, addr, response)
            return
        handler(request, addr)

    def _respond(self, request: SipRequest, addr: Address, response: SipResponse) -> None:
        data = response.to_bytes()
        key = (transaction_id(request), request.method)
        now = time.monotonic()
        self._answered[key] = (now, data, addr)
        self._answered.move_to_end(key)
        while self._answered and (
            len(self._answered) > 512
            or next(iter(self._answered.values()))[0] < now - self.timers.timeout
        ):
            self._answered.popitem(last=False)
        self._send_quietly(data, addr)

    def _send_quietly(self, data: bytes, addr: Address) -> None:
        try:
            self._send(data, addr)
        except (OSError, ConnectionError) as exc:
            log.debug("GB cascade: answer not sent: %s", exc)

    def _target_user(self, request: SipRequest) -> str | None:
        user = uri_user(request.uri)
        if user is None:
            with contextlib.suppress(SipError):
                user = uri_user(parse_name_addr(request.headers.get("To") or "").uri)
        return user

    def _on_options(self, request: SipRequest, addr: Address) -> None:
        self._respond(request, addr, make_response(request, 200, extra=[("Allow", ALLOW)]))

    # ---- MESSAGE: queries ---------------------------------------------------------------------

    def _on_message_request(self, request: SipRequest, addr: Address) -> None:
        target = self._target_user(request)
        if target != self.settings.platform_id and target not in self._channels:
            self._respond(request, addr, make_response(request, 404))
            return
        try:
            body = manscdp.parse(request.body)
        except manscdp.ManscdpError as exc:
            self._malformed(f"MESSAGE body: {exc}", addr)
            self._respond(request, addr, make_response(request, 400))
            return
        device = body.device_id or target
        if device != self.settings.platform_id and device not in self._channels:
            self._respond(request, addr, make_response(request, 404))
            return
        self._respond(request, addr, make_response(request, 200))
        if body.root == "Query" and body.cmd_type in ("Catalog", "DeviceInfo", "DeviceStatus"):
            self._spawn(self._answer_query(body.cmd_type, body.sn or 0, device))
        else:
            self._ignored(f"{body.root}/{body.cmd_type}")

    def _ignored(self, what: str) -> None:
        if what not in self._counters.ignored:
            self._counters.ignored.add(what)
            log.info("GB cascade: %s is not supported; answered 200 and ignored", what)

    async def _answer_query(self, cmd_type: str, sn: int, device: str) -> None:
        if cmd_type == "Catalog":
            bodies = manscdp.catalog_pages(
                sn, device, self._catalog_items(device), self.settings.catalog_page_size
            )
        elif cmd_type == "DeviceInfo":
            bodies = [self._device_info(sn, device)]
        else:
            bodies = [
                manscdp.device_status(
                    sn, device, online=self._is_online(device), device_time=alarm_time(time.time())
                )
            ]
        for body in bodies:  # in order: some platforms assemble the pages as they come
            response = await self._send_message(body)
            if response is None or response.status >= 300:
                log.info("GB cascade: %s response not accepted (%s)", cmd_type,
                         "no answer" if response is None else response.status)  # fmt: skip
                return
        if cmd_type == "Catalog":
            with self._lock:
                self._counters.catalog_answers += 1

    def _catalog_items(self, device: str) -> list[manscdp.CatalogItem]:
        if device != self.settings.platform_id:
            return []  # a channel has no children
        return [
            manscdp.CatalogItem(
                device_id=channel.channel_id,
                name=self.channel_names.get(channel.camera, channel.camera),
                online=self._camera_online(channel.camera),
                civil_code=self.settings.platform_id[:6],
                address=self.platform_name,
                parent_id=self.settings.platform_id,
            )
            for channel in self.settings.channels
        ]

    def _device_info(self, sn: int, device: str) -> str:
        if device == self.settings.platform_id:
            return manscdp.device_info(
                sn, device, name=self.platform_name, channels=len(self.settings.channels)
            )
        camera = self._channels[device].camera
        return manscdp.device_info(
            sn, device, name=self.channel_names.get(camera, camera), channels=1
        )

    def _is_online(self, device: str) -> bool:
        if device == self.settings.platform_id:
            return True
        return self._camera_online(self._channels[device].camera)

    def _camera_online(self, camera: str) -> bool:
        try:
            return bool(self.channel_online(camera))
        except Exception:
            log.exception("GB cascade: channel_online(%s) failed", camera)
            return False

    async def _send_alarm(self, channel_id: str, alarm: GbAlarm) -> None:
        body = manscdp.alarm_notify(
            self._next_sn(),
            channel_id,
            priority=alarm.priority,
            method=alarm.method,
            alarm_time=alarm.alarm_time,
            description=alarm.description,
            alarm_type=alarm.alarm_type,
            event_type=alarm.event_type,
        )
        response = await self._send_message(body)
        ok = response is not None and 200 <= response.status < 300
        with self._lock:
            if ok:
                self._counters.alarms_sent += 1
            else:
                self._counters.alarms_failed += 1

    # ---- INVITE dialogs -----------------------------------------------------------------------

    def _on_invite(self, request: SipRequest, addr: Address) -> None:
        target = self._target_user(request)
        channel = self._channels.get(target or "")
        if channel is None:
            self._respond(request, addr, make_response(request, 404))
            return
        if call_id(request) in self._dialogs:
            response = make_response(request, 488, extra=[("Warning", '399 - "no re-INVITE"')])
            self._respond(request, addr, response)
            return
        self._respond(request, addr, make_response(request, 100))
        branch = transaction_id(request)
        self._invites[branch] = _Invite(request, addr)
        self._spawn(self._answer_invite(branch, channel))

    async def _answer_invite(self, branch: str, channel: GbChannel) -> None:
        invite = self._invites[branch]
        request, addr = invite.request, invite.addr
        try:
            try:
                offer = parse_offer(request.body.decode("utf-8", "replace"), channel.channel_id)
                loop = asyncio.get_running_loop()
                session = await loop.run_in_executor(
                    None, self.media.open, channel, offer, self.settings.local_ip
                )
            except SdpError as exc:
                if invite.cancelled:  # 487 already answered
                    return
                reason = redact_text(str(exc)).replace('"', "'")[:200]
                log.info("GB cascade: INVITE for %s refused: %s", channel.channel_id, reason)
                warning = ("Warning", f'399 {self.settings.local_ip} "{reason}"')
                self._respond(request, addr, make_response(request, 488, extra=[warning]))
                return
            except OSError as exc:
                if invite.cancelled:
                    return
                log.warning("GB cascade: no media port for %s: %s", channel.channel_id, exc)
                self._respond(request, addr, make_response(request, 500))
                return
            if invite.cancelled:
                await asyncio.get_running_loop().run_in_executor(None, session.stop)
                return
            self._accept_invite(invite, channel, offer, session)
        finally:
            self._invites.pop(branch, None)

    def _accept_invite(
        self, invite: _Invite, channel: GbChannel, offer: MediaOffer, session: MediaSession
    ) -> None:
        request, addr = invite.request, invite.addr
        sdp = answer_sdp(offer, session.answer, our_id=channel.channel_id, ssrc=offer.ssrc)
        tag = new_tag()
        response = make_response(
            request,
            200,
            to_tag=tag,
            extra=[
                ("Contact", f"<{self._contact_uri(channel.channel_id)}>"),
                ("User-Agent", USER_AGENT),
                ("Content-Type", "APPLICATION/SDP"),
            ],
            body=sdp.encode("ascii"),
        )
        remote = parse_name_addr(request.headers.get("From") or "")
        local = parse_name_addr(response.headers.get("To") or "")
        contact = request.headers.get_all("Contact")
        target = parse_name_addr(contact[0]).uri if contact else remote.uri
        dialog = _Dialog(
            call_id(request), channel, offer, session, local, remote, target, addr, response,
            created_at=time.time(),
        )  # fmt: skip
        with self._lock:
            self._dialogs[dialog.call_id] = dialog
        self._respond(request, addr, response)
        log.info("GB cascade: INVITE %s → %s:%s accepted", channel.channel_id, offer.ip, offer.port)
        if self.settings.transport == "udp":
            self._spawn(self._retransmit_ok(dialog))

    async def _retransmit_ok(self, dialog: _Dialog) -> None:
        """RFC 3261 §13.3.1.4: resend the 2xx until the ACK; none in 64·T1 ⇒ BYE."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timers.timeout
        interval = self.timers.t1
        data = dialog.ok.to_bytes()
        while loop.time() < deadline:
            await asyncio.sleep(min(interval, max(0.0, deadline - loop.time())))
            if dialog.confirmed or dialog.ended:
                return
            self._send_quietly(data, dialog.addr)
            interval = min(interval * 2, self.timers.t2)
        if not dialog.confirmed and not dialog.ended:
            log.warning("GB cascade: no ACK for %s; hanging up", dialog.channel.channel_id)
            await self._hang_up(dialog, "no ACK")

    def _on_ack(self, request: SipRequest, addr: Address) -> None:
        dialog = self._dialogs.get(call_id(request))
        if dialog is None or dialog.confirmed:
            return  # ACK of a non-2xx answer, or a retransmitted ACK
        dialog.confirmed = True
        try:
            dialog.session.start()
        except Exception:
            log.exception("GB cascade: media start failed for %s", dialog.channel.channel_id)

    def _on_bye(self, request: SipRequest, addr: Address) -> None:
        with self._lock:
            dialog = self._dialogs.pop(call_id(request), None)
        if dialog is None:
            self._respond(request, addr, make_response(request, 481))
            return
        dialog.ended = True
        self._respond(request, addr, make_response(request, 200))
        log.info("GB cascade: BYE for %s", dialog.channel.channel_id)
        self._spawn(self._stop_session(dialog))

    def _on_cancel(self, request: SipRequest, addr: Address) -> None:
        invite = self._invites.get(transaction_id(request))
        if invite is None:
            self._respond(request, addr, make_response(request, 481))
            return
        invite.cancelled = True
        self._respond(request, addr, make_response(request, 200))
        self._respond(
            invite.request, invite.addr, make_response(invite.request, 487, to_tag=new_tag())
        )

    async def _stop_session(self, dialog: _Dialog) -> None:
        await asyncio.get_running_loop().run_in_executor(None, dialog.session.stop)

    async def _hang_up(self, dialog: _Dialog, why: str) -> None:
        """Our BYE (shutdown, no ACK, media ended): the session stops whatever the answer."""
        with self._lock:
            self._dialogs.pop(dialog.call_id, None)
        dialog.ended = True
        dialog.cseq += 1
        headers = self._via_headers()
        headers.add("From", str(dialog.local))
        headers.add("To", str(dialog.remote))
        headers.add("Call-ID", dialog.call_id)
        headers.add("CSeq", f"{dialog.cseq} BYE")
        headers.add("Max-Forwards", "70")
        headers.add("User-Agent", USER_AGENT)
        log.info("GB cascade: BYE to %s (%s)", dialog.channel.channel_id, why)
        try:
            await self._request(SipRequest("BYE", dialog.target, headers), dialog.addr)
        finally:
            await self._stop_session(dialog)

    async def _watch_sessions(self) -> None:
        """Hang up dialogs whose media ended on its own (the platform went away)."""
        while True:
            await asyncio.sleep(SESSION_POLL_S)
            for dialog in list(self._dialogs.values()):
                if dialog.confirmed and not dialog.ended:
                    state = _stats(dialog.session).get("state")
                    if state == "ended":
                        self._spawn(self._hang_up(dialog, "media ended"))

    def _session_status(self, dialog: _Dialog) -> dict[str, Any]:
        return {
            "call_id": dialog.call_id,
            "channel": dialog.channel.channel_id,
            "camera": dialog.channel.camera,
            "dest": f"{dialog.offer.ip}:{dialog.offer.port}",
            "transport": dialog.offer.transport,
            "confirmed": dialog.confirmed,
            "created_at": dialog.created_at,
            "stats": _stats(dialog.session),
        }


def _stats(session: MediaSession) -> dict[str, Any]:
    try:
        return session.stats()
    except Exception as exc:  # status must not fail because one session's stats did
        return {"error": f"stats failed: {type(exc).__name__}"}
