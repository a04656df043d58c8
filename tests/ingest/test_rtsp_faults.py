"""The camera reader and the recorder under faults, end to end on 127.0.0.1.

A real RTSP server (GStreamer, killed and restarted mid-stream), a closed port, a TCP server
that answers garbage, files with broken timestamps and an H.265 file: the reader must stay
alive, report outages as gaps in the store, retry with backoff without spinning, and the
recorder must leave only segments that play from a keyframe.
"""

from __future__ import annotations

import itertools
import logging
import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import pytest

from hallwatch.store import Store
from ingest.backoff import BackoffPolicy
from ingest.packets import PacketItem, PacketQueue
from ingest.reader import CameraReader
from ingest.source import OpenOptions, Source, parse_source
from recordings.index import Segment, SegmentIndex
from recordings.segments import SegmentWriter
from tests.recordings.feed import Decoded, decode_all
from tests.support.clips import make_clip
from tests.support.garbage_server import GarbageServer, Mode
from tests.support.net import free_port
from tests.support.rtsp import RtspServer, require_rtsp_server
from tests.support.wait import wait_until

FPS = 10
SIZE = (320, 180)
CLIP_S = 8  # the server loops it: frame counters wrap at CLIP_S * FPS
NO_JITTER = BackoffPolicy(initial_s=0.2, max_s=1.0, jitter=0.0, healthy_reset_s=60)
QUICK_OPEN = OpenOptions(open_timeout_s=1.0, read_timeout_s=1.0)
CAMERA = "cam"


# --- fixtures and helpers ---------------------------------------------------------------------


def drain(queue: PacketQueue) -> list[PacketItem]:
    """The packets left in a consumer queue once its reader has stopped."""
    items = []
    while (item := queue.get(0)) is not None:
        if isinstance(item, PacketItem):
            items.append(item)
    return items


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RtspServer]:
    require_rtsp_server()
    clip = make_clip(tmp_path_factory.mktemp("rtsp") / "cam.mp4", seconds=CLIP_S, fps=FPS,
                     size=SIZE)  # fmt: skip
    with RtspServer({"/cam": clip}) as running:
        yield running


@dataclass
class Rig:
    """A camera reader feeding a recorder; outages go to the store as hallwatch/runtime.py does."""

    reader: CameraReader
    writer: SegmentWriter
    index: SegmentIndex
    items: PacketQueue  # every item the reader published, for inspection afterwards
    outages: list[tuple[str, float, float | None]] = field(default_factory=list)

    def alive(self) -> bool:
        thread = self.reader._thread
        return thread is not None and thread.is_alive()

    def closed(self, session: int | None = None) -> list[Segment]:
        segments = self.index.all_closed(CAMERA)
        return [s for s in segments if session is None or s.session == session]

    def packets(self) -> list[PacketItem]:
        drained = []
        while (item := self.items.get(0)) is not None:
            if isinstance(item, PacketItem):
                drained.append(item)
        return drained


@contextmanager
def recording(
    store: Store, root: Path, source: Source, *, segment_s: float = 2.0, **reader_options: Any
) -> Iterator[Rig]:
    index = SegmentIndex(store, root)
    rig: Rig

    def on_outage(camera: str, start: float, end: float | None) -> None:
        rig.outages.append((camera, start, end))
        if end is None:
            store.open_gap(camera, start, "no video")
        else:
            store.close_gap(camera, end)

    reader = CameraReader(CAMERA, source, on_outage=on_outage, **reader_options)
    queue = reader.fanout.subscribe("recorder", 5000)
    items = reader.fanout.subscribe("test", 100_000)
    writer = SegmentWriter(CAMERA, queue, index, root, segment_s=segment_s)
    rig = Rig(reader, writer, index, items)
    writer.start()
    reader.start()
    try:
        yield rig
    finally:
        reader.stop()
        writer.stop()


def playable(rig: Rig, segment: Segment, frames_in_clip: int) -> Decoded:
    """The segment is complete, decodes without error from a keyframe, and its frames follow
    one another (the camera's clip loops: counters wrap at `frames_in_clip`)."""
    path = rig.index.path_of(segment)
    assert segment.closed and segment.end is not None
    assert segment.bytes == path.stat().st_size
    decoded = decode_all(path)
    assert decoded.error is None, (segment.path, decoded.error)
    assert decoded.counters and decoded.keyframes[0], segment.path
    assert decoded.counters[0] % FPS == 0, decoded.counters  # a GOP starts every second
    steps = [(b - a) % frames_in_clip for a, b in itertools.pairwise(decoded.counters)]
    assert steps == [1] * len(steps), decoded.counters
    assert segment.end - segment.start == pytest.approx(len(decoded.counters) / FPS, abs=0.15)
    return decoded


def follows(before: Decoded, after: Decoded, frames_in_clip: int) -> bool:
    return after.counters[0] == (before.counters[-1] + 1) % frames_in_clip


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def watch_reconnects(reader: CameraReader, seconds: float) -> list[float]:
    """Monotonic times at which the reconnect counter grew, polled every 20 ms."""
    grew: list[float] = []
    seen = reader.status().reconnects
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        now = reader.status().reconnects
        if now != seen:
            grew += [time.monotonic()] * (now - seen)
            seen = now
        time.sleep(0.02)
    return grew


# --- 1. normal pull and recording ------------------------------------------------------------


def test_pull_and_record_end_to_end(server: RtspServer, store: Store, tmp_path: Path) -> None:
    with recording(store, tmp_path / "rec", parse_source(server.url("/cam")),
                   backoff=NO_JITTER) as rig:  # fmt: skip
        wait_until(lambda: rig.reader.status().online, 15, "online")
        wait_until(lambda: rig.writer.stats()["segments"] >= 2, 10, "two rolled segments")
        status = rig.reader.status()
        assert rig.alive()
    segments = rig.closed()
    assert len(segments) >= 3 and not rig.index.segments(CAMERA, "open")
    assert {s.session for s in segments} == {1} and status.reconnects == 0
    assert {(s.codec, s.width, s.height) for s in segments} == {("h264", *SIZE)}
    frames = CLIP_S * FPS
    decoded = [playable(rig, segment, frames) for segment in segments]
    assert [len(d.counters) for d in decoded[:-1]] == [2 * FPS] * (len(decoded) - 1)
    for (a, da), (b, db) in itertools.pairwise(zip(segments, decoded, strict=True)):
        assert b.start == pytest.approx(a.end, abs=0.01)  # contiguous in time...
        assert follows(da, db, frames)  # ...and not a frame lost between them
    stats = rig.writer.stats()
    assert stats["errors"] == stats["gaps"] == stats["ts_fixed"] == 0
    # the only outage: from the reader's start until its first packet
    assert [end is None for _, _, end in rig.outages] == [True, False]
    (gap,) = store.gaps(CAMERA, 0, time.time() + 1)
    assert gap[1] is not None and gap[1] <= segments[0].start + 1.5


# --- 2. the camera goes away and comes back ----------------------------------------------------


def test_server_restart_is_a_gap_between_intact_segments(
    server: RtspServer, store: Store, tmp_path: Path
) -> None:
    try:
        with recording(store, tmp_path / "rec", parse_source(server.url("/cam")),
                       backoff=NO_JITTER, options=QUICK_OPEN) as rig:  # fmt: skip
            wait_until(lambda: rig.closed(1), 15, "a segment before the outage")
            server.stop()
            down_at = time.time()
            wait_until(lambda: not rig.reader.status().online, 10, "offline")
            wait_until(lambda: rig.reader.status().reconnects >= 2, 10, "retries while down")
            offline = rig.reader.status()
            assert store.gaps(CAMERA, down_at - 5, down_at + 60)[-1][1] is None  # open gap
            server.start()
            up_at = time.time()
            wait_until(lambda: rig.reader.status().online, 15, "online again")
            session = rig.reader.status().session
            wait_until(lambda: rig.closed(session), 10, "a segment after the outage")
            assert rig.alive()
    finally:
        server.start()  # for the tests that come after, whatever happened
    assert offline.last_error and offline.offline_since is not None
    assert session >= 2
    before, after = rig.closed(1), rig.closed(session)
    frames = CLIP_S * FPS
    for segments in (before, after):
        decoded = [playable(rig, s, frames) for s in segments]
        assert all(follows(a, b, frames) for a, b in itertools.pairwise(decoded))
    assert not rig.index.segments(CAMERA, "open")
    assert rig.writer.stats()["errors"] == 0
    gaps = store.gaps(CAMERA, 0, time.time() + 1)
    assert len(gaps) == 2 and all(end is not None for _, end in gaps)
    start, end = gaps[1]
    assert end is not None
    assert before[-1].end is not None
    assert start >= before[-1].end - 1.0 and start <= down_at + 0.5
    assert end <= after[0].start + 1.0 and end >= up_at
    assert end - start >= up_at - down_at
    times = [item.media_time for item in rig.packets()]
    assert times == sorted(times)  # one media clock across the outage


# --- 3. a camera that is never there -----------------------------------------------------------


def test_unreachable_camera_backs_off_without_spinning(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()  # closed: connections are refused at once
    reader = CameraReader(CAMERA, parse_source(f"rtsp://127.0.0.1:{port}/cam"),
                          backoff=NO_JITTER, options=QUICK_OPEN)  # fmt: skip
    caplog.set_level(logging.DEBUG, logger="ingest.reader")
    started = time.monotonic()
    cpu_before = cpu_seconds()
    reader.start()
    try:
        grew = watch_reconnects(reader, 3.6)
        cpu = cpu_seconds() - cpu_before
        status = reader.status()
        assert reader._thread is not None and reader._thread.is_alive()
    finally:
        reader.stop()
    assert cpu < 0.2, f"{cpu:.3f} s of CPU in 3.6 s: a busy loop?"
    assert not status.online and status.last_packet_at is None
    assert status.last_error is not None and "refused" in status.last_error.lower()
    assert f"127.0.0.1:{port}" in status.last_error
    # retries after 0.2, 0.4, 0.8, 1.0, 1.0 s (+ the connect): at 0.2, 0.6, 1.4, 2.4, 3.4 s
    assert 4 <= status.reconnects <= 6, status.reconnects
    intervals = [b - a for a, b in itertools.pairwise([started, *grew])]
    assert intervals[0] == pytest.approx(0.2, abs=0.1), intervals
    assert all(b >= a - 0.1 for a, b in itertools.pairwise(intervals)), intervals
    assert max(intervals) == pytest.approx(1.0, abs=0.15), intervals  # capped at max_s
    delays = [r.args[1] for r in caplog.records if r.getMessage().startswith("camera cam: retry")
              if isinstance(r.args, tuple)]  # fmt: skip
    assert delays[:5] == pytest.approx([0.2, 0.4, 0.8, 1.0, 1.0])


# --- 4. something answers, but not a camera ----------------------------------------------------

EXPECTED_ERRORS = {
    Mode.RANDOM: "InvalidDataError",  # random bytes instead of an RTSP reply
    Mode.HTTP_400: "InvalidDataError",  # FFmpeg ignores the failed OPTIONS; DESCRIBE gets EOF
    Mode.SILENT: "TimeoutError",  # the open timeout, said as such
    Mode.BAD_SDP: "4XX Client Error",  # the malformed SDP is read leniently; SETUP fails
    Mode.NO_VIDEO: "no video stream",  # opened, but nothing to read
}


@pytest.mark.parametrize("mode", list(Mode))
def test_garbage_on_the_socket_is_retried(mode: Mode, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="ingest")
    with GarbageServer(mode) as camera:
        reader = CameraReader(CAMERA, parse_source(camera.url("/cam", "admin:S3cr3t")),
                              backoff=NO_JITTER, options=QUICK_OPEN)  # fmt: skip
        reader.start()
        try:
            wait_until(lambda: camera.connection_count >= 3, 8, "three connection attempts")
            status = reader.status()
            assert reader._thread is not None and reader._thread.is_alive()
        finally:
            reader.stop(timeout=5)
        assert reader._thread is not None and not reader._thread.is_alive()
        attempts = list(camera.connections)
    assert not status.online and status.packets == 0
    assert status.last_error is not None and EXPECTED_ERRORS[mode] in status.last_error
    assert status.source.startswith("rtsp://***@127.0.0.1:")
    everything = repr(status.to_json()) + caplog.text
    assert "S3cr3t" not in everything and "admin" not in everything
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert gaps[1] > gaps[0] + 0.1, gaps  # 0.2 s then 0.4 s of backoff (plus the attempt)


# --- 5. broken timestamps ----------------------------------------------------------------------


def ts_with_jump(clip: Path, target: Path, shifts: tuple[float, float]) -> Path:
    """Two copies of `clip` back to back in one MPEG-TS file, the timestamps of each moved by
    its shift: (10, 0) jumps back by 10 s plus the clip's length, (0, 100) ahead by 100 s less
    it. (A first part more than 60 s late would be unwrapped by the TS demuxer, as if its
    33-bit clock had wrapped: a jump back of 100 s reads as a jump ahead by ~26 hours.)"""
    parts = []
    for index, shift in enumerate(shifts):
        part = target.with_suffix(f".{index}.ts")
        with av.open(str(clip)) as inp, av.open(str(part), "w", format="mpegts") as out:
            stream = inp.streams.video[0]
            out_stream = out.add_stream_from_template(stream)
            assert stream.time_base is not None
            ticks = round(shift / stream.time_base)
            for packet in inp.demux(stream):
                if packet.size and packet.pts is not None and packet.dts is not None:
                    packet.pts, packet.dts = packet.pts + ticks, packet.dts + ticks
                    packet.stream = out_stream
                    out.mux(packet)
        parts.append(part.read_bytes())
    target.write_bytes(b"".join(parts))
    return target


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "short.mp4", seconds=2, fps=FPS,
                     size=SIZE)  # fmt: skip


def of_session(items: list[PacketItem], session: int) -> list[PacketItem]:
    return [item for item in items if item.info.session == session]


def test_timestamps_jumping_back_keep_one_clock_and_playable_segments(
    short_clip: Path, store: Store, tmp_path: Path
) -> None:
    source = ts_with_jump(short_clip, tmp_path / "back.ts", (10.0, 0.0))  # 11.9 s back
    with recording(store, tmp_path / "rec", parse_source(str(source)), segment_s=10.0) as rig:
        wait_until(lambda: rig.closed(1), 10, "the first pass recorded")
        assert rig.alive()
    items = rig.packets()
    first_pass = of_session(items, 1)
    times = [item.media_time for item in first_pass]
    assert len(times) == 4 * FPS
    steps = [b - a for a, b in itertools.pairwise(times)]
    assert all(0.05 < step < 0.15 for step in steps), steps  # the jump was absorbed
    all_times = [item.media_time for item in items]
    assert all_times == sorted(all_times)
    # paced like a live camera: no burst after the jump
    walls = [item.wall_time for item in first_pass]
    assert walls[-1] - walls[0] == pytest.approx(times[-1] - times[0], abs=0.5)
    # one segment holds the whole pass: the recorder re-anchored the jump back
    (segment, *_) = rig.closed(1)
    decoded = decode_all(rig.index.path_of(segment))
    assert decoded.error is None and decoded.keyframes[0]
    assert decoded.counters == [*range(2 * FPS), *range(2 * FPS)]
    assert segment.end is not None
    assert segment.end - segment.start == pytest.approx(4.0, abs=0.15)  # not 12 s, not < 0
    assert rig.writer.stats()["ts_fixed"] >= 1 and rig.writer.stats()["errors"] == 0


def test_timestamps_jumping_ahead_do_not_freeze_a_file(
    short_clip: Path, store: Store, tmp_path: Path
) -> None:
    source = ts_with_jump(short_clip, tmp_path / "ahead.ts", (0.0, 100.0))  # 98 s ahead
    with recording(store, tmp_path / "rec", parse_source(str(source)), segment_s=10.0) as rig:
        # the second half comes at once, not after sleeping through the 98 s jump
        wait_until(lambda: rig.reader.status().packets >= 4 * FPS, 6, "the whole first pass")
        wait_until(lambda: rig.closed(1), 5, "the first pass recorded")
        assert rig.alive()
    first_pass = of_session(rig.packets(), 1)
    walls = [item.wall_time for item in first_pass]
    assert walls[-1] - walls[0] == pytest.approx(3.9, abs=0.5)
    # the jump is closed up, in media time and in the segment: one 4 s segment, playable
    segments = rig.closed(1)
    assert len(segments) == 1
    assert segments[0].end is not None and segments[0].end - segments[0].start < 5
    decoded = playable(rig, segments[0], 2 * FPS)  # the source repeats a 2 s clip
    assert decoded.counters == list(range(2 * FPS)) * 2


@pytest.mark.parametrize("shifts", [(0.0, 0.0), (0.0, 100.0)], ids=["back-1.9s", "ahead-98s"])
def test_small_or_forward_jumps_keep_media_time_continuous(
    short_clip: Path, tmp_path: Path, shifts: tuple[float, float]
) -> None:
    source = ts_with_jump(short_clip, tmp_path / "jump.ts", shifts)
    reader = CameraReader(CAMERA, parse_source(str(source)))
    queue = reader.fanout.subscribe("test", 10_000)
    reader.start()
    try:
        wait_until(lambda: reader.status().packets >= 2 * FPS + 5, 6, "packets past the jump")
    finally:
        reader.stop()
    items = drain(queue)
    times = [item.media_time for item in of_session(items, 1)]
    steps = [b - a for a, b in itertools.pairwise(times)]
    assert all(0.0 < step < 0.5 for step in steps), steps


def test_stream_without_timestamps_gets_a_steady_clock(short_clip: Path, tmp_path: Path) -> None:
    raw = tmp_path / "raw.h264"  # Annex B elementary stream: no pts, no dts
    with av.open(str(short_clip)) as inp, av.open(str(raw), "w", format="h264") as out:
        out_stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.size:
                packet.stream = out_stream
                out.mux(packet)
    reader = CameraReader(CAMERA, parse_source(str(raw)))
    queue = reader.fanout.subscribe("test", 10_000)
    reader.start()
    try:
        wait_until(lambda: reader.status().packets >= 30, 5, "30 packets")
        assert reader._thread is not None and reader._thread.is_alive()
    finally:
        reader.stop()
    items = drain(queue)
    assert all(item.packet.pts is None for item in items)
    steps = [b.media_time - a.media_time for a, b in itertools.pairwise(items)]
    assert steps and all(step > 0 for step in steps), steps


# --- 6. H.265 ----------------------------------------------------------------------------------


def test_hevc_file_is_read_and_recorded(store: Store, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "hevc.mp4", seconds=3, fps=FPS, size=SIZE, codec="libx265")
    with recording(store, tmp_path / "rec", parse_source(str(clip)), segment_s=1.0) as rig:
        wait_until(lambda: len(rig.closed()) >= 3, 10, "three segments")
        status = rig.reader.status()
    assert status.codec == "hevc" and (status.width, status.height) == SIZE
    segments = rig.closed()
    assert {s.codec for s in segments} == {"hevc"}
    for segment in segments:
        decoded = playable(rig, segment, 3 * FPS)
        if segment.session == 1:
            assert len(decoded.counters) == FPS
        with av.open(str(rig.index.path_of(segment))) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.name == "hevc"
            assert stream.time_base is not None and stream.time_base <= Fraction(1, FPS)
    assert rig.writer.stats()["errors"] == 0
