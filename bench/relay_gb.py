"""Bench: CPU per GB/T 28181 stream (PS over RTP/UDP from the shared reader), ours against naive.

A GStreamer RTSP server on 127.0.0.1 serves a 1080p25 H.264 camera stream (real footage scaled
to 1920×1080, ~4 Mbit/s, GOP 1 s, no B-frames); one camera reader per stream pulls it (demux
only) and fans its packets out. Each relayed stream is then sent as MPEG-PS over RTP/UDP to a
receiver in a child process that just drains its sockets.

  ours    relay.gb.media.GbMediaSession: our PS packer (relay.gb.ps) + RTP packetizer
          (relay.gb.rtp), one thread per session, packets sent from a bound UDP socket
  naive   libavformat's `mpeg` muxer through PyAV into memory (stream copy, no re-encoding),
          its output cut into RTP packets (the same packetizer and socket), one thread per
          stream. Its PS has no program stream map ("PSM NO" in the report), which
          GB platforms rely on to know the codec (GStreamer's mpegpsdemux finds no video in it).

The figure is the CPU of the sending threads only (per-thread CPU clock, user + system, so the
UDP sends' kernel time counts), over `seconds` after a warm-up, as % of one core per stream; the
CPU of the camera readers feeding them (RTSP demux, shared with recording and live view) is
printed beside it. Runs 1 and 4 streams (4 cameras, 4 sessions) for each path.

Both paths send the same RTP packets through the same socket calls, and on loopback those sends
cost most of the figure; so it also times the packing alone (no sockets): every access unit of
the clip turned into RTP packets in memory, ours vs the `mpeg` muxer, as % of one core for a
25 fps stream.

usage: python bench/relay_gb.py [--seconds 10] [--streams 1,4]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

import av

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from camera_stream import camera_h264_stream  # noqa: E402

from hallwatch.config_relay import GbChannel  # noqa: E402
from ingest.annexb import AnnexB  # noqa: E402
from ingest.packets import FanOut, PacketItem, PacketQueue  # noqa: E402
from ingest.reader import CameraReader  # noqa: E402
from ingest.source import parse_source  # noqa: E402
from relay.gb.media import GbMediaFactory, MediaTuning  # noqa: E402
from relay.gb.media_api import MediaOffer  # noqa: E402
from relay.gb.ps import ps_frame  # noqa: E402
from relay.gb.rtp import RtpPacketizer, UdpSender  # noqa: E402
from tests.support.rtsp import RtspServer  # noqa: E402

FOOTAGE = REPO / "hallwatch" / "demo" / "one-by-one-person-detection.mp4"
SHARED_CLIP = Path(tempfile.gettempdir()) / "hallwatch-bench-1080p25.mp4"  # bench/ingest_scale.py
OWN_CLIP = Path(tempfile.gettempdir()) / "hallwatch-bench-relay-1080p25.mp4"
FPS = 25
HOST = "127.0.0.1"
SSRC = "0100000001"

DRAIN = r"""
import select, socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks), flush=True)
counts = {s: 0 for s in socks}
while True:
    ready, _, _ = select.select(socks + [sys.stdin], [], [])
    if sys.stdin in ready and not sys.stdin.readline():
        break
    for s in ready:
        if s is not sys.stdin:
            s.recv(65536)
            counts[s] += 1
"""


def camera_clip() -> Path:
    """The 1080p25 ~4 Mbit/s clip bench/ingest_scale.py caches, or our own 12 s one."""
    if SHARED_CLIP.exists():
        return SHARED_CLIP
    if OWN_CLIP.exists():
        return OWN_CLIP
    kbps = 4000
    with av.open(str(FOOTAGE)) as source, av.open(str(OWN_CLIP), "w", format="mp4") as out:
        stream = camera_h264_stream(out, (1920, 1080), kbps, FPS)
        index = 0
        for shown, frame in enumerate(source.decode(video=0)):  # 10 fps footage: 2.5× each
            scaled = frame.reformat(width=1920, height=1080, format="yuv420p")
            while index * 10 < (shown + 1) * FPS and index < 12 * FPS:
                copy = av.VideoFrame.from_ndarray(scaled.to_ndarray(), format="yuv420p")
                copy.pts = index
                out.mux(stream.encode(copy))
                index += 1
            if index >= 12 * FPS:
                break
        out.mux(stream.encode(None))
    return OWN_CLIP


# --- the naive path ----------------------------------------------------------------------------


class _Sink:
    """A write-only file object that keeps what the muxer wrote since the last take()."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.total = 0

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self.chunks.append(chunk)
        self.total += len(chunk)
        return len(chunk)

    def take(self) -> bytes:
        data = b"".join(self.chunks)
        self.chunks.clear()
        return data


class MpegMuxerSession:
    """libavformat's `mpeg` muxer via PyAV to memory, cut into RTP and sent over UDP."""

    def __init__(self, fanout: FanOut, remote: tuple[str, int], name: str) -> None:
        self.name = name
        self.frames = 0
        self.has_psm = False
        self._fanout = fanout
        self._queue: PacketQueue = fanout.subscribe(name, 128)
        self._sender = UdpSender(HOST, remote)
        self._packetizer = RtpPacketizer(96, int(SSRC))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._sender.connect(1.0)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._fanout.unsubscribe(self._queue)
        self._thread.join(5)
        self._sender.close()

    def stats(self) -> dict[str, Any]:
        return {"frames": self.frames, "dropped": self._queue.dropped}

    def _run(self) -> None:
        sink = _Sink()
        out: Any = None
        stream: Any = None
        annexb: AnnexB | None = None
        while not self._stop.is_set():
            item = self._queue.get(0.5)
            if not isinstance(item, PacketItem):
                continue
            if out is None:
                if not item.keyframe:
                    continue
                out = av.open(sink, "w", format="mpeg")
                stream = out.add_stream_from_template(item.info.template)
                annexb = AnnexB(item.info.template, item.info.extradata)
            assert annexb is not None
            packet = av.Packet(annexb.convert(item.packet, item.keyframe))
            packet.pts = packet.dts = round(item.media_time * 90_000)
            packet.time_base = Fraction(1, 90_000)
            packet.stream = stream
            out.mux(packet)
            data = sink.take()
            if data:
                self.has_psm = self.has_psm or b"\x00\x00\x01\xbc" in data
                packets = self._packetizer.packets(data, round(item.media_time * 90_000))
                self._sender.send(packets)
            self.frames += 1
        if out is not None:
            out.close()


# --- measuring ---------------------------------------------------------------------------------


class Session(Protocol):
    def stop(self) -> None: ...
    def stats(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class GbRun:
    path: str  # "ours" or "naive"
    streams: int
    thread_cpu: float  # % of one core per stream: the sending threads
    reader_cpu: float  # % of one core per stream: the camera readers' threads (RTSP demux)
    fps: float  # frames sent per second per stream
    dropped: int
    psm: bool  # whether the PS carries a program stream map


def _thread_cpu(names: set[str]) -> float:
    """CPU seconds (user + system) of this process's threads with these names."""
    total = 0.0
    for thread in threading.enumerate():
        if thread.name in names and thread.ident is not None:
            total += time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
    return total


def measure_gb(
    fanouts: list[FanOut], ports: list[int], path: str, seconds: float, warmup: float = 3.0
) -> GbRun:
    """CPU per stream of `path` ("ours"/"naive") sending each fan-out's camera to a port."""
    sessions: list[Session] = []
    names: set[str] = set()
    readers = {f"reader-{index}" for index in range(len(fanouts))}
    factory = GbMediaFactory(lambda camera, stream: fanouts[int(camera)], MediaTuning())
    for index, (fanout, port) in enumerate(zip(fanouts, ports, strict=True)):
        channel_id = f"3402000000132{index:07d}"
        if path == "ours":
            offer = MediaOffer("Play", HOST, port, "udp", None, 96, SSRC, channel_id)
            ours = factory.open(GbChannel(camera=str(index), channel_id=channel_id), offer, HOST)
            ours.start()
            sessions.append(ours)
            names.add(f"gb-media-{channel_id}")
        else:
            naive = MpegMuxerSession(fanout, (HOST, port), f"gb-naive-{index}")
            naive.start()
            sessions.append(naive)
            names.add(naive.name)
    time.sleep(warmup)
    frames0 = sum(s.stats()["frames"] for s in sessions)
    cpu0, read0, wall0 = _thread_cpu(names), _thread_cpu(readers), time.monotonic()
    time.sleep(seconds)
    cpu1, read1, wall1 = _thread_cpu(names), _thread_cpu(readers), time.monotonic()
    frames1 = sum(s.stats()["frames"] for s in sessions)
    dropped = sum(s.stats()["dropped"] for s in sessions)
    psm = all(getattr(s, "has_psm", True) for s in sessions)
    for session in sessions:
        session.stop()
    span, n = wall1 - wall0, len(sessions)
    return GbRun(path, n, 100 * (cpu1 - cpu0) / span / n, 100 * (read1 - read0) / span / n,
                 (frames1 - frames0) / span / n, dropped, psm)  # fmt: skip


def clip_access_units(clip: Path, frames: int) -> list[tuple[bytes, bool, int]]:
    """(Annex-B access unit, keyframe, 90 kHz pts) of the clip's first `frames` packets."""
    units: list[tuple[bytes, bool, int]] = []
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        annexb = AnnexB(stream, bytes(stream.codec_context.extradata or b""))
        assert stream.time_base is not None
        for packet in container.demux(stream):
            if packet.size and packet.pts is not None and len(units) < frames:
                pts = round(packet.pts * stream.time_base * 90_000)
                units.append((annexb.convert(packet, packet.is_keyframe), packet.is_keyframe, pts))
    return units


def measure_packing(clip: Path, frames: int = 250) -> dict[str, float]:
    """% of one core per 25 fps stream for packing alone (PS + RTP packets in memory)."""
    units = clip_access_units(clip, frames)
    packetizer = RtpPacketizer(96, int(SSRC))
    started = time.thread_time()
    for data, keyframe, pts in units:
        packetizer.packets(ps_frame(data, pts, keyframe=keyframe), pts)
    ours = time.thread_time() - started
    sink = _Sink()
    started = time.thread_time()
    with av.open(sink, "w", format="mpeg") as out:
        stream = out.add_stream("h264", rate=FPS)
        stream.time_base = Fraction(1, 90_000)
        for data, _, pts in units:
            packet = av.Packet(data)
            packet.pts = packet.dts = pts
            packet.time_base = Fraction(1, 90_000)
            packet.stream = stream
            out.mux(packet)
            written = sink.take()
            if written:
                packetizer.packets(written, pts)
    naive = time.thread_time() - started
    scale = 100 * FPS / len(units)
    return {"ours": ours * scale, "naive": naive * scale}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--streams", default="1,4")
    args = parser.parse_args()
    counts = [int(n) for n in args.streams.split(",")]
    clip = camera_clip()
    with av.open(str(clip)) as probe:
        video = probe.streams.video[0]
        rate = (probe.size * 8) / ((probe.duration or 1) / 1e6)
        print(f"camera stream: {video.width}x{video.height} {video.average_rate} fps,"
              f" {rate / 1e6:.1f} Mbit/s; {os.cpu_count()} cores")  # fmt: skip
    drain = subprocess.Popen(
        [sys.executable, "-c", DRAIN, str(max(counts))],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert drain.stdout is not None and drain.stdin is not None
    ports = [int(p) for p in drain.stdout.readline().split()]
    results: dict[tuple[str, int], GbRun] = {}
    try:
        with RtspServer({"/cam": clip}) as server:
            readers = [CameraReader(str(i), parse_source(server.url("/cam")))
                       for i in range(max(counts))]  # fmt: skip
            for reader in readers:
                reader.start()
            deadline = time.monotonic() + 20
            while not all(r.status().online for r in readers) and time.monotonic() < deadline:
                time.sleep(0.2)
            fanouts = [r.fanout for r in readers]
            for n in counts:
                for path in ("ours", "naive"):
                    run = measure_gb(fanouts[:n], ports[:n], path, args.seconds)
                    results[(path, n)] = run
                    print(f"{path:5s} N={n}  {run.thread_cpu:5.2f}% of a core per stream"
                          f" (sending thread; its reader {run.reader_cpu:4.2f}%)"
                          f"  {run.fps:4.1f} fps  dropped {run.dropped}"
                          f"  PSM {'yes' if run.psm else 'NO'}")  # fmt: skip
            for reader in readers:
                reader.stop()
        packing = measure_packing(clip)
        print(f"packing alone (no sockets): ours {packing['ours']:.3f}% vs mpeg muxer"
              f" {packing['naive']:.3f}% of a core per 25 fps stream")  # fmt: skip
    finally:
        drain.stdin.close()
        drain.wait(10)
    for n in counts:
        ours, naive = results[("ours", n)], results[("naive", n)]
        print(f"N={n}: ours {ours.thread_cpu:.2f}% vs naive {naive.thread_cpu:.2f}% of a core per"
              f" stream (naive/ours {naive.thread_cpu / max(ours.thread_cpu, 1e-9):.2f});"
              f" goal < 1%: {'met' if ours.thread_cpu < 1 else 'NOT met'}")  # fmt: skip


if __name__ == "__main__":
    main()
