"""GB/T 28181 cascade (relay.gb.cascade) against real peers on 127.0.0.1.

The upper platform is sipp scripted by tests/relay/sipp/*.xml (registration with digest
challenge, keepalives, Catalog/DeviceInfo/DeviceStatus queries, INVITE/ACK/BYE, unregistration).
The video comes from a real camera reader pulling RTSP from the GStreamer test server through
the real GbMediaFactory; the RTP that arrives at the test's own UDP port is checked with
ffprobe. Failure cases: wrong password (403, or the same nonce again), a platform that never
answers (RFC 3261 retransmissions, then offline with backoff), refused keepalives, and
malformed input sent by a raw socket playing the platform.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from hallwatch.config_relay import Gb28181Settings, GbChannel
from hallwatch.events import Event, EventType
from ingest.backoff import BackoffPolicy
from ingest.packets import FanOut
from relay.gb.cascade import (
    Cascade,
    LogLimiter,
    SipTimers,
    granted_expires,
    refresh_after,
    register_step,
)
from relay.gb.media import GbMediaFactory, MediaTuning
from relay.gb.rtp import parse_rtp
from relay.gb.sip import (
    Headers,
    SipRequest,
    SipResponse,
    StreamFramer,
    make_response,
    new_branch,
    new_call_id,
    parse_message,
)
from tests.support.clips import make_clip
from tests.support.net import free_port
from tests.support.rtsp import rtsp_camera_fanout
from tests.support.sipp import Sipp, require_sipp
from tests.support.wait import wait_until

HOST = "127.0.0.1"
SERVER_ID = "34020000002000000001"
DOMAIN = "3402000000"
PLATFORM_ID = "34020000002000000002"
PASSWORD = "Pa55-word!"
CHANNELS = [
    GbChannel(camera="cam1", channel_id="34020000001320000001"),
    GbChannel(camera="cam2", channel_id="34020000001320000002"),
]
SIZE = (640, 360)
FAST = SipTimers(t1=0.05, t2=0.4)  # 64·T1 = 3.2 s per transaction
QUICK_RETRY = BackoffPolicy(initial_s=0.2, max_s=2.0, factor=2.0, jitter=0.0)
log_name = "relay.gb.cascade"


def gb_settings(port: int, **changes: Any) -> Gb28181Settings:
    values: dict[str, Any] = {
        "server_id": SERVER_ID, "server_domain": DOMAIN, "server_ip": HOST, "server_port": port,
        "platform_id": PLATFORM_ID, "password": PASSWORD, "local_ip": HOST, "local_port": 0,
        "keepalive_interval_s": 0.5, "catalog_page_size": 1, "channels": CHANNELS,
    }  # fmt: skip
    values.update(changes)
    return Gb28181Settings.model_validate(values)


def make_cascade(
    settings: Gb28181Settings, fanouts: dict[str, FanOut] | None = None, probe_s: float = 3.0
) -> Cascade:
    found = fanouts or {}
    media = GbMediaFactory(
        lambda camera, stream: found.get(camera) if stream == "main" else None,
        MediaTuning(probe_timeout_s=probe_s, connect_timeout_s=3.0, send_timeout_s=3.0),
    )
    return Cascade(
        settings, media, channel_names={"cam1": "一号窗口", "cam2": "二号窗口"},
        channel_online=lambda camera: camera in found, platform_name="政务服务大厅",
        timers=FAST, backoff=QUICK_RETRY,
    )  # fmt: skip


@contextlib.contextmanager
def running(cascade: Cascade) -> Iterator[Cascade]:
    cascade.start()
    try:
        yield cascade
    finally:
        cascade.stop()


# ---- pure decisions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("granted", "after"), [(3600, 3540), (300, 240), (120, 60), (100, 50), (2, 1), (0, 1)]
)
def test_refresh_after(granted: int, after: float) -> None:
    assert refresh_after(granted) == after


@pytest.mark.parametrize(
    ("status", "nonce", "answered", "step"),
    [
        (200, None, None, "ok"),
        (200, None, "n1", "ok"),
        (401, "n1", None, "answer_challenge"),
        (407, "n1", None, "answer_challenge"),
        (401, "n2", "n1", "answer_challenge"),  # a fresh nonce: answer it
        (401, "n1", "n1", "auth_failed"),  # our answer to n1 was refused
        (401, None, None, "rejected"),  # a challenge we could not read
        (403, None, "n1", "auth_failed"),
        (403, None, None, "auth_failed"),
        (404, None, None, "rejected"),
        (500, None, "n1", "rejected"),
        (423, None, None, "rejected"),
    ],
)
def test_register_step(status: int, nonce: str | None, answered: str | None, step: str) -> None:
    assert register_step(status, nonce, answered) == step


@pytest.mark.parametrize(
    ("headers", "granted"),
    [
        ([("Expires", "600")], 600),
        ([("Contact", f"<sip:{PLATFORM_ID}@1.2.3.4:5060>;expires=120"), ("Expires", "600")], 120),
        ([("Contact", "<sip:other@1.2.3.4>;expires=30"), ("Expires", "600")], 600),
        ([("Contact", "<broken")], 3600),
        ([], 3600),
    ],
)
def test_granted_expires(headers: list[tuple[str, str]], granted: int) -> None:
    response = SipResponse(200, "OK", Headers.of(headers))
    assert granted_expires(response, PLATFORM_ID, 3600) == granted


def test_log_limiter() -> None:
    limiter = LogLimiter(10.0)
    assert [limiter.allow(t) for t in (0.0, 1.0, 2.0, 10.5, 11.0, 30.0)] == [
        0, None, None, 2, None, 1
    ]  # fmt: skip


# ---- the camera, the RTP receiver, ffprobe ----------------------------------------------------


@pytest.fixture(scope="module")
def camera(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FanOut]:
    """cam1's fan-out, fed by a real reader pulling RTSP from the GStreamer test server."""
    clip = make_clip(tmp_path_factory.mktemp("gbcascade") / "cam1.mp4", seconds=4, fps=25,
                     size=SIZE)  # fmt: skip
    with rtsp_camera_fanout(clip, "cam1") as fanout:
        yield fanout


class UdpSink:
    """A UDP port that collects every datagram with its arrival time (the platform's media
    port, or a platform that never answers)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.arrivals: list[tuple[float, bytes]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                data = self.sock.recv(65536)
                self.arrivals.append((time.monotonic(), data))

    @property
    def datagrams(self) -> list[bytes]:
        return [data for _, data in self.arrivals]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def ffprobe(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames",
         "-show_entries", "stream=codec_name,width,height,nb_read_frames", "-of", "json",
         str(path)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    streams: list[dict[str, Any]] = json.loads(out.stdout)["streams"]
    assert streams, f"ffprobe found no video stream: {out.stderr}"
    return streams[0]


# ---- with sipp as the upper platform ----------------------------------------------------------


def sipp_keys(rtp_port: int, expires: int = 3600) -> dict[str, str]:
    return {
        "server_id": SERVER_ID, "server_domain": DOMAIN, "platform_id": PLATFORM_ID,
        "channel": CHANNELS[0].channel_id, "rtp_port": str(rtp_port), "expires": str(expires),
    }  # fmt: skip


def logged(sipp: Sipp, prefix: str) -> list[str]:
    return [line for line in sipp.logs().splitlines() if line.startswith(prefix)]


REGISTER_OK = "REGISTER auth=true"  # registrar.xml's line for a REGISTER it accepts


def keepalives(lines: list[str]) -> list[str]:
    """The keepalives in sipp's log lines (what sipp answered), one per SN: a slow machine
    makes our RFC 3261 retransmissions of one keepalive, logged again with the same SN."""
    seen: dict[str, str] = {}
    for line in lines:
        head, _, sn = line.removeprefix("MESSAGE Keepalive ").rpartition(" sn=")
        assert line.startswith("MESSAGE Keepalive ") and sn, line
        seen.setdefault(sn, head)
    return list(seen.values())


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_register_query_play_and_unregister_with_sipp(
    transport: str, camera: FanOut, tmp_path: Path
) -> None:
    require_sipp()
    sink = UdpSink()
    sipp = Sipp(
        "platform.xml", tmp_path, transport="u1" if transport == "udp" else "t1",
        variables={"user": PLATFORM_ID, "pass": PASSWORD}, keys=sipp_keys(sink.port),
    )  # fmt: skip
    cascade = make_cascade(gb_settings(sipp.port, transport=transport), {"cam1": camera})
    try:
        with sipp:
            with running(cascade):
                wait_until(lambda: cascade.status()["state"] == "registered", 10, "registered")
                vacant = Event(EventType.COUNTER_VACANT, "cam1", time.time(), time.time(), "W01")
                assert cascade.send_alarm(vacant)
                assert not cascade.send_alarm(Event(EventType.CASE_RED, "cam1", 0.0, 0.0))
                assert not cascade.send_alarm(Event(EventType.INTRUSION, "cam9", 0.0, 0.0))
                playing = wait_until(lambda: cascade.status()["sessions"], 15, "the INVITE")
                assert playing[0]["channel"] == CHANNELS[0].channel_id
                assert playing[0]["dest"] == f"{HOST}:{sink.port}"
                wait_until(lambda: logged(sipp, "BYE answered"), 15, "sipp's BYE" + sipp.report())
                status = cascade.status()
                assert status["sessions"] == []
                assert status["alarms"] == {"sent": 1, "failed": 0}
                assert status["catalog_answers"] == 1
                assert status["keepalives"]["sent"] >= 2 and status["keepalives"]["failed"] == 0
                assert status["transport"] == transport
                assert status["server"] == f"{SERVER_ID}@{HOST}:{sipp.port}"
                assert PASSWORD not in json.dumps(status)
            assert cascade.status()["state"] == "stopped"
            if transport == "udp":
                # 97: the scenario's own end after the unregistration, awaited while sipp runs
                # (leaving `with sipp` first would SIGTERM it, exit 0, if it had not got there).
                assert sipp.wait(10) == 97, sipp.report()
            # Over TCP sipp drops the call when we close the connection right after its 200 OK,
            # before it runs that last step, and goes on listening; the UNREGISTERED line below,
            # written on receipt, says the REGISTER came all the same.
    finally:
        sink.close()
    assert sipp.errors() == "", sipp.report()
    assert logged(sipp, "REGISTERED") == ["REGISTERED asked=3600"]
    assert logged(sipp, "UNREGISTERED") == ["UNREGISTERED auth=true"], sipp.report()
    messages = logged(sipp, "MESSAGE")
    assert "MESSAGE Keepalive" in " ".join(messages)
    pages = [line for line in messages if line.startswith("MESSAGE Catalog")]
    assert pages == [
        f"MESSAGE Catalog sn=101 sum=2 num=1 item={CHANNELS[0].channel_id}",
        f"MESSAGE Catalog sn=101 sum=2 num=1 item={CHANNELS[1].channel_id}",
    ]
    assert any(line.startswith("MESSAGE DeviceInfo sn=102") for line in messages)
    assert any(line.startswith("MESSAGE DeviceStatus sn=103") for line in messages)
    assert any(line.startswith("MESSAGE Alarm") for line in messages)
    trace = sipp.messages()
    assert "<Status>ON</Status>" in trace and "<Status>OFF</Status>" in trace
    assert "<Online>ONLINE</Online>" in trace  # DeviceStatus of cam1's channel
    assert "<AlarmMethod>5</AlarmMethod>" in trace
    assert 'encoding="GB2312"' in trace
    # the media: RTP with PS payload, readable by ffprobe as H.264 of the camera's size
    packets = [parse_rtp(datagram) for datagram in sink.datagrams]
    assert len(packets) > 20, "too little RTP arrived"
    assert {(p.payload_type, p.ssrc) for p in packets} == {(96, 100000001)}
    ps = tmp_path / "received.ps"
    ps.write_bytes(b"".join(p.payload for p in sorted(packets, key=lambda p: p.sequence)))
    probed = ffprobe(ps)
    assert (probed["codec_name"], probed["width"], probed["height"]) == ("h264", *SIZE)
    assert int(probed["nb_read_frames"]) >= 25  # 3 s of a 25 fps camera, give or take a GOP


# ---- refused credentials, refresh, keepalives -------------------------------------------------


def traced(sipp: Sipp) -> Iterator[tuple[float, bool, str]]:
    """(time, received, message) for every message in sipp's trace, in order."""
    for block in re.split(r"^-{20,} ", sipp.messages(), flags=re.M)[1:]:
        stamp, _, rest = block.partition("\n")
        when = datetime.strptime(stamp.strip(), "%Y-%m-%d %H:%M:%S.%f").timestamp()
        yield when, "message received" in rest.split("\n", 1)[0], rest


def bare_registers(sipp: Sipp) -> list[float]:
    """Times sipp received a REGISTER without credentials (the start of each attempt)."""
    return [
        when
        for when, received, text in traced(sipp)
        if received and "\nREGISTER sip:" in text and "Authorization:" not in text
    ]


def refusals(sipp: Sipp) -> list[float]:
    """Times sipp sent a 403 (the end of a refused attempt)."""
    return [
        when
        for when, received, text in traced(sipp)
        if not received and "\nSIP/2.0 403 " in text
    ]


def cascade_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == log_name and r.levelno >= logging.WARNING
    ]


def test_wrong_password_is_auth_failed_with_growing_backoff_and_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    require_sipp()
    caplog.set_level(logging.DEBUG, logger=log_name)
    sipp = Sipp("platform.xml", tmp_path, variables={"user": PLATFORM_ID, "pass": "other"},
                keys=sipp_keys(9), calls=3)  # fmt: skip
    cascade = make_cascade(gb_settings(sipp.port))
    with sipp, running(cascade):
        assert sipp.wait(20) == 0, sipp.report()  # three attempts, each answered 403
        status = cascade.status()
    assert logged(sipp, "REGISTER bad credentials") == ["REGISTER bad credentials"] * 3
    assert status["state"] == "auth_failed"
    assert status["last_error"] == "REGISTER refused: 403 Forbidden"
    assert status["next_retry_at"] is not None and status["registered_at"] is None
    starts, ends = bare_registers(sipp), refusals(sipp)
    assert len(starts) == 3 and len(ends) == 3, sipp.report()
    # the backoff alone: from a 403 to the next attempt (the challenge round trips of each
    # attempt, which a busy machine stretches, are not part of it)
    first_gap, second_gap = starts[1] - ends[0], starts[2] - ends[1]
    assert 0.15 < first_gap < 1.0 and second_gap > first_gap + 0.1  # 0.2 s, then 0.4 s
    assert cascade_warnings(caplog) == [
        f"GB cascade auth_failed ({SERVER_ID}@{HOST}:{sipp.port}): REGISTER refused: 403 Forbidden"
    ]
    assert PASSWORD not in caplog.text


def test_challenged_again_with_the_same_nonce_is_auth_failed(tmp_path: Path) -> None:
    require_sipp()
    sipp = Sipp("challenge_again.xml", tmp_path, keys={"server_domain": DOMAIN}, calls=1)
    cascade = make_cascade(gb_settings(sipp.port))
    with sipp, running(cascade):
        assert sipp.wait(20) == 0, sipp.report()
        status = wait_until(lambda: cascade.status()["last_error"] and cascade.status(), 5,
                            "the outcome")  # fmt: skip
    assert logged(sipp, "ANSWERED") == ["ANSWERED"]
    assert status["state"] == "auth_failed"
    assert status["last_error"] == "REGISTER refused: 401 Unauthorized"


def test_refresh_before_expiry_answers_the_same_challenge(tmp_path: Path) -> None:
    require_sipp()
    sipp = Sipp("registrar.xml", tmp_path, variables={"user": PLATFORM_ID, "pass": PASSWORD, "keepalive": "answer"},
                keys={"server_domain": DOMAIN, "expires": "2"})  # fmt: skip
    cascade = make_cascade(gb_settings(sipp.port, keepalive_interval_s=60))
    with sipp, running(cascade):
        status = wait_until(
            lambda: cascade.status()["state"] == "registered" and cascade.status(), 10, "registered"
        )
        assert 1.5 < status["expires_at"] - status["registered_at"] <= 2.5  # granted 2 s
        assert sipp.wait(10) == 97, sipp.report()  # ends after the refresh, about 1 s later
        assert cascade.status()["state"] == "registered"
    assert logged(sipp, "REFRESHED") == ["REFRESHED auth=true"], sipp.report()
    assert keepalives(logged(sipp, "MESSAGE Keepalive")) == ["keepalive=answer"]


def test_refused_keepalives_make_it_offline_and_register_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    require_sipp()
    caplog.set_level(logging.INFO, logger=log_name)
    sipp = Sipp("registrar.xml", tmp_path, variables={"user": PLATFORM_ID, "pass": PASSWORD, "keepalive": "refuse"},
                keys={"server_domain": DOMAIN, "expires": "3600"})  # fmt: skip
    cascade = make_cascade(gb_settings(sipp.port, keepalive_interval_s=0.2))
    with sipp, running(cascade):
        wait_until(lambda: len(logged(sipp, REGISTER_OK)) == 2, 10, "a second registration")
        status = cascade.status()
    assert status["keepalives"]["failed"] >= 3
    lines = sipp.logs().splitlines()
    first, second = lines.index(REGISTER_OK), len(lines) - 1 - lines[::-1].index(REGISTER_OK)
    assert keepalives(lines[first + 1 : second]) == ["keepalive=refuse"] * 3
    assert cascade_warnings(caplog) == [
        f"GB cascade offline ({SERVER_ID}@{HOST}:{sipp.port}):"
        " 3 keepalives in a row unanswered or refused"
    ]


# ---- a platform that is not there -------------------------------------------------------------


def test_silent_platform_gets_rfc3261_retransmissions_then_offline() -> None:
    platform = UdpSink()
    cascade = make_cascade(gb_settings(platform.port))
    try:
        with running(cascade):
            time.sleep(5.0)
            status = cascade.status()
    finally:
        platform.close()
    arrivals = platform.arrivals
    assert status["state"] == "offline"
    assert status["last_error"] == "REGISTER: no answer from the platform"
    branches = [parse_message(data).headers.get("Via") for _, data in arrivals]
    first = [t for (t, _), via in zip(arrivals, branches, strict=True) if via == branches[0]]
    gaps = [b - a for a, b in itertools.pairwise(first)]
    # T1 = 50 ms doubling up to T2 = 400 ms, for 64·T1 = 3.2 s: 0.05 0.1 0.2 0.4 0.4 ...
    assert 8 <= len(first) <= 12, gaps
    assert 0.03 < gaps[0] < 0.12 and 0.08 < gaps[1] < 0.2 and 0.17 < gaps[2] < 0.32, gaps
    assert all(0.33 < gap < 0.55 for gap in gaps[3:]), gaps
    assert len(set(branches)) >= 2  # after the backoff, a new attempt


def test_tcp_platform_down_is_offline_and_retried(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=log_name)
    cascade = make_cascade(gb_settings(free_port(), transport="tcp"))
    with running(cascade):
        status = wait_until(
            lambda: cascade.status()["state"] == "offline" and cascade.status(), 5, "offline"
        )
        assert "cannot reach the platform" in status["last_error"]
        time.sleep(1.6)  # retries after 0.2, 0.4 and 0.8 s
    retries = [r for r in caplog.records if r.getMessage().startswith("GB cascade: next REGISTER")]
    assert len(retries) >= 3
    assert len(cascade_warnings(caplog)) == 1


# ---- malformed input and refused requests, from a raw socket playing the platform -------------


class RawPlatform:
    """The upper platform as a plain UDP socket: registers the cascade without a challenge,
    answers its MESSAGEs with 200, and sends whatever the test wants to our port."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.sock.settimeout(5.0)
        self.port: int = self.sock.getsockname()[1]
        self.peer: tuple[str, int] = ("", 0)
        self.seen: list[SipRequest] = []

    def receive(self) -> SipRequest | SipResponse:
        """The next message but our keepalives and other MESSAGEs (answered 200 here, as
        every request is)."""
        while True:
            data, self.peer = self.sock.recvfrom(65536)
            message = parse_message(data)
            if isinstance(message, SipRequest):
                self.seen.append(message)
                answer = make_response(message, 200, to_tag="plat", extra=[("Expires", "3600")])
                self.sock.sendto(answer.to_bytes(), self.peer)
                if message.method == "MESSAGE":
                    continue
            return message

    def request(self, method: str, user: str, body: bytes = b"", call: str = "") -> SipRequest:
        headers = Headers.of([
            ("Via", f"SIP/2.0/UDP {HOST}:{self.port};branch={new_branch()}"),
            ("From", f"<sip:{SERVER_ID}@{DOMAIN}>;tag=p1"),
            ("To", f"<sip:{user}@{DOMAIN}>"),
            ("Call-ID", call or new_call_id(HOST)),
            ("CSeq", f"1 {method}"),
            ("Contact", f"<sip:{SERVER_ID}@{HOST}:{self.port}>"),
        ])  # fmt: skip
        if body:
            kind = "APPLICATION/SDP" if method == "INVITE" else "Application/MANSCDP+xml"
            headers.add("Content-Type", kind)
        return SipRequest(method, f"sip:{user}@{HOST}", headers, body)

    def ask(self, request: SipRequest) -> SipResponse:
        """Send `request`; its final answer (our own MESSAGEs are answered meanwhile)."""
        self.sock.sendto(request.to_bytes(), self.peer)
        while True:
            message = self.receive()
            if isinstance(message, SipResponse) and message.status >= 200:
                assert message.headers.get("Call-ID") == request.headers.get("Call-ID")
                return message

    def close(self) -> None:
        self.sock.close()


def query(cmd: str, device: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="GB2312"?>\r\n<Query><CmdType>{cmd}</CmdType>'
        f"<SN>7</SN><DeviceID>{device}</DeviceID></Query>"
    ).encode()


def offer(session: str = "Play", port: int = 40000) -> bytes:
    return (
        f"v=0\r\no={SERVER_ID} 0 0 IN IP4 {HOST}\r\ns={session}\r\nc=IN IP4 {HOST}\r\n"
        f"t=0 0\r\nm=video {port} RTP/AVP 96\r\na=recvonly\r\na=rtpmap:96 PS/90000\r\n"
        "y=0100000001\r\n"
    ).encode()


GARBAGE = [
    b"\x00\xff\xfe garbage \x80",
    b"INVITE sip:34020000001320000001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1",
    b"SIP/2.0 200 OK\r\n\r\n",
    b"MESSAGE sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z\r\nFrom: <sip:a@b>\r\n"
    b"To: <sip:c@d>\r\nCall-ID: 1\r\nCSeq: 1 MESSAGE\r\nContent-Length: 500\r\n\r\nshort",
    b"REGISTER sip:x SIP/2.0\r\nno colon here\r\n\r\n",
    bytes(range(256)) * 4,
]


def test_malformed_input_and_refused_requests_never_stop_the_loop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=log_name)
    platform = RawPlatform()
    cascade = make_cascade(gb_settings(platform.port, keepalive_interval_s=60))
    try:
        with running(cascade):
            register = platform.receive()
            assert isinstance(register, SipRequest) and register.method == "REGISTER"
            wait_until(lambda: cascade.status()["state"] == "registered", 5, "registered")
            for data in [*GARBAGE, b"\r\n\r\n"]:  # the CRLF ping is no error
                platform.sock.sendto(data, platform.peer)
            channel = CHANNELS[0].channel_id
            cases = [
                (platform.request("OPTIONS", PLATFORM_ID), 200),
                (platform.request("MESSAGE", PLATFORM_ID, b"<Query><oops>"), 400),
                (platform.request("MESSAGE", "34020000001320000099", query("Catalog", "x")), 404),
                (platform.request("MESSAGE", PLATFORM_ID, query("RecordInfo", PLATFORM_ID)), 200),
                (platform.request("MESSAGE", PLATFORM_ID, query("RecordInfo", PLATFORM_ID)), 200),
                (platform.request("INVITE", "34020000001320000099", offer()), 404),
                (platform.request("INVITE", CHANNELS[1].channel_id, offer()), 488),  # no stream
                (platform.request("INVITE", channel, offer("Playback")), 488),
                (platform.request("BYE", channel, call="nosuchcall"), 481),
                (platform.request("CANCEL", channel), 481),
                (platform.request("SUBSCRIBE", PLATFORM_ID), 501),
            ]
            answers = [(platform.ask(request), status) for request, status in cases]
            status = cascade.status()
    finally:
        platform.close()
    assert [a.status for a, _ in answers] == [expected for _, expected in answers]
    assert "no main stream" in (answers[6][0].headers.get("Warning") or "")
    assert "only live video" in (answers[7][0].headers.get("Warning") or "")
    assert status["state"] == "registered"
    assert status["malformed"] == len(GARBAGE) + 1  # and the MESSAGE with broken XML
    malformed_lines = [m for m in cascade_warnings(caplog) if "malformed" in m]
    assert len(malformed_lines) == 1  # rate-limited: one line per 10 s
    ignored = [r for r in caplog.records if "RecordInfo is not supported" in r.getMessage()]
    assert len(ignored) == 1  # logged once per command


def test_requests_from_another_address_than_the_platform_get_403() -> None:
    platform = RawPlatform()
    stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    stranger.bind(("127.0.0.2", 0))  # loopback too, but not server_ip
    stranger.settimeout(5.0)
    cascade = make_cascade(gb_settings(platform.port, keepalive_interval_s=60))
    try:
        with running(cascade):
            assert isinstance(platform.receive(), SipRequest)  # REGISTER, answered 200
            wait_until(lambda: cascade.status()["state"] == "registered", 5, "registered")
            answers = []
            for request in (
                platform.request("MESSAGE", PLATFORM_ID, query("Catalog", PLATFORM_ID)),
                platform.request("INVITE", CHANNELS[0].channel_id, offer()),
                platform.request("BYE", CHANNELS[0].channel_id, call="nosuchcall"),
            ):
                stranger.sendto(request.to_bytes(), platform.peer)
                data, _ = stranger.recvfrom(65536)
                answer = parse_message(data)
                assert isinstance(answer, SipResponse)
                assert answer.headers.get("Call-ID") == request.headers.get("Call-ID")
                answers.append((answer.status, answer.reason))
            stranger.settimeout(0.5)
            with pytest.raises(TimeoutError):  # no Catalog answer follows the 403
                stranger.recvfrom(65536)
            status = cascade.status()
    finally:
        stranger.close()
        platform.close()
    assert answers == [(403, "Only the upper platform")] * 3
    assert status["state"] == "registered" and status["sessions"] == []
    assert status["catalog_answers"] == 0


def test_garbage_on_the_tcp_connection_is_skipped() -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind((HOST, 0))
    server.listen(1)
    server.settimeout(5.0)
    cascade = make_cascade(gb_settings(server.getsockname()[1], transport="tcp",
                                       keepalive_interval_s=60))  # fmt: skip
    with server, running(cascade):
        conn, _ = server.accept()
        with conn:
            conn.settimeout(5.0)
            framer = StreamFramer()
            messages: list[object] = []
            while not messages:
                messages = list(framer.feed(conn.recv(65536)))
            register = messages[0]
            assert isinstance(register, SipRequest) and register.method == "REGISTER"
            ok = make_response(register, 200, to_tag="t", extra=[("Expires", "3600")])
            conn.sendall(b"GARBAGE LINE\r\nmore\r\n\r\n" + ok.to_bytes()[:30])
            time.sleep(0.2)  # half a message: it waits for the rest
            conn.sendall(ok.to_bytes()[30:])
            wait_until(lambda: cascade.status()["state"] == "registered", 5, "registered")
            assert cascade.status()["malformed"] == 1


def registered_with(platform: RawPlatform, cascade: Cascade) -> None:
    register = platform.receive()
    assert isinstance(register, SipRequest) and register.method == "REGISTER"
    wait_until(lambda: cascade.status()["state"] == "registered", 5, "registered")


def final_answers(platform: RawPlatform, count: int) -> list[SipResponse]:
    answers: list[SipResponse] = []
    while len(answers) < count:
        message = platform.receive()
        if isinstance(message, SipResponse) and message.status >= 200:
            answers.append(message)
    return answers


def test_cancel_before_the_answer_is_487_and_nothing_else() -> None:
    platform = RawPlatform()
    silent = FanOut()  # a camera that sends nothing: open() waits its probe time (1 s)
    cascade = make_cascade(gb_settings(platform.port, keepalive_interval_s=60),
                           {"cam2": silent}, probe_s=1.0)  # fmt: skip
    try:
        with running(cascade):
            registered_with(platform, cascade)
            invite = platform.request("INVITE", CHANNELS[1].channel_id, offer())
            platform.sock.sendto(invite.to_bytes(), platform.peer)
            trying = platform.receive()
            assert isinstance(trying, SipResponse) and trying.status == 100
            cancel = SipRequest("CANCEL", invite.uri, invite.headers.copy())
            cancel.headers.set("CSeq", "1 CANCEL")
            cancel.body = b""
            platform.sock.sendto(cancel.to_bytes(), platform.peer)
            answers = {a.headers.get("CSeq"): a.status for a in final_answers(platform, 2)}
            assert answers == {"1 CANCEL": 200, "1 INVITE": 487}
            platform.sock.settimeout(1.5)  # the probe ends meanwhile: no 488 may follow
            with pytest.raises(TimeoutError):
                platform.receive()
            assert cascade.status()["sessions"] == []
    finally:
        platform.close()


def test_unacknowledged_200_is_resent_then_hung_up(camera: FanOut) -> None:
    platform = RawPlatform()
    media = UdpSink()
    cascade = make_cascade(gb_settings(platform.port, keepalive_interval_s=60), {"cam1": camera})
    try:
        with running(cascade):
            registered_with(platform, cascade)
            invite = platform.request("INVITE", CHANNELS[0].channel_id, offer(port=media.port))
            platform.sock.sendto(invite.to_bytes(), platform.peer)
            oks = 0
            while True:  # no ACK: the 200 comes again (T1 doubling) until 64·T1, then a BYE
                message = platform.receive()
                if isinstance(message, SipResponse) and message.status == 200:
                    oks += 1
                elif isinstance(message, SipRequest):
                    break
            assert message.method == "BYE"
            assert message.headers.get("Call-ID") == invite.headers.get("Call-ID")
            assert 8 <= oks <= 12
            wait_until(lambda: cascade.status()["sessions"] == [], 5, "the session gone")
    finally:
        platform.close()
        media.close()
    assert media.datagrams == []  # never ACKed: never started


def test_media_that_ends_on_its_own_gets_our_bye(camera: FanOut) -> None:
    platform = RawPlatform()
    cascade = make_cascade(gb_settings(platform.port, keepalive_interval_s=60), {"cam1": camera})
    # nothing listens there: ICMP port unreachable ends the media
    closed_port = free_port(socket.SOCK_DGRAM)
    try:
        with running(cascade):
            registered_with(platform, cascade)
            invite = platform.request("INVITE", CHANNELS[0].channel_id, offer(port=closed_port))
            ok = platform.ask(invite)
            assert ok.status == 200 and b"y=0100000001" in ok.body
            ack = platform.request(
                "ACK", CHANNELS[0].channel_id, call=invite.headers.get("Call-ID") or ""
            )
            ack.headers.set("To", ok.headers.get("To") or "")
            platform.sock.sendto(ack.to_bytes(), platform.peer)
            bye = platform.receive()
            while not (isinstance(bye, SipRequest) and bye.method == "BYE"):
                bye = platform.receive()
            assert bye.headers.get("Call-ID") == invite.headers.get("Call-ID")
            assert "tag=p1" in (bye.headers.get("To") or "")  # in the dialog: our tags swapped
            wait_until(lambda: cascade.status()["sessions"] == [], 5, "the session gone")
    finally:
        platform.close()
