"""Stream push (relay/push.py) against real peers: the product's camera reader over the
GStreamer RTSP test server (Annex-B packets) or a file (AVCC packets), pushing into ffmpeg
listening as an RTSP (ANNOUNCE/RECORD) or RTMP server; what arrived is checked with ffprobe and
by decoding the frame counters drawn into the clip. The pure decisions get table tests."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import itertools
import json
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import pytest

from hallwatch.config_relay import PushTarget
from ingest.backoff import BackoffPolicy
from ingest.packets import FanOut, PacketItem, PacketQueue, StreamInfo
from ingest.reader import CameraReader
from relay.push import PushService, PushWorker
from relay.push_plan import (
    OutputPlan,
    Rebaser,
    failure_is_news,
    output_plan,
)
from relay.push_session import UpstreamSession, _PipeWriter
from tests.relay.conftest import CLIP_FPS, CLIP_SECONDS, CLIP_SIZE
from tests.relay.test_gb_ps import require_ffmpeg
from tests.support.clips import make_clip, read_frame_counter
from tests.support.net import HOST, free_port
from tests.support.wait import wait_until

FAST = BackoffPolicy(initial_s=0.2, max_s=0.5, factor=2.0, jitter=0.0, healthy_reset_s=60)


# --- pure decisions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "transport", "protocol", "fmt", "options"),
    [
        ("rtsp://h/live/a", "tcp", "rtsp", "rtsp", {"rtsp_transport": "tcp", "timeout": "5000000"}),
        (
            "RTSP://u:p@h:8554/a",
            "udp",
            "rtsp",
            "rtsp",
            {"rtsp_transport": "udp", "timeout": "5000000"},
        ),
        ("rtmp://h/live/a", "tcp", "rtmp", "flv", {"flush_packets": "1"}),
        ("Rtmp://h:1935/live/a?token=x", "udp", "rtmp", "flv", {"flush_packets": "1"}),
    ],
)
def test_output_plan(
    url: str, transport: str, protocol: str, fmt: str, options: dict[str, str]
) -> None:
    assert output_plan(url, transport, io_timeout_s=5) == OutputPlan(protocol, fmt, options)


@pytest.mark.parametrize("url", ["http://h/a", "srt://h:9000", "h/live", "rtsps://h/a"])
def test_output_plan_refuses_other_schemes(url: str) -> None:
    with pytest.raises(ValueError, match="rtsp:// or rtmp://"):
        output_plan(url)


@pytest.mark.parametrize(
    ("packets", "placed", "fixed"),
    [
        # a camera at 90 kHz, 25 fps: starts at 0, keeps its spacing
        ([(9000, 9000), (12600, 12600), (16200, 16200)], [(0, 0), (3600, 3600), (7200, 7200)], 0),
        # B-frames: pts ahead of dts, both shifted by the first dts
        ([(3600, 0), (10800, 3600), (7200, 7200)], [(3600, 0), (10800, 3600), (7200, 7200)], 0),
        # the first keyframe has only a pts; a later packet has none at all
        ([(500, None), (600, 600), (None, None), (800, 800)], [(0, 0), (100, 100), (200, 200), (300, 300)], 1),
        # dts goes back: placed one frame on, and later packets follow from there
        ([(1000, 1000), (1100, 1100), (1050, 1050), (1150, 1150)], [(0, 0), (100, 100), (200, 200), (300, 300)], 1),
        # a repeated dts is no step
        ([(0, 0), (100, 100), (100, 100)], [(0, 0), (100, 100), (200, 200)], 1),
        # a jump ahead beyond max_step (5000) is closed up; within it is kept
        ([(0, 0), (100, 100), (900, 900), (90_000, 90_000), (90_100, 90_100)],
         [(0, 0), (100, 100), (900, 900), (1700, 1700), (1800, 1800)], 1),
        # a pts behind its dts is lifted to it
        ([(0, 0), (100, 100), (150, 200)], [(0, 0), (100, 100), (200, 200)], 0),
    ],
)  # fmt: skip
def test_rebaser(
    packets: list[tuple[int | None, int | None]], placed: list[tuple[int, int]], fixed: int
) -> None:
    rebaser = Rebaser(frame_ticks=100, max_step=5000)
    out = [rebaser.place(pts, dts) for pts, dts in packets]
    assert out == placed
    assert rebaser.fixed == fixed
    dts = [d for _, d in out]
    assert all(b > a for a, b in itertools.pairwise(dts))
    assert all(p >= d for p, d in out)


def test_rebaser_needs_a_timestamp_to_start() -> None:
    with pytest.raises(ValueError, match="no timestamp"):
        Rebaser(frame_ticks=100, max_step=1000).place(None, None)


@pytest.mark.parametrize(
    ("failing", "previous", "error", "news"),
    [
        (False, None, "refused", True),  # first failure at start
        (False, "refused", "refused", True),  # first failure after a good session
        (True, "refused", "refused", False),  # the same again on a retry
        (True, "refused", "reset", True),  # a new reason
    ],
)
def test_failure_is_news(failing: bool, previous: str | None, error: str, news: bool) -> None:
    assert failure_is_news(failing, previous, error) is news


def test_pipe_writer_gives_up_on_a_child_that_reads_nothing() -> None:
    """The camera process never waits on a stuck upstream longer than the stall timeout: a
    child that stopped reading leaves its pipe full, and the write fails."""
    read_end, write_end = os.pipe()
    try:
        writer = _PipeWriter(write_end, timeout_s=0.5)
        started = time.monotonic()
        with pytest.raises(TimeoutError, match=r"took no data for 0\.5 s"):
            for _ in range(100):
                writer.write(b"x" * 65536)
        assert 0.4 < time.monotonic() - started < 3
    finally:
        os.close(read_end)
        os.close(write_end)


def test_pipe_writer_delivers_every_byte_through_partial_writes() -> None:
    """A frame header and a packet larger than the pipe go out whole and in order while the
    reader drains slowly (writev() takes part of them at a time)."""
    read_end, write_end = os.pipe()
    packet = bytes(range(256)) * 1200  # 300 KB: several pipe fills
    got = bytearray()

    def drain() -> None:
        while chunk := os.read(read_end, 50_000):
            got.extend(chunk)
            time.sleep(0.005)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        _PipeWriter(write_end, timeout_s=5).write(b"head", memoryview(packet), b"tail")
    finally:
        os.close(write_end)
        reader.join(10)
        os.close(read_end)
    assert bytes(got) == b"head" + packet + b"tail"


# --- pushing into a real receiver -----------------------------------------------------------


def _listening(port: int) -> bool:
    """Whether something listens on TCP `port`, without connecting: ffmpeg's listener would
    take a probe connection for its one client."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    return True
    return False


@dataclass
class Received:
    codec: str
    width: int
    height: int
    frames: int  # ffprobe -count_frames (decoded)
    first_key: bool
    counters: list[int]  # the frame numbers drawn into the clip, read back from decoded frames


class Receiver:
    """ffmpeg as the upstream server: one publishing client, stream copy into a file."""

    def __init__(self, protocol: str, out: Path, port: int | None = None) -> None:
        self.protocol = protocol
        self.port = port or free_port()
        self.out = out
        path = "live/cam"
        self.url = f"{protocol}://{HOST}:{self.port}/{path}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Receiver:
        require_ffmpeg()
        listen = ["-rtsp_flags", "listen"] if self.protocol == "rtsp" else ["-listen", "1"]
        container = "matroska" if self.protocol == "rtsp" else "flv"
        self.proc = subprocess.Popen(
            ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", *listen,
             "-i", self.url, "-c", "copy", "-f", container, "-y", str(self.out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        proc = self.proc
        wait_until(lambda: _listening(self.port) or proc.poll() is not None, 10, "ffmpeg listens")
        # exited already: a pusher retrying at once may have come and gone in between polls
        assert proc.poll() in (None, 0), f"ffmpeg exited with {proc.returncode}"
        return self

    def wait(self, timeout: float = 15) -> None:
        """Wait for ffmpeg to finish its file (the pusher ended the session)."""
        assert self.proc is not None
        self.proc.wait(timeout)

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def received(self) -> Received:
        stream = _ffprobe(self.out, "-count_frames", "-show_streams")["streams"][0]
        first = _ffprobe(self.out, "-show_frames", "-read_intervals", "%+#1")["frames"][0]
        with av.open(str(self.out)) as container:
            counters = [read_frame_counter(frame.to_ndarray(format="rgb24"))
                        for frame in container.decode(video=0)]  # fmt: skip
        return Received(stream["codec_name"], stream["width"], stream["height"],
                        int(stream["nb_read_frames"]), first["key_frame"] == 1,
                        counters)  # fmt: skip


def _ffprobe(path: Path, *args: str) -> dict[str, Any]:
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", *args, "-of", "json", str(path)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    data: dict[str, Any] = json.loads(result.stdout)
    return data


@pytest.fixture
def receivers(tmp_path: Path) -> Iterator[Callable[..., Receiver]]:
    made: list[Receiver] = []

    def make(protocol: str, name: str = "got", port: int | None = None) -> Receiver:
        suffix = "mkv" if protocol == "rtsp" else "flv"
        made.append(Receiver(protocol, tmp_path / f"{name}.{suffix}", port))
        return made[-1]

    yield make
    for receiver in made:
        receiver.kill()


@contextlib.contextmanager
def pushing(target: PushTarget, fanout: FanOut, **options: Any) -> Iterator[PushWorker]:
    worker = PushWorker(target, fanout, **options)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


def assert_camera_stream(got: Received, pushed: int, frames_in_clip: int) -> None:
    """The receiver holds the camera's stream: same codec and size, every pushed packet a
    decodable frame, starting at a keyframe, frame numbers consecutive (stream copy, no loss).

    Frame count tolerance: equal to the packets pushed, or one less. The receiver stops at the
    RTSP TEARDOWN / end of the RTMP stream, and its depacketizer may not flush the last access
    unit; every other packet must be there."""
    assert (got.codec, got.width, got.height) == ("h264", *CLIP_SIZE)
    assert pushed - 1 <= got.frames <= pushed, (got.frames, pushed)
    assert got.first_key
    assert got.counters[0] % CLIP_FPS == 0  # the clip's keyframes: one per second
    steps = {(b - a) % frames_in_clip for a, b in itertools.pairwise(got.counters)}
    assert steps == {1}, got.counters


@pytest.mark.parametrize(
    ("protocol", "transport"), [("rtsp", "tcp"), ("rtsp", "udp"), ("rtmp", "tcp")]
)
def test_push_from_a_live_rtsp_camera(
    live_camera: CameraReader, receivers: Callable[..., Receiver], protocol: str, transport: str
) -> None:
    receiver = receivers(protocol).start()
    camera_packets = live_camera.status().packets
    target = PushTarget(camera="cam1", url=receiver.url, rtsp_transport=transport)
    with pushing(target, live_camera.fanout, policy=FAST) as worker:
        wait_until(lambda: worker.status()["packets"] >= 20, 15, "20 packets pushed")
        running = worker.status()
    receiver.wait()
    status = worker.status()
    assert running["state"] == "pushing" and running["connected_since"] is not None
    assert status["state"] == "stopped" and status["sessions"] == 1 and status["failures"] == 0
    assert status["dropped"] == 0 and status["bytes"] > 10_000
    assert live_camera.status().packets > camera_packets  # the one camera connection, shared
    assert_camera_stream(receiver.received(), status["packets"], CLIP_FPS * CLIP_SECONDS)
    assert worker.name not in {queue.name for queue in live_camera.fanout.queues}


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Long enough that a file-source camera stays in one session during a test."""
    path = tmp_path_factory.mktemp("relay-long") / "long.mp4"
    return make_clip(path, seconds=8, fps=CLIP_FPS, size=CLIP_SIZE)


@pytest.mark.parametrize("protocol", ["rtsp", "rtmp"])
def test_push_from_a_file_camera_avcc(
    long_clip: Path, start_camera: Callable[..., CameraReader],
    receivers: Callable[..., Receiver], protocol: str,
) -> None:  # fmt: skip
    receiver = receivers(protocol).start()
    fanout = FanOut()
    with pushing(PushTarget(camera="cam1", url=receiver.url), fanout) as worker:
        start_camera(str(long_clip), fanout=fanout)  # subscribed first: it gets frame 0
        wait_until(lambda: worker.status()["packets"] >= 20, 15, "20 packets pushed")
    receiver.wait()
    status = worker.status()
    assert status["sessions"] == 1 and status["dropped"] == 0
    got = receiver.received()
    assert_camera_stream(got, status["packets"], CLIP_FPS * 8)
    assert got.counters[0] == 0  # a file camera starts at its first frame


def test_stream_without_extradata_gets_the_keyframe_parameter_sets(
    live_camera: CameraReader, tmp_path: Path
) -> None:
    """A camera whose stream came without extradata (no sprop-parameter-sets, none found while
    probing): the output's FLV sequence header carries the first keyframe's SPS/PPS from the
    start, rather than an empty one that strict RTMP servers and players choke on."""
    queue = live_camera.fanout.subscribe("bare", 50)
    try:
        first = _next_keyframe(queue)
        items = [first] + [_next_packet(queue) for _ in range(9)]
    finally:
        live_camera.fanout.unsubscribe(queue)
    bare = dataclasses.replace(first.info, template=_without_extradata(first.info), extradata=b"")
    out = tmp_path / "bare.flv"  # the child writes the FLV it would send to an RTMP server
    session = UpstreamSession(str(out), output_plan("rtmp://h/a"),
                              dataclasses.replace(first, info=bare), Rebaser(9000, 900_000))  # fmt: skip
    try:
        for item in items:
            session.send(dataclasses.replace(item, info=bare))
        wait_until(session.check, 10, "the child pushing")
    finally:
        session.close()
    tags = _flv_video_tags(out.read_bytes())
    # first video tag: AVC sequence header (keyframe 0x17, packet type 0, 3 bytes of time),
    # holding an avcC (version 1) with at least one SPS and then the PPS
    avcc = tags[0][5:]
    assert tags[0][:2] == b"\x17\x00" and avcc[:1] == b"\x01", tags[0][:12].hex()
    assert avcc[5] & 0x1F >= 1 and len(avcc) > 20
    assert tags[1][:2] == b"\x17\x01"  # then the keyframe itself
    with av.open(str(out)) as check:
        assert len(list(check.decode(video=0))) == 10


def _next_keyframe(queue: PacketQueue) -> PacketItem:
    while True:
        item = _next_packet(queue)
        if item.keyframe and item.packet.pts is not None:
            return item


def _next_packet(queue: PacketQueue) -> PacketItem:
    while True:
        item = queue.get(5)
        assert item is not None, "no packet from the camera"
        if isinstance(item, PacketItem):
            return item


def _without_extradata(info: StreamInfo) -> Any:
    """A detached copy of the stream's codec parameters, its extradata removed."""
    holder = av.open(io.BytesIO(), "w", format="mpegts")
    template = holder.add_stream_from_template(info.template)
    template.codec_context.extradata = None
    holder.start_encoding()  # copies the codec context (no extradata) into the parameters
    _KEEP.append(holder)
    return template


_KEEP: list[Any] = []


def _flv_video_tags(data: bytes) -> list[bytes]:
    tags, pos = [], 13  # FLV header (9) + first PreviousTagSize (4)
    while pos + 11 <= len(data):
        kind, size = data[pos], int.from_bytes(data[pos + 1 : pos + 4], "big")
        if kind == 9:
            tags.append(data[pos + 11 : pos + 11 + size])
        pos += 11 + size + 4
    return tags


@pytest.fixture(scope="module")
def quick_gop_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five keyframes a second, so retries (which start at a keyframe) follow the backoff."""
    path = tmp_path_factory.mktemp("relay-gop") / "gop2.mp4"
    return make_clip(path, seconds=8, fps=CLIP_FPS, size=CLIP_SIZE, gop=2)


def test_upstream_down_at_start_backs_off_quietly_then_arrives(
    quick_gop_clip: Path, start_camera: Callable[..., CameraReader],
    receivers: Callable[..., Receiver], caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG, logger="relay.push")
    camera = start_camera(str(quick_gop_clip))
    receiver = receivers("rtmp")  # not started yet: nothing listens on its port
    policy = BackoffPolicy(initial_s=0.1, max_s=0.4, factor=2.0, jitter=0.0, healthy_reset_s=60)
    with pushing(
        PushTarget(camera="cam1", url=receiver.url), camera.fanout, policy=policy
    ) as worker:
        wait_until(lambda: worker.status()["failures"] >= 5, 15, "five failed attempts")
        down = worker.status()
        now = time.time()
        receiver.start()
        wait_until(lambda: worker.status()["packets"] >= 10, 15, "pushing once it listens")
        up = worker.status()
    receiver.wait()
    assert down["state"] == "reconnecting" and down["connected_since"] is None
    assert "Connection refused" in down["last_error"] and down["packets"] == 0
    assert now - 0.1 < down["next_retry_at"] <= now + 0.5
    assert up["state"] == "pushing" and up["sessions"] == 1
    failed = [r for r in caplog.records if r.name == "relay.push" and "failed" in r.msg]
    delays = [float(r.args[3]) for r in failed]  # type: ignore[index]
    assert delays[:5] == [0.1, 0.2, 0.4, 0.4, 0.4]  # capped exponential backoff
    # one warning when the push went down, not one per retry; one line when it came up
    assert [r.levelno for r in failed][:5] == [logging.WARNING] + [logging.DEBUG] * 4
    infos = [r.getMessage() for r in caplog.records
             if r.name == "relay.push" and r.levelno >= logging.INFO]  # fmt: skip
    assert len(infos) == 3, infos  # failed, pushing, stopped
    assert "pushing" in infos[1] and "stopped" in infos[2]
    got = receiver.received()
    assert got.first_key and got.frames >= up["packets"]


def push_children() -> list[int]:
    """Pids of this process's push children (relay/push_child.py) still alive."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes()
            if int(stat[1]) == os.getpid() and b"push_child.py" in cmdline and stat[0] != "Z":
                found.append(int(entry.name))
    return found


def test_a_stuck_upstream_never_stalls_the_reader(
    live_camera: CameraReader, receivers: Callable[..., Receiver]
) -> None:
    """A hung upstream (its server process stopped: TCP accepts, nothing answers): the push's
    child hangs in its handshake and stops reading its pipe; the push thread waits on the full
    pipe, its bounded queue drops and counts, and the camera reader goes on at full rate. After
    the stall timeout the session fails and is retried."""
    receiver = receivers("rtmp").start()
    receiver.signal(signal.SIGSTOP)
    worker = PushWorker(PushTarget(camera="cam1", url=receiver.url), live_camera.fanout,
                        policy=FAST, queue_len=5, stall_timeout_s=2.5,
                        pipe_bytes=4096)  # fmt: skip
    worker.start()
    try:
        wait_until(lambda: worker.status()["state"] == "connecting", 15, "connecting")
        before, since = live_camera.status().packets, time.monotonic()
        # the child's input buffer and the pipe take ~36 KB (~3.5 s here); then the push thread
        # waits on the full pipe, and its queue (5) fills in 0.5 s
        wait_until(lambda: worker.status()["dropped"] > 0, 15, "the push queue dropping")
        read = live_camera.status().packets - before
        assert read >= 0.8 * CLIP_FPS * (time.monotonic() - since)  # the reader kept its pace
        assert worker.status()["state"] == "connecting"
        wait_until(lambda: worker.status()["failures"] >= 1, 10, "the stall timeout")
        assert "the upstream took no data for 2.5 s" in worker.status()["last_error"]
    finally:
        worker.stop()
        receiver.kill()
    assert worker.status()["state"] == "stopped" and worker.status()["dropped"] > 0
    assert worker.thread is not None and not worker.thread.is_alive()
    assert push_children() == []


def test_an_upstream_that_never_answers_times_out(
    live_camera: CameraReader, receivers: Callable[..., Receiver]
) -> None:
    receiver = receivers("rtsp").start()
    receiver.signal(signal.SIGSTOP)
    worker = PushWorker(PushTarget(camera="cam1", url=receiver.url), live_camera.fanout,
                        policy=FAST, open_timeout_s=1.5)  # fmt: skip
    worker.start()
    try:
        wait_until(lambda: worker.status()["failures"] >= 1, 15, "the open timeout")
        status = worker.status()
    finally:
        worker.stop()
        receiver.kill()
    assert status["state"] in ("reconnecting", "connecting") and status["sessions"] == 0
    assert "the upstream did not answer within 1.5 s" in status["last_error"]
    assert push_children() == []


def test_credentials_never_shown(
    live_camera: CameraReader, receivers: Callable[..., Receiver], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, FFmpeg's included
    receiver = receivers("rtsp")
    url = receiver.url.replace("rtsp://", "rtsp://pusher:S3cr3t@")
    seen: list[dict[str, Any]] = []
    with pushing(PushTarget(camera="cam1", url=url), live_camera.fanout, policy=FAST) as worker:
        wait_until(lambda: worker.status()["failures"] >= 1, 15, "a failure while down")
        seen.append(worker.status())
        receiver.start()
        wait_until(lambda: worker.status()["packets"] >= 5, 15, "pushing")
        seen.append(worker.status())
    seen.append(worker.status())
    assert "rtsp://***@127.0.0.1" in seen[0]["last_error"]  # the error names the URL, redacted
    assert seen[0]["url"] == f"rtsp://***@{HOST}:{receiver.port}/live/cam"
    text = json.dumps(seen) + caplog.text
    assert "S3cr3t" not in text and "pusher" not in text
    assert "rtsp://***@" in caplog.text


def test_camera_session_change_reopens_the_upstream(
    tmp_path: Path, start_camera: Callable[..., CameraReader], receivers: Callable[..., Receiver]
) -> None:
    """A file camera starts a new session at every loop (as a camera does on reconnect): the
    push ends its upstream session and opens a new one at the new session's keyframe."""
    clip = make_clip(tmp_path / "short.mp4", seconds=2, fps=CLIP_FPS, size=CLIP_SIZE, gop=5)
    camera = start_camera(str(clip))
    first = receivers("rtmp", "first").start()
    with pushing(PushTarget(camera="cam1", url=first.url), camera.fanout, policy=FAST) as worker:
        wait_until(lambda: worker.status()["sessions"] == 1, 15, "the first session")
        first.wait()  # the camera session ended, so did the push's: ffmpeg finished its file
        after_first = worker.status()["packets"]
        second = receivers("rtmp", "second", port=first.port).start()
        wait_until(lambda: worker.status()["sessions"] == 2, 15, "a second session")
    second.wait()
    pushed = worker.status()["packets"]
    one, two = first.received(), second.received()
    assert one.first_key and two.first_key
    assert one.frames in (after_first - 1, after_first) and one.frames <= 20
    assert pushed - 2 <= one.frames + two.frames <= pushed
    assert two.counters[0] % 5 == 0  # a keyframe of the clip (GOP 5)
    assert all(b - a == 1 for a, b in itertools.pairwise(two.counters))


def test_service_runs_a_worker_per_target_and_reports_missing_streams(
    live_camera: CameraReader, receivers: Callable[..., Receiver]
) -> None:
    receiver = receivers("rtmp").start()
    targets = [
        PushTarget(camera="cam1", url=receiver.url),
        PushTarget(camera="cam2", url="rtmp://up:pw@example.invalid/live/cam2"),
        PushTarget(camera="cam1", url="rtsp://example.invalid/cam1-sub", stream="sub"),
    ]

    def fanout_of(camera: str, stream: str) -> FanOut | None:
        return live_camera.fanout if (camera, stream) == ("cam1", "main") else None

    service = PushService(targets, fanout_of, policy=FAST)
    service.start()
    try:
        wait_until(lambda: service.status()[0]["packets"] >= 5, 15, "the first target pushing")
        status = service.status()
    finally:
        service.stop()
    assert [s["state"] for s in status] == ["pushing", "no_stream", "no_stream"]
    assert status[1]["last_error"] == "camera cam2 has no main stream"
    assert status[1]["url"] == "rtmp://***@example.invalid/live/cam2"
    assert status[2]["last_error"] == "camera cam1 has no sub stream"
    assert status[2]["protocol"] == "rtsp"
    assert all(set(s) == set(status[0]) for s in status)
    assert service.status()[0]["state"] == "stopped"
    assert not [q for q in live_camera.fanout.queues if q.name.startswith("push-")]
    json.dumps(status)
