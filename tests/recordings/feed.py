"""Recorder test helpers: PacketItems demuxed like the camera reader publishes them, decoding."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av

from ingest.packets import PacketItem, PacketQueue, SessionEnded, StreamInfo, detached_template
from recordings.index import Segment, SegmentIndex
from recordings.segments import FRAGMENTED_MP4_OPTIONS, SegmentWriter
from tests.support.clips import read_frame_counter

WALL_BASE = 1_760_000_000.0  # 2025-10-09T08:53:20Z: deterministic wall clock for segment names


def demux_items(
    source: str,
    *,
    camera: str = "cam",
    session: int = 1,
    media_offset: float = 0.0,
    wall_base: float | None = WALL_BASE,
    realtime: bool = False,
) -> Iterator[PacketItem]:
    """Every video packet of `source` (file or rtsp:// URL) as the reader would publish it.

    wall_time is `wall_base + media_time` (deterministic), or the real clock when None.
    `realtime` paces a file at its own speed, like a live camera.
    """
    options = {"rtsp_transport": "tcp"} if source.startswith("rtsp://") else {}
    with av.open(source, options=options) as container:
        stream = container.streams.video[0]
        ctx, time_base = stream.codec_context, stream.time_base
        assert time_base is not None
        info = StreamInfo(camera, session, ctx.name, ctx.width, ctx.height, time_base,
                          detached_template(stream), bytes(ctx.extradata or b""), time.time())  # fmt: skip
        first: int | None = None
        media = media_offset - 0.1
        started = time.monotonic()
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            if packet.pts is not None:
                first = packet.pts if first is None else first
                media = media_offset + float((packet.pts - first) * time_base)
            else:
                media += 0.1
            if realtime:
                time.sleep(max(0.0, started + media - media_offset - time.monotonic()))
            wall = time.time() if wall_base is None else wall_base + media
            yield PacketItem(info, packet, media, wall, bool(packet.is_keyframe))


def session_end(item: PacketItem, reason: str = "camera dropped") -> SessionEnded:
    return SessionEnded(item.info, item.wall_time + 0.1, reason)


@dataclass
class Recorded:
    writer: SegmentWriter
    index: SegmentIndex
    segments: list[Segment]


def record(
    items: list[PacketItem | SessionEnded],
    index: SegmentIndex,
    segment_s: float,
    camera: str = "cam",
) -> Recorded:
    """Run a SegmentWriter on a real PacketQueue holding `items`, then stop it."""
    queue = PacketQueue("recorder", 100_000)
    closed: list[Segment] = []
    writer = SegmentWriter(camera, queue, index, index.root, segment_s=segment_s,
                           on_closed=closed.append)  # fmt: skip
    writer.start()
    for item in items:
        queue.offer(item)
    writer.stop()
    assert closed == index.all_closed(camera)
    return Recorded(writer, index, closed)


@dataclass(frozen=True)
class Decoded:
    counters: list[int]  # frame numbers drawn by make_clip, in presentation order
    keyframes: list[bool]
    error: str | None  # what ended decoding early (a torn tail), if anything


def decode_all(path: Path) -> Decoded:
    counters: list[int] = []
    keyframes: list[bool] = []
    error = None
    with av.open(str(path)) as container:
        try:
            for frame in container.decode(video=0):
                counters.append(read_frame_counter(frame.to_ndarray(format="rgb24")))
                keyframes.append(bool(frame.key_frame))
        except av.error.FFmpegError as exc:
            error = f"{type(exc).__name__}: {exc}"
    return Decoded(counters, keyframes, error)


def remux_fragmented(source: Path, target: Path) -> Path:
    """`source` stream-copied into fragmented MP4 the way the writer writes it."""
    with av.open(str(source)) as inp, av.open(str(target), "w", format="mp4",
                                               options=dict(FRAGMENTED_MP4_OPTIONS)) as out:  # fmt: skip
        stream = inp.streams.video[0]
        out_stream = out.add_stream_from_template(stream)
        for packet in inp.demux(stream):
            if packet.size:
                packet.stream = out_stream
                out.mux(packet)
    return target
