"""GB/T 28181 media end to end on 127.0.0.1: a real camera reader pulls RTSP from the GStreamer
test server, a GbMediaSession sends the channel as PS over RTP (UDP, TCP with us connecting, TCP
with the platform connecting) to a receiver in the test playing the upper platform, and ffprobe
reads what arrived. Plus the pure parts: RTP headers, RFC 4571 framing, the PS framer."""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import av
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hallwatch.config_relay import GbChannel
from ingest.packets import FanOut, PacketItem, SessionEnded, StreamInfo, detached_template
from ingest.reader import CameraReader
from ingest.source import parse_source
from relay.gb.media import GbMediaFactory, GbMediaSession, MediaTuning, PsFramer, UnsupportedCodec
from relay.gb.media_api import MediaOffer, SdpError
from relay.gb.ps import split_units, stream_types
from relay.gb.rtp import (
    RtpPacket,
    RtpPacketizer,
    UdpSender,
    chunk_bounds,
    frame_4571,
    parse_rtp,
    rtp_header,
    split_4571,
)
from relay.gb.sdp import answer_sdp, parse_offer
from tests.relay.test_gb_ps import (
    ffmpeg_decode_errors,
    ffprobe_video,
    gstreamer_ps,
    require_ffmpeg,
)
from tests.support.clips import make_clip
from tests.support.rtsp import rtsp_camera_fanout
from tests.support.wait import wait_until

HOST = "127.0.0.1"
CAMERA = "cam1"
SIZE = (640, 360)
FPS = 25
CHANNEL = GbChannel(camera=CAMERA, channel_id="34020000001320000001")
SSRC = "0100000001"
FAST = MediaTuning(connect_timeout_s=3.0, send_timeout_s=3.0, probe_timeout_s=3.0)

# --- RTP and RFC 4571, pure --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((96, 0, 0, 0, False), "806000000000000000000000"),
        ((96, 1, 3600, 100000001, True), "80e0000100000e1005f5e101"),
        ((127, 65535, 2**32 - 1, 2**32 - 1, False), "807fffffffffffffffffffff"),
        ((96, 65536, 2**32, 5, False), "806000000000000000000005"),  # both wrap
    ],
)
def test_rtp_header_layout(args: tuple[int, int, int, int, bool], expected: str) -> None:
    assert rtp_header(*args).hex() == expected


def test_packetizer_cuts_frames_marks_their_ends_and_wraps_the_sequence() -> None:
    packetizer = RtpPacketizer(96, 100000001, sequence=65534, max_payload=1400)
    frame = bytes(range(256)) * 12  # 3072 bytes: 1400 + 1400 + 272
    first = [parse_rtp(h + bytes(p)) for h, p in packetizer.packets(frame, 90_000)]
    second = [parse_rtp(h + bytes(p)) for h, p in packetizer.packets(b"tiny", 93_600)]
    assert [p.sequence for p in first + second] == [65534, 65535, 0, 1]
    assert [p.marker for p in first + second] == [False, False, True, True]
    assert [len(p.payload) for p in first] == [1400, 1400, 272]
    assert b"".join(p.payload for p in first) == frame
    assert {(p.version, p.payload_type, p.ssrc) for p in first} == {(2, 96, 100000001)}
    assert [p.timestamp for p in first + second] == [90_000] * 3 + [93_600]


@given(size=st.integers(0, 20_000), limit=st.integers(1, 3000))
def test_chunk_bounds_cover_the_frame(size: int, limit: int) -> None:
    bounds = chunk_bounds(size, limit)
    assert sum(end - start for start, end in bounds) == size
    assert all(0 < end - start <= limit for start, end in bounds)


@given(
    payloads=st.lists(st.binary(max_size=3000), min_size=1, max_size=8),
    cuts=st.lists(st.integers(1, 5000), max_size=10),
)
def test_rfc4571_framing_round_trips_over_any_tcp_segmentation(
    payloads: list[bytes], cuts: list[int]
) -> None:
    packets = [(rtp_header(96, i, 0, 1, False), memoryview(p)) for i, p in enumerate(payloads)]
    stream = frame_4571(packets)
    buffer, got, pos = bytearray(), [], 0
    for cut in [*cuts, len(stream)]:  # the receiver sees the stream in arbitrary pieces
        buffer += stream[pos : pos + cut]
        pos += cut
        got += list(split_4571(buffer))
    assert got == [h + bytes(p) for h, p in packets] and not buffer


def test_udp_sender_delivers_each_rtp_packet_as_one_datagram() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        receiver.bind((HOST, 0))
        receiver.settimeout(2)
        sender = UdpSender(HOST, receiver.getsockname())
        sender.connect(1)
        packetizer = RtpPacketizer(96, 7)
        frame = bytes(range(256)) * 400  # 102 400 bytes: 73 full packets and a short one
        packets = packetizer.packets(frame, 0)
        sent = sender.send(packets)
        got = [receiver.recv(65536) for _ in packets]
        sender.close()
    assert got == [h + bytes(p) for h, p in packets]
    assert sent == sum(map(len, got))


def test_a_media_address_that_is_not_ours_binds_on_all_addresses() -> None:
    """Behind NAT the configured address is the one the platform sees: the port must match."""
    sender = UdpSender("192.0.2.1", (HOST, 9))  # TEST-NET-1: never a local address
    try:
        assert sender.local_port > 0
    finally:
        sender.close()


# --- the PS framer, fed from a file's packets --------------------------------------------------


def file_items(path: Path, session: int = 1) -> list[PacketItem]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        info = StreamInfo(CAMERA, session, stream.codec_context.name, stream.width,
                          stream.height, stream.time_base, detached_template(stream),
                          bytes(stream.codec_context.extradata or b""))  # fmt: skip
        items = []
        for packet in container.demux(stream):
            if packet.size:
                t = float(packet.pts * stream.time_base)
                items.append(PacketItem(info, packet, t, time.time(), bool(packet.is_keyframe)))
        # the packets outlive the container: the framer reads them below
        return items


@pytest.fixture(scope="module")
def small_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("framer") / "c.mp4", seconds=2, fps=10,
                     size=(320, 240))  # fmt: skip


def test_framer_starts_at_a_keyframe_and_restarts_after_a_gap(small_clip: Path) -> None:
    items = file_items(small_clip)
    framer = PsFramer(CAMERA)
    outs = [framer.frame(item) for item in items[3:]]  # joins mid-GOP: waits for frame 10
    assert outs[:7] == [None] * 7 and framer.skipped == 7
    first = outs[7]
    assert first is not None and first.keyframe
    codes = [code for code, _ in split_units(first.data)]
    assert codes[:3] == [0xBA, 0xBB, 0xBC]
    assert stream_types(next(u for c, u in split_units(first.data) if c == 0xBC)) == {0xE0: 0x1B}
    later = [out for out in outs[8:] if out is not None]
    assert [b.timestamp - a.timestamp for a, b in itertools.pairwise([first, *later])] == [
        9000
    ] * 9  # 10 fps: 9000 ticks of 90 kHz
    framer.gap()
    assert framer.frame(items[5]) is None  # not a keyframe: skipped until one comes
    out = framer.frame(items[0])
    assert out is not None and out.keyframe


def test_framer_follows_a_new_camera_session_and_refuses_hevc(small_clip: Path) -> None:
    framer = PsFramer(CAMERA)
    one = file_items(small_clip, session=1)
    assert framer.frame(one[0]) is not None and framer.frame(one[1]) is not None
    framer.end_session(SessionEnded(one[0].info, time.time(), "closed"))
    two = file_items(small_clip, session=2)
    assert framer.frame(two[1]) is None  # a new session starts at its keyframe
    assert framer.frame(two[0]) is not None
    hevc = StreamInfo(CAMERA, 3, "hevc", 320, 240, Fraction(1, 90000), None)
    with pytest.raises(UnsupportedCodec, match="2016"):
        framer.frame(PacketItem(hevc, two[0].packet, 9.0, time.time(), True))


# --- the platform's side of the media ----------------------------------------------------------


class Platform:
    """The upper platform receiving media: UDP, TCP listening (it said a=setup:passive) or TCP
    connecting (a=setup:active). Collects RTP packets in a thread."""

    def __init__(self, kind: Literal["udp", "tcp-passive", "tcp-active"]) -> None:
        self.kind = kind
        self.packets: list[bytes] = []
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._conn: socket.socket | None = None
        self._thread: threading.Thread | None = None
        sock_type = socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM
        self.sock = socket.socket(socket.AF_INET, sock_type)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind((HOST, 0))
        self.port: int = self.sock.getsockname()[1]
        if kind == "tcp-passive":
            self.sock.listen(1)

    def sdp(self) -> str:
        if self.kind == "udp":
            media = f"m=video {self.port} RTP/AVP 96 98\r\n"
        else:
            setup = "passive" if self.kind == "tcp-passive" else "active"
            port = self.port if self.kind == "tcp-passive" else 9
            media = f"m=video {port} TCP/RTP/AVP 96\r\na=setup:{setup}\r\na=connection:new\r\n"
        return (
            f"v=0\r\no=34020000002000000001 0 0 IN IP4 {HOST}\r\ns=Play\r\n"
            f"c=IN IP4 {HOST}\r\nt=0 0\r\n{media}a=recvonly\r\na=rtpmap:96 PS/90000\r\n"
            f"a=rtpmap:98 H264/90000\r\ny={SSRC}\r\n"
        )

    def start(self, our_port: int) -> None:
        self._thread = threading.Thread(target=self._run, args=(our_port,), daemon=True)
        self._thread.start()

    def _run(self, our_port: int) -> None:
        if self.kind == "udp":
            self.sock.settimeout(0.2)
            while not self._stop.is_set():
                with contextlib.suppress(TimeoutError):
                    self.packets.append(self.sock.recv(65536))
            return
        if self.kind == "tcp-passive":
            self.sock.settimeout(10)
            conn, _ = self.sock.accept()
        else:
            self.sock.settimeout(10)
            self.sock.connect((HOST, our_port))
            conn = self.sock
        self._conn = conn
        self.connected.set()
        conn.settimeout(0.2)
        buffer = bytearray()
        while not self._stop.is_set():
            try:
                data = conn.recv(1 << 16)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            buffer += data
            self.packets.extend(split_4571(buffer))

    def hang_up(self) -> None:
        """The platform closes its media connection (TCP)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._conn is not None:
            self._conn.close()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        for sock in (self._conn, self.sock):
            if sock is not None:
                sock.close()


@pytest.fixture
def platform_of() -> Iterator[Any]:
    made: list[Platform] = []

    def make(kind: Literal["udp", "tcp-passive", "tcp-active"]) -> Platform:
        made.append(Platform(kind))
        return made[-1]

    yield make
    for platform in made:
        platform.close()


def check_rtp(raw: list[bytes]) -> tuple[list[RtpPacket], bytes, int]:
    """RTP checks on what arrived: (packets, the PS of all complete frames, frames)."""
    packets = [parse_rtp(p) for p in raw]
    assert packets, "no RTP packet arrived"
    assert {(p.version, p.payload_type, p.ssrc) for p in packets} == {(2, 96, int(SSRC))}
    gaps = [(b.sequence - a.sequence) % 65536 for a, b in itertools.pairwise(packets)]
    assert set(gaps) == {1}, "sequence numbers are not continuous"
    for a, b in itertools.pairwise(packets):  # the marker ends each frame (one timestamp)
        assert a.marker == (a.timestamp != b.timestamp)
    ends = [i for i, p in enumerate(packets) if p.marker]
    frame_starts = [packets[0], *(packets[i + 1] for i in ends[:-1])]
    steps = [(b.timestamp - a.timestamp) % 2**32 for a, b in itertools.pairwise(frame_starts)]
    assert steps and all(step > 0 for step in steps)
    assert sorted(steps)[len(steps) // 2] == 90_000 // FPS  # 3600 ticks per frame at 25 fps
    assert all(p.payload.startswith(b"\x00\x00\x01\xba") for p in frame_starts)
    ps = b"".join(p.payload for p in packets[: ends[-1] + 1])
    first_units = [code for code, _ in itertools.islice(split_units(ps), 3)]
    assert first_units == [0xBA, 0xBB, 0xBC]  # it starts at a keyframe
    return packets, ps, len(ends)


def check_ps_file(ps: bytes, frames: int, tmp_path: Path) -> None:
    require_ffmpeg()
    path = tmp_path / "received.ps"
    path.write_bytes(ps)
    probed = ffprobe_video(path)
    assert (probed["codec_name"], probed["width"], probed["height"]) == ("h264", *SIZE)
    assert int(probed["nb_read_frames"]) == frames
    assert ffmpeg_decode_errors(path) == ""
    gst = gstreamer_ps(path)  # a second PS reader, which goes by the program stream map
    assert (gst["codec"], gst["width"], gst["height"], gst["frames"]) == (
        "video/x-h264",
        *SIZE,
        frames,
    )


# --- against a real reader ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def camera(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FanOut]:
    """The camera's fan-out, fed by a real reader pulling RTSP from the GStreamer server."""
    clip = make_clip(tmp_path_factory.mktemp("gbcam") / "cam.mp4", seconds=4, fps=FPS,
                     size=SIZE)  # fmt: skip
    with rtsp_camera_fanout(clip, CAMERA) as fanout:
        yield fanout


@pytest.fixture
def factory(camera: FanOut) -> GbMediaFactory:
    return GbMediaFactory(lambda cam, stream: camera if (cam, stream) == (CAMERA, "main") else None,
                          FAST)  # fmt: skip


def open_session(factory: GbMediaFactory, platform: Platform) -> tuple[GbMediaSession, str]:
    offer = parse_offer(platform.sdp(), CHANNEL.channel_id)
    session = factory.open(CHANNEL, offer, HOST)
    answer = answer_sdp(offer, session.answer, our_id="34020000002000000002", ssrc=offer.ssrc)
    return session, answer


@pytest.mark.parametrize("kind", ["udp", "tcp-passive", "tcp-active"])
def test_live_channel_arrives_as_ps_over_rtp(
    factory: GbMediaFactory, camera: FanOut, platform_of: Any, kind: Any, tmp_path: Path
) -> None:
    platform: Platform = platform_of(kind)
    session, answer = open_session(factory, platform)
    expected_role = {"udp": None, "tcp-passive": "active", "tcp-active": "passive"}[kind]
    assert session.answer.setup == expected_role
    assert f"m=video {session.answer.port} " in answer and session.stats()["state"] == "bound"
    platform.start(session.answer.port)  # the 200 OK went out; the platform gets ready
    session.start()  # ACK
    wait_until(lambda: session.stats()["frames"] >= 3 * FPS, 10, "3 s of frames sent")
    session.stop()  # BYE, mid-stream
    session.stop()  # idempotent
    stats = session.stats()
    assert stats["state"] == "stopped" and stats["error"] is None, stats
    assert not [q for q in camera.queues if q.name.startswith("gb:")]  # unsubscribed
    time.sleep(0.3)  # what is in flight on 127.0.0.1 lands
    platform.close()
    packets, ps, frames = check_rtp(platform.packets)
    assert len(packets) == stats["packets"] and stats["dropped"] == 0
    assert stats["frames"] - 1 <= frames <= stats["frames"]
    check_ps_file(ps, frames, tmp_path)


def test_platform_closing_tcp_ends_the_session(
    factory: GbMediaFactory, camera: FanOut, platform_of: Any
) -> None:
    platform: Platform = platform_of("tcp-passive")
    session, _ = open_session(factory, platform)
    platform.start(session.answer.port)
    session.start()
    wait_until(lambda: session.stats()["frames"] >= 5, 10, "frames sent")
    platform.hang_up()
    stats = wait_until(
        lambda: (s := session.stats())["state"] == "ended" and s, 5, "the session to end"
    )
    assert "closed the TCP connection" in stats["error"] or "reset" in stats["error"], stats
    assert not [q for q in camera.queues if q.name.startswith("gb:")]
    session.stop()  # BYE after the end is harmless
    assert session.stats()["state"] == "ended"


def test_udp_port_unreachable_ends_the_session(factory: GbMediaFactory, camera: FanOut) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as gone:
        gone.bind((HOST, 0))
        port = gone.getsockname()[1]  # closed below: nobody listens there
    offer = MediaOffer("Play", HOST, port, "udp", None, 96, SSRC, CHANNEL.channel_id)
    session = factory.open(CHANNEL, offer, HOST)
    session.start()
    stats = wait_until(
        lambda: (s := session.stats())["state"] == "ended" and s, 10, "the session to end"
    )
    assert "unreachable" in stats["error"], stats
    session.stop()


def test_platform_that_never_connects_times_out(camera: FanOut) -> None:
    tuning = MediaTuning(connect_timeout_s=0.5, probe_timeout_s=3.0)
    factory = GbMediaFactory(lambda cam, stream: camera, tuning)
    offer = MediaOffer("Play", HOST, 9, "tcp", "active", 96, SSRC, CHANNEL.channel_id)
    session = factory.open(CHANNEL, offer, HOST)
    session.start()
    stats = wait_until(
        lambda: (s := session.stats())["state"] == "ended" and s, 5, "the session to end"
    )
    assert "no TCP connection" in stats["error"] and stats["frames"] == 0, stats
    session.stop()


def test_stop_before_the_platform_connects_and_without_start(camera: FanOut) -> None:
    factory = GbMediaFactory(lambda cam, stream: camera, FAST)
    offer = MediaOffer("Play", HOST, 9, "tcp", "active", 96, SSRC, CHANNEL.channel_id)
    waiting = factory.open(CHANNEL, offer, HOST)
    waiting.start()
    time.sleep(0.2)
    started = time.monotonic()
    waiting.stop()  # CANCEL/BYE while we wait for the platform's connection
    assert time.monotonic() - started < 2
    assert waiting.stats()["state"] == "stopped" and waiting.stats()["error"] is None
    never = factory.open(CHANNEL, offer, HOST)
    port = never.answer.port
    never.stop()  # the INVITE failed after open(): the port is released
    with socket.socket() as probe:
        probe.bind((HOST, port))
    never.start()  # a late ACK after stop sends nothing
    assert never.stats()["state"] == "stopped"


def test_factory_refusals(camera: FanOut, tmp_path: Path) -> None:
    offer = MediaOffer("Play", HOST, 30000, "udp", None, 96, SSRC, CHANNEL.channel_id)
    factory = GbMediaFactory(lambda cam, stream: camera if stream == "main" else None, FAST)
    with pytest.raises(SdpError, match="no sub stream"):
        factory.open(GbChannel(camera=CAMERA, channel_id=CHANNEL.channel_id, stream="sub"),
                     offer, HOST)  # fmt: skip
    silent = GbMediaFactory(lambda cam, stream: FanOut(), MediaTuning(probe_timeout_s=0.2))
    with pytest.raises(SdpError, match="sent no video"):
        silent.open(CHANNEL, offer, HOST)
    with pytest.raises(SdpError, match="only live"):
        factory.open(CHANNEL, MediaOffer("Playback", HOST, 30000, "udp", None, 96, SSRC,
                                         CHANNEL.channel_id), HOST)  # fmt: skip


def test_an_hevc_camera_is_refused_at_invite(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "hevc.mp4", seconds=1, fps=10, size=(320, 240), codec="libx265")
    reader = CameraReader("hevc", parse_source(str(clip)))
    reader.start()
    try:
        factory = GbMediaFactory(lambda cam, stream: reader.fanout, FAST)
        offer = MediaOffer("Play", HOST, 30000, "udp", None, 96, SSRC, CHANNEL.channel_id)
        with pytest.raises(SdpError, match=r"H\.265.*2016"):
            factory.open(GbChannel(camera="hevc", channel_id=CHANNEL.channel_id), offer, HOST)
    finally:
        reader.stop()
