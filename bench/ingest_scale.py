"""Bench: how many 1080p25 cameras one box ingests in real time, ours against the naive way.

N cameras pull one RTSP stream each from a GStreamer server on 127.0.0.1 (real footage
scaled to 1920×1080, 25 fps, GOP 1 s, ~4 Mbit/s, H.264 without B-frames).

  ours    one demux per camera, fanned out to a stream-copy segment recorder and to an
          analysis tap that decodes keyframes only (≈1 frame/s) and converts them to BGR
  sub     as ours, but analysis reads each camera's 640×360 sub-stream (a second RTSP
          connection to the camera's second channel, as real cameras offer) (--sub-cameras)
  naive   one demux per camera, every frame decoded (as most NVRs do for detection), one
          frame per second converted to BGR; nothing recorded (so it is flattered)

With --analyze process|thread, ours and sub also run the whole analyzer stack on the sampled
frames (one service window per camera, the embedded detector batched across cameras over zone
crops, motion gate, tracker, rules) through the product's AnalysisWorker, its engine in a child
process (as `hallwatch serve` runs it) or in a thread of this process; a run is real-time only
if the analysis kept up too (it analysed ≥ 90 % of the sampled frames; the rest were replaced
by newer ones in the mailbox). CPU per camera then includes the analysis child's CPU.

For each N it runs `--seconds` after a warm-up, measures this process's CPU and the RTSP
server's CPU separately, and calls a run real-time when every camera received ≥ 95 % of the
frames it should have and no consumer queue dropped anything. It prints CPU per camera (% of
one core) and the largest real-time N for both pipelines, and the ratio of cameras per core.

usage: python bench/ingest_scale.py [--cameras 4,8,16,32,40] [--seconds 20]
                                    [--sub-cameras 16,32,40] [--analyze process|thread]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from camera_stream import camera_h264_stream  # noqa: E402

from analyzers.rules import Context  # noqa: E402
from hallwatch.analysis_process import (  # noqa: E402
    ProcessEngine,
    build_engine,
    tune_parent_interpreter,
)
from hallwatch.analysis_worker import AnalysisWorker, Engine  # noqa: E402
from hallwatch.config import Camera, Site, Window  # noqa: E402
from hallwatch.config_analysis import DetectorSettings  # noqa: E402
from hallwatch.store import Store  # noqa: E402
from ingest.packets import PacketItem, PacketQueue  # noqa: E402
from ingest.reader import CameraReader  # noqa: E402
from ingest.source import parse_source  # noqa: E402
from ingest.tap import Frame, FrameTap, decoder_for  # noqa: E402
from recordings.index import SegmentIndex  # noqa: E402
from recordings.segments import SegmentWriter  # noqa: E402
from tests.support.rtsp import RtspServer  # noqa: E402

FOOTAGE = REPO / "hallwatch" / "demo" / "one-by-one-person-detection.mp4"
FPS = 25
CLK_TCK = os.sysconf("SC_CLK_TCK")


def make_camera_clip(
    path: Path, seconds: int = 30, size: tuple[int, int] = (1920, 1080), kbps: int = 4000
) -> Path:
    """Real footage scaled to `size` at 25 fps, GOP 25, CBR `kbps`, no B-frames (cached)."""
    if path.exists():
        return path
    source = av.open(str(FOOTAGE))
    frames = [
        f.to_ndarray(format="bgr24")
        for _, f in zip(range(10 * seconds), source.decode(video=0), strict=False)
    ]
    with av.open(str(path), "w", format="mp4") as out:
        stream = camera_h264_stream(out, size, kbps, FPS)
        for index in range(FPS * seconds):
            image = np.asarray(cv2.resize(frames[index * 10 // FPS], size), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="bgr24").reformat(format="yuv420p")
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


class NaiveDecoder:
    """Decodes every frame of a camera and converts one per second, in its own thread."""

    def __init__(self, queue: PacketQueue) -> None:

        self.queue = queue
        self.converted = 0
        self._decoder: Any = None
        self._next = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.queue.close()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            item = self.queue.get(0.5)
            if not isinstance(item, PacketItem):
                continue
            if self._decoder is None:
                if not item.keyframe:
                    continue
                self._decoder = decoder_for(item.info)
            for frame in self._decoder.decode(item.packet):
                if item.media_time >= self._next:
                    frame.to_ndarray(format="bgr24")
                    self.converted += 1
                    self._next = item.media_time + 1.0


TABLE_ZONE = [(0.35, 0.6), (0.8, 0.6), (0.8, 0.98), (0.35, 0.98)]  # where people stand


def bench_site(camera_ids: list[str], threads: int) -> Site:
    """One service window per camera, its staff zone where people stand in the footage."""
    return Site(
        name="bench",
        detector=DetectorSettings(threads=threads),
        cameras=[Camera(id=c, name=c, url="bench.mp4") for c in camera_ids],
        windows=[
            Window(id=f"W{c}", name=c, department="d", camera=c, staff_zone=TABLE_ZONE)
            for c in camera_ids
        ],
    )


def analysis_worker(camera_ids: list[str], engine_kind: str, threads: int) -> AnalysisWorker:
    """The product's analysis worker over `engine_kind`: "process" (the analyzers in a child
    process, as `hallwatch serve` runs them) or "thread" (in this process)."""
    site = bench_site(camera_ids, threads)
    if engine_kind == "process":
        tune_parent_interpreter()  # as `hallwatch serve` does
    engine: Engine = (
        ProcessEngine(site, REPO) if engine_kind == "process" else build_engine(site, REPO)
    )
    return AnalysisWorker(
        engine, lambda t: Context(t, True), lambda frame, result: None, site.analysis.max_batch
    )


def skipped(worker: AnalysisWorker) -> int:
    return sum(c.skipped for c in worker.counters.values())


def stale(worker: AnalysisWorker) -> int:
    return sum(c.stale for c in worker.counters.values())


@dataclass
class Run:
    cameras: int
    cpu_per_camera: float  # % of one core
    server_cpu: float  # % of one core, whole server
    received: float  # worst camera's share of the expected frames
    dropped: int
    realtime: bool
    analysed: float | None = None  # share of sampled frames analysed (--analyze)
    skipped: float | None = None  # share of analysed frames the motion gate skipped


def own_cpu(child: int | None) -> float:
    """CPU seconds of this process, plus the analysis child's when there is one."""
    return time.process_time() + (0.0 if child is None else proc_cpu_seconds(child))


def proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def run_pipeline(
    kind: str, urls: dict[str, str], cameras: int, seconds: float, server_pid: int,
    engine: str | None = None, threads: int = 2,
) -> Run:  # fmt: skip
    workdir = Path(tempfile.mkdtemp(prefix=f"hw-bench-{kind}-"))
    store = Store(workdir / "bench.db")
    index = SegmentIndex(store, workdir / "rec")
    readers: list[CameraReader] = []
    consumers: list[Any] = []
    ids = [f"cam{n:03d}" for n in range(cameras)]
    worker = analysis_worker(ids, engine, threads) if engine and kind != "naive" else None
    for camera_id in ids:
        reader = CameraReader(camera_id, parse_source(urls["main"]))
        sub = CameraReader(camera_id, parse_source(urls["sub"])) if kind == "sub" else None
        sink = worker.sink(camera_id) if worker is not None else (lambda frame: None)
        consumers.extend(_consumers(kind, reader, sub, index, workdir, sink))
        readers.append(reader)
        if sub is not None:
            consumers.append(sub)
    if worker is not None:
        consumers.append(worker)
    for item in (*consumers, *readers):
        item.start()
    time.sleep(6)  # connect and warm up
    packets_before = [r.status().packets for r in readers]
    taps = [c for c in consumers if isinstance(c, FrameTap)]
    sampled0 = sum(t.frames_sampled for t in taps)
    analysed0 = worker.analysed if worker else 0
    skipped0 = skipped(worker) if worker else 0
    child = worker.engine.pid if worker and isinstance(worker.engine, ProcessEngine) else None
    cpu0, server0, wall0 = own_cpu(child), proc_cpu_seconds(server_pid), time.monotonic()
    child0, batches0 = proc_cpu_seconds(child) if child else 0.0, worker.batches if worker else 0
    time.sleep(seconds)
    cpu1, server1, wall1 = own_cpu(child), proc_cpu_seconds(server_pid), time.monotonic()
    child1, batches1 = proc_cpu_seconds(child) if child else 0.0, worker.batches if worker else 0
    packets_after = [r.status().packets for r in readers]
    sampled = sum(t.frames_sampled for t in taps) - sampled0
    analysed = gated = None
    if worker is not None:
        analysed = (worker.analysed - analysed0) / max(sampled, 1)
        gated = (skipped(worker) - skipped0) / max(worker.analysed - analysed0, 1)
    dropped = sum(sum(r.fanout.drops().values()) for r in readers)
    for item in (*readers, *consumers):
        item.stop()
    if worker is not None:
        replaced = sum(worker.mailbox.dropped.values())
        worker.engine.close()
        errors = sum(worker.errors.values())
        span = wall1 - wall0
        print(f"  analysis: {worker.analysed} analysed, {stale(worker)} stale,"
              f" {errors} errors, {replaced} replaced by newer frames;"
              f" {(batches1 - batches0) / span:.1f} batches/s"
              + (f", child process {100 * (child1 - child0) / span:.0f}% of a core"
                 if child else ""))  # fmt: skip
    store.close()
    elapsed = wall1 - wall0
    worst = min(b - a for a, b in zip(packets_before, packets_after, strict=True))
    received = worst / (FPS * elapsed)
    kept_up = analysed is None or analysed >= 0.9
    return Run(cameras, 100 * (cpu1 - cpu0) / elapsed / cameras,
               100 * (server1 - server0) / elapsed, received, dropped,
               received >= 0.95 and dropped == 0 and kept_up, analysed, gated)  # fmt: skip


def _consumers(
    kind: str,
    reader: CameraReader,
    sub: CameraReader | None,
    index: SegmentIndex,
    workdir: Path,
    sink: Callable[[Frame], None],
) -> list[Any]:
    if kind == "naive":
        return [NaiveDecoder(reader.fanout.subscribe("naive", 256))]
    recorder = reader.fanout.subscribe("recorder", 2048)
    analysed = sub or reader  # "sub": analysis on the 640×360 sub-stream, as cameras offer
    analysis = analysed.fanout.subscribe("analysis", 64, keyframes_only=True)
    return [
        SegmentWriter(reader.camera_id, recorder, index, workdir / "rec", segment_s=10),
        FrameTap(reader.camera_id, analysis, sink),
    ]


def sweep(kind: str, urls: dict[str, str], counts: list[int], seconds: float, pid: int,
          report: Callable[[str], None], engine: str | None = None,
          threads: int = 2) -> Run | None:  # fmt: skip
    best = None
    for cameras in counts:
        run = run_pipeline(kind, urls, cameras, seconds, pid, engine, threads)
        verdict = "real-time" if run.realtime else "NOT real-time"
        if run.analysed is not None and run.skipped is not None:
            verdict += (f"  analysed {100 * run.analysed:.0f}% of sampled frames,"
                        f" motion gate skipped {100 * run.skipped:.0f}%")  # fmt: skip
        report(f"{kind:5s} N={run.cameras:3d}  {run.cpu_per_camera:5.2f}% of a core per camera"
               f"  server {run.server_cpu:5.1f}%  worst camera got {100 * run.received:5.1f}%"
               f"  dropped {run.dropped}  {verdict}")  # fmt: skip
        if not run.realtime:
            break
        best = run
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", default="4,8,16,24,32,40,48")
    parser.add_argument("--sub-cameras", default="", help="also with sub-streams, e.g. 32,48")
    parser.add_argument("--naive-cameras", default="2,4,6,8,10,12,16")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--analyze", choices=["process", "thread"], default=None,
                        help="run the analyzer stack too: in a child process (as the product"
                        " does) or in a thread of this process (the way before)")  # fmt: skip
    parser.add_argument("--threads", type=int, default=DetectorSettings().threads,
                        help="detector.threads (onnxruntime intra-op threads)")  # fmt: skip
    args = parser.parse_args()
    tmp = Path(tempfile.gettempdir())
    clip = make_camera_clip(tmp / "hallwatch-bench-1080p25.mp4")
    sub_clip = make_camera_clip(tmp / "hallwatch-bench-360p25.mp4", size=(640, 360), kbps=512)
    with av.open(str(clip)) as probe:
        stream = probe.streams.video[0]
        rate = (probe.size * 8) / ((probe.duration or 1) / 1e6)
        print(f"camera stream: {stream.width}x{stream.height} {stream.average_rate} fps,"
              f" {rate / 1e6:.1f} Mbit/s, {os.cpu_count()} cores")  # fmt: skip
    results: dict[str, Run | None] = {}
    with RtspServer({"/cam": clip, "/sub": sub_clip}) as server:
        assert server._proc is not None
        pid = server._proc.pid
        urls = {"main": server.url("/cam"), "sub": server.url("/sub")}
        for kind, counts in (("ours", args.cameras), ("sub", args.sub_cameras),
                             ("naive", args.naive_cameras)):  # fmt: skip
            if counts:
                numbers = [int(n) for n in counts.split(",")]
                results[kind] = sweep(
                    kind, urls, numbers, args.seconds, pid, print, args.analyze, args.threads
                )
    summarise(results)


def summarise(results: dict[str, Run | None]) -> None:
    naive = results.get("naive")
    if naive is None:
        return
    for kind in ("ours", "sub"):
        run = results.get(kind)
        if run is None:
            continue
        per_core, naive_per_core = 100 / run.cpu_per_camera, 100 / naive.cpu_per_camera
        print(
            f"{kind}: largest real-time N {run.cameras} vs naive {naive.cameras}"
            f" ({run.cameras / naive.cameras:.1f}x); cameras per core (this process)"
            f" {per_core:.0f} vs {naive_per_core:.0f} ({per_core / naive_per_core:.1f}x)"
        )


if __name__ == "__main__":
    main()
