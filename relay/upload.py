"""Alarm and case-card upload to the provincial platform's JSON webhook, from the outbox.

One thread (`Uploader`) fills the outbox from the store's event changes about once a second
(or at once after `wake()`) and POSTs batches, oldest first:

    POST <url>
    Content-Type: application/json; charset=utf-8
    Authorization: Bearer <key>
    X-Hallwatch-Timestamp: <UNIX seconds>
    X-Hallwatch-Signature: sha256=<hex HMAC-SHA256(key, "<timestamp>." + body)>

    {"site": ..., "sent_at": ..., "messages": [...]}   (see relay/outbox.py for a message)

The signature covers the timestamp so that a receiver can refuse replays of old bodies.

What an answer means (`classify`):

    2xx                          delivered: the messages are marked and never sent again
    no answer, 5xx, 408, 429     transient: the same messages again after a capped exponential
                                 backoff with jitter (Retry-After honoured, up to the cap)
    401, 403, 404, 405, 3xx      refused: the link is misconfigured (key, URL); everything
                                 waits the longest backoff (retry_max_s) and stays pending
    other 4xx                    rejected: the platform refuses the content; the messages are
                                 flagged and sent one at a time (relay/outbox.py)

Delivery is at least once: a request that reached the platform but whose answer was lost
(timeout, crash between send and mark) is sent again; receivers dedupe on `message_id`.
"""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import http.client
import json
import logging
import random
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from hallwatch.config_relay import UploadSettings
from hallwatch.store import Store
from ingest.backoff import BackoffPolicy, backoff_delay
from ingest.source import redact_text, redact_url
from relay.outbox import Message, MessageState, Outbox, rejected_delay

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hallwatch-Signature"
TIMESTAMP_HEADER = "X-Hallwatch-Timestamp"
USER_AGENT = "hallwatch-upload/1"
ANSWER_PREVIEW_BYTES = 300
PRUNE_EVERY_S = 3600.0
DEFAULT_POLL_S = 1.0


class Outcome(StrEnum):
    DELIVERED = "delivered"
    TRANSIENT = "transient"
    REFUSED = "refused"
    REJECTED = "rejected"


class UploadState(StrEnum):
    IDLE = "idle"  # nothing pending
    DELIVERING = "delivering"  # messages pending, the link works (or has not been tried)
    BACKING_OFF = "backing_off"  # the last request failed transiently; waiting to retry
    FAILING = "failing"  # the link is refused (key, URL) or the platform rejects messages


TRANSIENT_STATUSES = frozenset({408, 429})
REFUSED_STATUSES = frozenset({401, 403, 404, 405})


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    reason: str
    retry_after: str | None
    preview: str  # the start of the body, for the error text


@dataclass(frozen=True, slots=True)
class Retry:
    """What a failed request leads to."""

    messages_at: float  # next attempt of the batch's messages
    link_at: float  # no request at all before this
    rejected: bool | None  # the messages' rejected flag (None: keep)


# --- pure decisions -------------------------------------------------------------------------


def classify(status: int | None) -> Outcome:
    """What an HTTP status (None: no answer) means for the batch; see the module docstring."""
    if status is None or status >= 500 or status in TRANSIENT_STATUSES:
        return Outcome.TRANSIENT
    if 200 <= status < 300:
        return Outcome.DELIVERED
    if status in REFUSED_STATUSES or status < 400:
        return Outcome.REFUSED
    return Outcome.REJECTED


def retry_after_s(value: str | None, now: float) -> float | None:
    """Seconds asked for by a Retry-After header (delta seconds or an HTTP date), or None."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


def retry_plan(
    outcome: Outcome,
    *,
    now: float,
    batch_len: int,
    failures: int,
    policy: BackoffPolicy,
    retry_after: float | None,
    rnd: float,
) -> Retry:
    """When to try again after a failed request; `failures` counts consecutive link failures
    including this one, `policy.max_s` is the longest wait (retry_max_s)."""
    cap = policy.max_s
    if outcome is Outcome.REJECTED:
        return Retry(now + rejected_delay(batch_len, cap), now, True)
    if outcome is Outcome.REFUSED:
        return Retry(now + cap, now + cap, None)
    if outcome is Outcome.TRANSIENT:
        if retry_after is not None:
            delay = min(cap, max(0.0, retry_after))
        else:
            delay = backoff_delay(policy, max(0, failures - 1), rnd)
        return Retry(now + delay, now + delay, None)
    raise ValueError(f"{outcome} is not a failure")


def upload_state(
    pending: int, rejected: int, last_outcome: Outcome | None, link_at: float, now: float
) -> UploadState:
    """The state shown to operators (see UploadState)."""
    if pending == 0:
        return UploadState.IDLE
    if last_outcome is Outcome.REFUSED or rejected > 0:
        return UploadState.FAILING
    if last_outcome is Outcome.TRANSIENT and link_at > now:
        return UploadState.BACKING_OFF
    return UploadState.DELIVERING


def hide_key(text: str, key: str) -> str:
    """`text` without the key (a receiver may echo our headers in its error answer) and with
    URL credentials and secret query values redacted."""
    return redact_text(text, hidden=(key,))


def sign(key: str, timestamp: str, body: bytes) -> str:
    """The signature header's value: sha256=<hex HMAC-SHA256(key, timestamp + "." + body)>."""
    digest = hmac.new(key.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def request_headers(key: str, timestamp: str, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json; charset=utf-8",
        "Authorization": f"Bearer {key}",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(key, timestamp, body),
        "User-Agent": USER_AGENT,
    }


def envelope(site_name: str, sent_at: float, messages: Sequence[Message]) -> bytes:
    body = {"site": site_name, "sent_at": sent_at, "messages": [m.payload for m in messages]}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


# --- I/O --------------------------------------------------------------------------------------


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """Certificate and host name checks against the system's CAs, or only `ca_file`'s."""
    return ssl.create_default_context(cafile=None if ca_file is None else str(ca_file))


def upload_tls(settings: UploadSettings, config_dir: Path) -> ssl.SSLContext | None:
    """The TLS checks for an https:// upload URL (None for http://); `ca_file` is relative
    to the config file's folder. Raises OSError or ssl.SSLError for an unreadable CA file
    (load_site has said so already: check_site_files)."""
    if not settings.url.lower().startswith("https://"):
        return None
    ca = None if settings.ca_file is None else config_dir / settings.ca_file
    return tls_context(ca)


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout_s: float,
    tls: ssl.SSLContext | None = None,
) -> Answer:
    """POST `body` (blocking); raises OSError or http.client.HTTPException without an answer."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    connection: http.client.HTTPConnection
    if parts.scheme.lower() == "https":
        connection = http.client.HTTPSConnection(
            host, parts.port, timeout=timeout_s, context=tls or tls_context(None)
        )
    else:
        connection = http.client.HTTPConnection(host, parts.port, timeout=timeout_s)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", target, body=body, headers=dict(headers))
        response = connection.getresponse()
        preview = response.read(ANSWER_PREVIEW_BYTES).decode("utf-8", "replace")
        return Answer(response.status, response.reason, response.getheader("Retry-After"), preview)
    finally:
        connection.close()


class Uploader:
    """The delivery thread for one upload target; `status()` and `messages()` for the console."""

    def __init__(
        self,
        settings: UploadSettings,
        store: Store,
        *,
        site_name: str,
        clock: Callable[[], float] = time.time,
        poll_s: float = DEFAULT_POLL_S,
        backoff_initial_s: float = 1.0,
        rnd: Callable[[], float] = random.random,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._settings = settings
        self._tls = tls
        self._site_name = site_name
        self._clock = clock
        self._poll_s = poll_s
        self._rnd = rnd
        self._policy = BackoffPolicy(
            initial_s=min(backoff_initial_s, settings.retry_max_s), max_s=settings.retry_max_s
        )
        self._outbox = Outbox(
            store, site_name=site_name, event_types=settings.event_types, clock=clock
        )
        self._display_url = hide_key(redact_url(settings.url), settings.key)
        self._lock = threading.Lock()  # guards the fields below
        self._last_outcome: Outcome | None = None
        self._failures = 0
        self._link_at = 0.0
        self._last_error: str | None = None
        self._last_error_at: float | None = None
        self._sending = 0
        self._next_prune = 0.0
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def outbox(self) -> Outbox:
        return self._outbox

    # --- control ------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the uploader is already started")
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="upload", daemon=True)
        self._thread.start()
        logger.info("upload to %s started", self._display_url)

    def stop(self, timeout: float | None = None) -> None:
        """Stop the thread; a request in flight ends first (at most timeout_s)."""
        self._stopping.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(self._settings.timeout_s + 5.0 if timeout is None else timeout)

    def wake(self) -> None:
        """Look for new event changes now (instead of at the next poll)."""
        self._wake.set()

    def retry_now(self) -> int:
        """Make every waiting message and the link due now; returns how many messages waited."""
        now = self._clock()
        with self._lock:
            self._link_at = now
        waiting = self._outbox.retry_now(now)
        self._wake.set()
        return waiting

    # --- state --------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """The upload's state for the console; never contains the key."""
        now = self._clock()
        counts = self._outbox.counts()
        with self._lock:
            last_outcome, link_at = self._last_outcome, self._link_at
            last_error, last_error_at = self._last_error, self._last_error_at
            sending, failures = self._sending, self._failures
        state = upload_state(counts.pending, counts.rejected, last_outcome, link_at, now)
        return {
            "url": self._display_url,
            "state": state.value,
            "sending": sending,
            "pending": counts.pending,
            "failed": counts.failed,
            "rejected": counts.rejected,
            "delivered_total": counts.delivered_total,
            "oldest_pending_age_s": (
                None
                if counts.oldest_pending_at is None
                else max(0.0, now - counts.oldest_pending_at)
            ),
            "last_error": last_error if last_error is not None else counts.last_error,
            "last_error_at": last_error_at,
            "last_success_at": counts.last_delivered_at,
            "next_attempt_at": (
                None if counts.next_attempt_at is None else max(counts.next_attempt_at, link_at)
            ),
            "consecutive_failures": failures,
            "cursor": counts.cursor,
        }

    def messages(
        self, state: MessageState | str = MessageState.PENDING, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Undelivered messages (pending, failed or rejected), oldest first."""
        return [message.to_json() for message in self._outbox.messages(state, limit)]

    # --- the thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                wait_s = self._step()
            except Exception:
                logger.exception("upload to %s: step failed", self._display_url)
                wait_s = self._poll_s
            if wait_s > 0:
                self._wake.wait(wait_s)
                self._wake.clear()

    def _step(self) -> float:
        """Fill, then send at most one request; returns how long to wait before the next step."""
        now = self._clock()
        self._outbox.fill()
        if now >= self._next_prune:
            self._outbox.prune(now)
            self._next_prune = now + PRUNE_EVERY_S
        with self._lock:
            link_at = self._link_at
        if now < link_at:
            return min(link_at - now, self._poll_s)
        batch = self._outbox.next_batch(now, self._settings.batch_size)
        if not batch:
            due = self._outbox.next_due()
            return self._poll_s if due is None else min(max(due - now, 0.0), self._poll_s)
        self._deliver(batch)
        return 0.0

    def _deliver(self, batch: Sequence[Message]) -> None:
        """POST one batch (blocking, at most timeout_s per socket operation) and record what
        the answer means for its messages."""
        sent_at = self._clock()
        body = envelope(self._site_name, sent_at, batch)
        timestamp = str(int(sent_at))
        headers = request_headers(self._settings.key, timestamp, body)
        with self._lock:
            self._sending = len(batch)
        answer: Answer | None = None
        error = ""
        try:
            answer = post(self._settings.url, body, headers, self._settings.timeout_s, self._tls)
        except (OSError, http.client.HTTPException) as failure:
            error = f"{type(failure).__name__}: {failure}"
        finally:
            with self._lock:
                self._sending = 0
        now = self._clock()
        outcome = classify(None if answer is None else answer.status)
        ids = [message.id for message in batch]
        if outcome is Outcome.DELIVERED:
            self._outbox.mark_delivered(ids, now)
            self._delivered(len(batch))
            return
        if answer is not None:
            error = f"HTTP {answer.status} {answer.reason}: {answer.preview.strip()}"
        self._failed(batch, outcome, hide_key(error, self._settings.key), answer, now)

    def _delivered(self, count: int) -> None:
        with self._lock:
            failures, self._failures = self._failures, 0
            recovered = failures > 0
            self._last_outcome = Outcome.DELIVERED
        if recovered:
            logger.info(
                "upload to %s works again after %s failed requests", self._display_url, failures
            )
        logger.debug("upload to %s: %s messages delivered", self._display_url, count)

    def _failed(
        self,
        batch: Sequence[Message],
        outcome: Outcome,
        error: str,
        answer: Answer | None,
        now: float,
    ) -> None:
        with self._lock:
            # a rejection is an answer: the link works, only those messages are refused
            self._failures = 0 if outcome is Outcome.REJECTED else self._failures + 1
            failures = self._failures
            changed = self._last_outcome is not outcome
            self._last_outcome = outcome
            self._last_error, self._last_error_at = error, now
        plan = retry_plan(
            outcome,
            now=now,
            batch_len=len(batch),
            failures=failures,
            policy=self._policy,
            retry_after=retry_after_s(None if answer is None else answer.retry_after, now),
            rnd=self._rnd(),
        )
        self._outbox.mark_failed(
            [message.id for message in batch], now, error, plan.messages_at, plan.rejected
        )
        with self._lock:
            self._link_at = max(self._link_at, plan.link_at)
        log = logger.warning if changed else logger.debug
        log(
            "upload to %s failed, %s (%s messages, next try in %.1f s): %s",
            self._display_url,
            outcome.value,
            len(batch),
            max(0.0, plan.messages_at - now),
            error,
        )
