"""The uploader against a real HTTP receiver on 127.0.0.1 that checks the bearer key and the
body signature: a burst while the receiver is stopped, restarted, failing and slow arrives
exactly once after dedupe, in order per source; restarts, a wrong key, rejected messages and
Retry-After; the pure decisions as table tests."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from hallwatch import reviews
from hallwatch.config_relay import UploadSettings
from hallwatch.events import Event
from hallwatch.store import Store
from ingest.backoff import BackoffPolicy
from relay.outbox import MessageState
from relay.upload import (
    Outcome,
    Retry,
    Uploader,
    UploadState,
    classify,
    hide_key,
    retry_after_s,
    retry_plan,
    upload_state,
    upload_tls,
)
from tests.support.tls import make_private_ca
from tests.support.wait import wait_until

KEY = "k3y-Of-The-Province-0042"
SITE = "某市政务服务中心"


# --- the receiving platform -------------------------------------------------------------------


@dataclass
class Behaviour:
    """How the receiver answers request number n (1-based, counted across restarts)."""

    fail_before: Callable[[int], bool] = lambda n: False  # 500, nothing recorded
    fail_after: Callable[[int], bool] = lambda n: False  # recorded, then 500
    slow_s: Callable[[int], float] = lambda n: 0.0  # recorded, then this long before 200
    reject: Callable[[list[dict[str, Any]]], bool] = lambda messages: False  # 422
    retry_after: Callable[[int], str | None] = lambda n: None  # 503 with this Retry-After


@dataclass
class Receiver:
    """A JSON webhook like the provincial platform's; stop() and start() keep the port."""

    key: str = KEY
    behaviour: Behaviour = field(default_factory=Behaviour)
    port: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)  # messages, arrival order
    arrivals: list[float] = field(default_factory=list)  # time of every request
    batch_sizes: list[int] = field(default_factory=list)
    refused: int = 0  # requests with a wrong key or signature
    requests: int = 0
    tls: ssl.SSLContext | None = None  # serve https with this server context
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}/supervision/hook?token=abc123"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver.handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        if self.tls is not None:  # a refused handshake fails accept(), which the server ignores
            server.socket = self.tls.wrap_socket(server.socket, server_side=True)
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        body = request.rfile.read(int(request.headers["Content-Length"]))
        with self._lock:
            self.requests += 1
            number = self.requests
            self.arrivals.append(time.monotonic())
        if not self.authentic(request, body):
            with self._lock:
                self.refused += 1
            # echo what was sent, as some platforms do: the uploader must not show it
            self.answer(request, 401, f"bad credentials: {request.headers['Authorization']}")
            return
        envelope = json.loads(body)
        assert envelope["site"] == SITE and isinstance(envelope["sent_at"], float)
        messages = envelope["messages"]
        behaviour = self.behaviour
        if behaviour.fail_before(number):
            self.answer(request, 500, "internal error")
            return
        if (after := behaviour.retry_after(number)) is not None:
            self.answer(request, 503, "busy", {"Retry-After": after})
            return
        if behaviour.reject(messages):
            self.answer(request, 422, "message refused: poison")
            return
        with self._lock:
            self.received.extend(messages)
            self.batch_sizes.append(len(messages))
        if behaviour.fail_after(number):
            self.answer(request, 500, "stored, but answering failed")
            return
        time.sleep(behaviour.slow_s(number))
        self.answer(request, 200, '{"ok":true}')

    def authentic(self, request: BaseHTTPRequestHandler, body: bytes) -> bool:
        timestamp = request.headers["X-Hallwatch-Timestamp"] or ""
        expected = hmac.new(self.key.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
        return (
            request.headers["Authorization"] == f"Bearer {self.key}"
            and abs(time.time() - int(timestamp)) < 300
            and hmac.compare_digest(
                request.headers["X-Hallwatch-Signature"] or "", f"sha256={expected.hexdigest()}"
            )
        )

    @staticmethod
    def answer(
        request: BaseHTTPRequestHandler,
        status: int,
        text: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        data = text.encode()
        try:
            request.send_response(status)
            for name, value in (headers or {}).items():
                request.send_header(name, value)
            request.send_header("Content-Length", str(len(data)))
            request.end_headers()
            request.wfile.write(data)
        except OSError:
            pass  # the uploader gave up waiting (timeout test)

    def unique(self) -> dict[str, dict[str, Any]]:
        """Received messages deduplicated by message_id; duplicates must be identical."""
        seen: dict[str, dict[str, Any]] = {}
        with self._lock:
            for message in self.received:
                first = seen.setdefault(message["message_id"], message)
                assert first == message, "a resent message differs from its first copy"
        return seen


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver().start()
    yield started
    started.stop()


@pytest.fixture
def running(store: Store) -> Iterator[Callable[[Uploader], Uploader]]:
    """Starts uploaders and stops them all before the store closes, even when a test fails."""
    started: list[Uploader] = []

    def start(up: Uploader) -> Uploader:
        up.start()
        started.append(up)
        return up

    yield start
    for up in started:
        up.stop()


def settings(url: str, key: str = KEY, **changes: Any) -> UploadSettings:
    values: dict[str, Any] = {"url": url, "key": key, "timeout_s": 0.5, "batch_size": 20,
                              "retry_max_s": 1.0, **changes}  # fmt: skip
    return UploadSettings.model_validate(values)


def uploader(upload: UploadSettings, store: Store, config_dir: Path = Path(".")) -> Uploader:
    return Uploader(upload, store, site_name=SITE, poll_s=0.05, backoff_initial_s=0.05,
                    tls=upload_tls(upload, config_dir))  # fmt: skip


def vacancy(camera: str, start: float, **details: Any) -> Event:
    return Event(type="counter_vacant", camera=camera, window="W01", start=start,
                 detected_at=start, details=details)  # fmt: skip


def drained(up: Uploader, store: Store) -> bool:
    status = up.status()
    return bool(status["pending"] == 0 and status["cursor"] == store.max_seq())


def down_and_shown(up: Uploader) -> dict[str, Any] | None:
    """The status once it shows messages waiting after a network error (no HTTP answer)."""
    status = up.status()
    error = str(status["last_error"])
    shown = status["state"] == "backing_off" and status["pending"] > 0
    return status if shown and "Error" in error and "HTTP" not in error else None


def outbox_order(store: Store) -> dict[str, list[str]]:
    """message ids per source in outbox (fill) order."""
    order: dict[str, list[str]] = {}
    for row in store.query("SELECT source, message_id FROM outbox ORDER BY id"):
        order.setdefault(row["source"], []).append(row["message_id"])
    return order


def first_arrival_order(receiver: Receiver) -> dict[str, list[str]]:
    order: dict[str, list[str]] = {}
    seen: set[str] = set()
    for message in receiver.received:
        if message["message_id"] not in seen:
            seen.add(message["message_id"])
            order.setdefault(message["source"], []).append(message["message_id"])
    return order


# --- pure decisions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, Outcome.DELIVERED),
        (202, Outcome.DELIVERED),
        (204, Outcome.DELIVERED),
        (None, Outcome.TRANSIENT),
        (500, Outcome.TRANSIENT),
        (503, Outcome.TRANSIENT),
        (408, Outcome.TRANSIENT),
        (429, Outcome.TRANSIENT),
        (401, Outcome.REFUSED),
        (403, Outcome.REFUSED),
        (404, Outcome.REFUSED),
        (301, Outcome.REFUSED),
        (100, Outcome.REFUSED),
        (400, Outcome.REJECTED),
        (413, Outcome.REJECTED),
        (422, Outcome.REJECTED),
    ],
)
def test_classify(status: int | None, expected: Outcome) -> None:
    assert classify(status) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("7", 7.0),
        (" 120 ", 120.0),
        ("-3", None),
        ("soon", None),
        ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0),  # 1445412490
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # in the past
    ],
)
def test_retry_after_s(value: str | None, expected: float | None) -> None:
    assert retry_after_s(value, now=1445412480.0) == expected


POLICY = BackoffPolicy(initial_s=1.0, max_s=60.0, factor=2.0, jitter=0.5)


@pytest.mark.parametrize(
    ("outcome", "batch_len", "failures", "retry_after", "rnd", "expected"),
    [
        (Outcome.TRANSIENT, 5, 1, None, 0.0, Retry(1001.0, 1001.0, None)),
        (Outcome.TRANSIENT, 5, 3, None, 0.0, Retry(1004.0, 1004.0, None)),
        (Outcome.TRANSIENT, 5, 3, None, 0.5, Retry(1003.0, 1003.0, None)),  # jitter
        (Outcome.TRANSIENT, 5, 30, None, 0.0, Retry(1060.0, 1060.0, None)),  # capped
        (Outcome.TRANSIENT, 5, 1, 30.0, 0.9, Retry(1030.0, 1030.0, None)),  # Retry-After
        (Outcome.TRANSIENT, 5, 1, 9999.0, 0.0, Retry(1060.0, 1060.0, None)),  # ... capped
        (Outcome.REFUSED, 5, 1, None, 0.0, Retry(1060.0, 1060.0, None)),
        (Outcome.REJECTED, 5, 1, None, 0.0, Retry(1000.0, 1000.0, True)),  # go one by one
        (Outcome.REJECTED, 1, 1, None, 0.0, Retry(1060.0, 1000.0, True)),  # alone: wait cap
    ],
)
def test_retry_plan(
    outcome: Outcome,
    batch_len: int,
    failures: int,
    retry_after: float | None,
    rnd: float,
    expected: Retry,
) -> None:
    plan = retry_plan(outcome, now=1000.0, batch_len=batch_len, failures=failures,
                      policy=POLICY, retry_after=retry_after, rnd=rnd)  # fmt: skip
    assert plan == expected


def test_retry_plan_refuses_a_success() -> None:
    with pytest.raises(ValueError):
        retry_plan(Outcome.DELIVERED, now=0.0, batch_len=1, failures=0, policy=POLICY,
                   retry_after=None, rnd=0.0)  # fmt: skip


@pytest.mark.parametrize(
    ("pending", "rejected", "last", "link_at", "expected"),
    [
        (0, 0, None, 0.0, UploadState.IDLE),
        (0, 0, Outcome.TRANSIENT, 200.0, UploadState.IDLE),
        (3, 0, None, 0.0, UploadState.DELIVERING),
        (3, 0, Outcome.DELIVERED, 0.0, UploadState.DELIVERING),
        (3, 0, Outcome.TRANSIENT, 200.0, UploadState.BACKING_OFF),
        (3, 0, Outcome.TRANSIENT, 50.0, UploadState.DELIVERING),  # trying again now
        (3, 0, Outcome.REFUSED, 200.0, UploadState.FAILING),
        (3, 1, Outcome.DELIVERED, 0.0, UploadState.FAILING),
    ],
)
def test_upload_state(
    pending: int, rejected: int, last: Outcome | None, link_at: float, expected: UploadState
) -> None:
    assert upload_state(pending, rejected, last, link_at, now=100.0) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"401: bad credentials: Bearer {KEY}", "401: bad credentials: Bearer ***"),
        ("http://u:p@host/x?token=abc&a=1", "http://***@host/x?token=***&a=1"),
        ("nothing secret", "nothing secret"),
    ],
)
def test_hide_key(text: str, expected: str) -> None:
    assert hide_key(text, KEY) == expected


# --- against the real receiver ----------------------------------------------------------------


def burst(store: Store, writer: int, count: int, pause_s: float) -> None:
    """Events of one camera (and case cards with writer 0): opened, some ended, some acked."""
    opened: list[int] = []
    for i in range(count):
        if writer == 0 and i % 4 == 0:
            case = f"C-{i // 8}"
            event = store.add_event(Event(type="case_warning" if i % 8 == 0 else "case_yellow",
                                          camera="cam00", window="W00", start=float(i),
                                          detected_at=float(i),
                                          details={"case_id": case, "card_id": i}))  # fmt: skip
        else:
            event = store.add_event(vacancy(f"cam{writer:02d}", float(i), n=i))
        assert event.id is not None
        opened.append(event.id)
        if i % 3 == 2:
            store.end_event(opened[-2], float(i) + 0.5, {"closed": True})
        if i % 5 == 4:
            reviews.acknowledge(store, opened[-3], f"op{writer}", float(i))
        time.sleep(pause_s)


def test_burst_through_restarts_failures_and_timeouts_arrives_exactly_once(
    store: Store, receiver: Receiver, running: Callable[[Uploader], Uploader]
) -> None:
    """~300 events from 4 writers while the receiver is stopped and restarted twice on the same
    port, answers 500 before or after storing some batches and once stores a batch but answers
    after the uploader's timeout: every message arrives, exactly once after dedupe by
    message_id, in fill (seq) order per source; each event's latest content arrives."""
    receiver.behaviour = Behaviour(
        fail_before=lambda n: n % 11 == 5,
        fail_after=lambda n: n % 7 == 3,
        slow_s=lambda n: 0.9 if n == 9 else 0.0,  # over timeout_s: stored, then resent
    )
    up = running(uploader(settings(receiver.url), store))
    writers = [threading.Thread(target=burst, args=(store, w, 75, 0.03)) for w in range(4)]
    for writer in writers:
        writer.start()
    errors_seen: list[str] = []
    try:
        for _ in range(2):
            time.sleep(0.35)
            receiver.stop()
            down = wait_until(lambda: down_and_shown(up), 10, "the receiver seen down")
            assert down is not None
            errors_seen.append(str(down["last_error"]))
            time.sleep(0.3)
            receiver.start()
        for writer in writers:
            writer.join()
        assert any(w.is_alive() for w in writers) is False
        wait_until(lambda: drained(up, store), 30, "every message delivered")
    finally:
        up.stop()
        for writer in writers:
            writer.join()
    status = up.status()
    assert (status["state"], status["pending"], status["failed"]) == ("idle", 0, 0)
    assert len(errors_seen) == 2  # a network error (refused, reset) shown while down

    unique = receiver.unique()
    outbox = outbox_order(store)
    assert sorted(unique) == sorted(m for ids in outbox.values() for m in ids)
    assert status["delivered_total"] == len(unique)
    assert len(receiver.received) > len(unique), "a resend (500 after storing, timeout) expected"
    assert first_arrival_order(receiver) == outbox
    assert receiver.refused == 0 and max(receiver.batch_sizes) <= 20
    assert len({source for source in outbox if source.startswith("case:")}) >= 4
    for source, ids in outbox.items():
        revisions = [unique[m]["revision"] for m in ids]
        assert revisions == sorted(revisions), source
    events = store.events_after(0, limit=10_000)
    assert len(events) == 300
    latest: dict[int, dict[str, Any]] = {}
    for message in sorted(unique.values(), key=lambda m: m["revision"]):
        latest[message["id"]] = message
    for event in events:
        sent = latest[event.id or 0]
        assert (sent["end"], sent["details"]) == (event.end, event.details)
    ended_in_first_message = sum(1 for m in unique.values() if m["change"] == "opened" and m["end"])
    assert len(unique) == len(events) + sum(1 for e in events if e.end) - ended_in_first_message


def test_a_new_uploader_resumes_without_loss_or_repeat(
    tmp_path: Path, store: Store, receiver: Receiver, running: Callable[[Uploader], Uploader]
) -> None:
    """Messages delivered by one uploader are not sent again by the next one (the process
    restarted: a new store connection); messages that failed while the receiver was down and
    events written while no uploader ran are delivered by the next one, in order."""
    first = running(uploader(settings(receiver.url), store))
    for i in range(5):
        store.add_event(vacancy("camA", float(i)))
    first.wake()
    wait_until(lambda: drained(first, store), 10, "the first five delivered")
    assert len(receiver.received) == 5
    receiver.stop()
    for i in range(5, 10):
        store.add_event(vacancy("camA", float(i)))
    wait_until(lambda: first.status()["failed"] == 5, 10, "five failed while down")
    first.stop()
    for i in range(10, 15):
        store.add_event(vacancy("camA", float(i)))
    store.close()

    reopened = Store(tmp_path / "hw.db")
    receiver.start()
    second = uploader(settings(receiver.url), reopened)
    assert second.status()["pending"] == 5 and second.status()["delivered_total"] == 5
    running(second)
    wait_until(lambda: drained(second, reopened), 10, "the rest delivered")
    second.stop()
    starts = [m["start"] for m in receiver.received]
    assert starts == [float(i) for i in range(15)]  # each once, in order
    assert second.status()["delivered_total"] == 15
    reopened.close()


def test_wrong_key_fails_visibly_loses_nothing_and_never_shows_the_key(
    store: Store,
    receiver: Receiver,
    running: Callable[[Uploader], Uploader],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="relay")
    wrong = "wrong-" + KEY
    up = running(uploader(settings(receiver.url, key=wrong), store))
    for i in range(5):
        store.add_event(vacancy("camA", float(i)))
    up.wake()
    status = wait_until(
        lambda: (s := up.status())["failed"] == 5 and s["state"] == "failing" and s,
        10, "the refused batch counted",
    )  # fmt: skip
    listed = up.messages("failed")
    up.stop()
    assert receiver.refused >= 1 and receiver.received == []
    assert "HTTP 401" in status["last_error"] and "bad credentials" in status["last_error"]
    assert status["url"] == receiver.url.replace("token=abc123", "token=***")
    assert [m["attempts"] for m in listed] == [1] * 5
    assert all("HTTP 401" in m["last_error"] for m in listed)
    shown = json.dumps([status, listed, up.messages("pending")], ensure_ascii=False)
    for secret in (wrong, KEY, "abc123"):
        assert secret not in shown
        assert secret not in caplog.text
    assert "HTTP 401" in caplog.text  # the failure was logged

    fixed = running(uploader(settings(receiver.url), store))  # the admin corrects the key
    wait_until(lambda: drained(fixed, store), 10, "everything delivered with the right key")
    assert [m["start"] for m in receiver.received] == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_a_rejected_message_holds_back_only_its_own_source(
    store: Store, receiver: Receiver, running: Callable[[Uploader], Uploader]
) -> None:
    receiver.behaviour = Behaviour(
        reject=lambda messages: any(m["details"].get("poison") for m in messages)
    )
    up = uploader(settings(receiver.url, retry_max_s=30.0), store)
    store.add_event(vacancy("camA", 0.0, poison=True))
    store.add_event(vacancy("camB", 0.0))
    store.add_event(vacancy("camA", 1.0))
    store.add_event(vacancy("camB", 1.0))
    running(up)
    status = wait_until(
        lambda: (s := up.status())["state"] == "failing" and s["pending"] == 2 and s,
        10, "camB delivered, camA held back",
    )  # fmt: skip
    assert [(m["source"], m["start"]) for m in receiver.received] == [
        ("camera:camB", 0.0), ("camera:camB", 1.0)
    ]  # fmt: skip
    # both camA messages were in the refused batch; the head, tried alone, was refused
    # again and waits the longest backoff, the second waits behind it
    assert status["rejected"] == 2 and "HTTP 422" in status["last_error"]
    rejected = up.messages(MessageState.REJECTED)
    assert [(m["source"], m["attempts"]) for m in rejected] == [
        ("camera:camA", 2), ("camera:camA", 1)
    ]  # fmt: skip
    receiver.behaviour = Behaviour()  # the platform fixed its check
    assert up.retry_now() == 1  # the rejected head waited the longest backoff (30 s)
    wait_until(lambda: drained(up, store), 10, "camA delivered after retry_now")
    assert [(m["source"], m["start"]) for m in receiver.received[2:]] == [
        ("camera:camA", 0.0), ("camera:camA", 1.0)
    ]  # fmt: skip


def test_retry_after_is_honoured(
    store: Store, receiver: Receiver, running: Callable[[Uploader], Uploader]
) -> None:
    receiver.behaviour = Behaviour(retry_after=lambda n: "1" if n == 1 else None)
    up = uploader(settings(receiver.url, retry_max_s=5.0), store)
    store.add_event(vacancy("camA", 0.0))
    running(up)
    wait_until(lambda: drained(up, store), 10, "delivered after the asked wait")
    assert receiver.requests == 2
    assert receiver.arrivals[1] - receiver.arrivals[0] >= 0.95


def test_https_under_a_private_ca_needs_its_ca_file_and_loses_nothing_without_it(
    store: Store, running: Callable[[Uploader], Uploader], tmp_path: Path
) -> None:
    ca = make_private_ca(tmp_path / "pki")
    receiver = Receiver(tls=ca.server_context()).start()
    try:
        # the system's CAs do not know the platform's CA: refused, kept, shown
        system = running(uploader(settings(receiver.url), store))
        for i in range(3):
            store.add_event(vacancy("camA", float(i)))
        system.wake()
        status = wait_until(
            lambda: (s := system.status())["last_error"] and s["pending"] == 3 and s, 10,
            "the certificate refused",
        )  # fmt: skip
        system.stop()
        assert "CERTIFICATE_VERIFY_FAILED" in status["last_error"]
        assert receiver.requests == 0 and receiver.received == []
        # the admin names the CA file, relative to cameras.yaml's folder
        trusted = settings(receiver.url, ca_file="pki/ca.pem")
        up = running(uploader(trusted, store, config_dir=tmp_path))
        wait_until(lambda: drained(up, store), 10, "delivered over https")
        assert [m["start"] for m in receiver.received] == [0.0, 1.0, 2.0]
        assert receiver.refused == 0
    finally:
        receiver.stop()


def test_a_ca_file_does_not_trust_a_certificate_for_another_host(
    store: Store, running: Callable[[Uploader], Uploader], tmp_path: Path
) -> None:
    ca = make_private_ca(tmp_path / "pki", host="127.0.0.2")  # the CA's, but not this address
    receiver = Receiver(tls=ca.server_context()).start()
    try:
        up = running(uploader(settings(receiver.url, ca_file=str(ca.ca_file)), store))
        store.add_event(vacancy("camA", 1.0))
        up.wake()
        status = wait_until(lambda: (s := up.status())["last_error"] and s, 10, "refused")
        assert "IP address mismatch" in status["last_error"] and status["pending"] == 1
        assert receiver.received == []
    finally:
        receiver.stop()
