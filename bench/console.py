"""Bench: the console's live view and its event API, in one run.

Live view. A GStreamer RTSP server on 127.0.0.1 serves one camera: 1920×1080, 25 fps, H.264
Main profile without B-frames, GOP 1 s, ~4 Mbit/s CBR (the packaged footage scaled up, with
light per-frame sensor noise so no two frames are alike; made once into the temp folder). The
sender is the real console in a child process: create_app, a CameraReader pulling the RTSP
stream, the live routes, LiveHub and CameraFeed. Receivers are aiortc peers in another child
process: they log in, POST their offer to /api/live/{camera}/offer, and decode what arrives.
Two paths, each in a fresh sender:

  passthrough  the console as it is: PacketTrack hands the camera's access units to aiortc,
               whose H.264 encoder only packetizes them
  vp8          the same console with its track swapped for one that decodes the camera's
               packets (a decoder per viewer) and returns frames, and VP8 preferred: aiortc
               encodes VP8 for each viewer with its default encoder settings

For each path the sender's CPU time (/proc/<pid>/stat) is read with no viewer (the baseline:
the RTSP pull and the idle app), then with N viewers for S seconds; the cost per viewer-stream
is (CPU with viewers - baseline) / N, in % of one core. Receivers report the frames they decoded
per second, RTP packets lost and decode errors, and the sender the packets it dropped for
viewers that fell behind, so that a broken path cannot look cheap. Time to first frame: after
the passthrough measurement, fresh viewers join the running feed one after another, timed from
POSTing the offer to the first decoded frame.

Event API. The real console in a child process (uvicorn on 127.0.0.1, a Store in a temp folder
holding --events events, some acknowledged or judged) and C asyncio httpx clients in this
process sharing one login, each requesting GET /api/events?limit=50 with varied filters and
offsets, for S seconds after a warm-up, in two phases: about 1 s apart (±50%, like 200 consoles
polling) and back to back (saturation; --think picks one): requests/s, p50, p95, p99, and the
CPU of the server and of this load generator.

Goals (issue #6): passthrough <= 4% of a core per 1080p viewer-stream and >= 15x cheaper than
re-encoding in the same run; first frame < 1.5 s; API p95 < 50 ms. A missed goal is reported,
not an error; the exit status is non-zero only when something failed (no frames, HTTP errors).

usage: python bench/console.py [--viewers 2] [--seconds 20] [--baseline 10] [--joins 5]
                               [--clients 200] [--events 10000] [--think S]
                               [--skip-cpu] [--skip-api]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import multiprocessing
import os
import random
import ssl
import statistics
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpCodecCapability,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from camera_stream import camera_h264_stream  # noqa: E402

from console.app import create_app  # noqa: E402
from console.auth import Role, ensure_user  # noqa: E402
from console.live import hub as live_hub  # noqa: E402
from console.live.feed import ViewerQueue  # noqa: E402
from console.live.ice import restrict_ice  # noqa: E402
from console.live.track import PacketTrack  # noqa: E402
from hallwatch import reviews  # noqa: E402
from hallwatch.config import Site  # noqa: E402
from hallwatch.config_edit import ApplyResult  # noqa: E402
from hallwatch.events import EventType  # noqa: E402
from hallwatch.live import LiveView  # noqa: E402
from hallwatch.store import Store  # noqa: E402
from ingest.packets import FanOut  # noqa: E402
from tests.console.live.rig import readers, running  # noqa: E402
from tests.support.rtsp import RtspServer  # noqa: E402

FOOTAGE = REPO / "hallwatch" / "demo" / "one-by-one-person-detection.mp4"  # 768×432, 10 fps
FPS = 25
SIZE = (1920, 1080)
KBPS = 4000
CLIP_SECONDS = 20
CAMERA = "cam01"
USER, PASSWORD = "bench-operator", "bench-password-1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
CHILD_TIMEOUT = 90.0  # seconds a child may take to answer (start, connect, count)
FIRST_FRAME_TIMEOUT = 20.0
WARMUP_S = 3.0  # after the reader connects, and after the viewers' first frames
GOALS = {"passthrough %": 4.0, "ratio": 15.0, "first frame s": 1.5, "p95 ms": 50.0}


class BenchError(Exception):
    """Something failed (not a missed goal): the bench exits non-zero."""


# --- the camera clip ---------------------------------------------------------------------------


def make_camera_clip(path: Path, seconds: int = CLIP_SECONDS) -> Path:
    """The packaged footage at 1920×1080, 25 fps (each 10 fps picture shown 2-3 times, each
    with its own light noise, as a camera sensor gives), GOP 25, CBR `KBPS`, no B-frames."""
    if path.exists():
        return path
    width, height = SIZE
    noise_rng = np.random.default_rng(6)
    noise = [noise_rng.integers(-3, 4, (height * 3 // 2, width), dtype=np.int16) for _ in range(7)]
    part = path.with_name(path.name + ".part")
    with av.open(str(FOOTAGE)) as source, av.open(str(part), "w", format="mp4") as out:
        stream = camera_h264_stream(out, (width, height), KBPS, FPS)
        pictures = source.decode(video=0)
        shown, picture = -1, None
        for index in range(FPS * seconds):
            while shown < index * 10 // FPS:
                scaled = next(pictures).reformat(width=width, height=height, format="yuv420p")
                picture, shown = scaled.to_ndarray().astype(np.int16), shown + 1
            assert picture is not None
            noisy = np.clip(picture + noise[index % len(noise)], 0, 255).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(noisy, format="yuv420p")
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    part.rename(path)
    return path


def describe_clip(path: Path) -> str:
    with av.open(str(path)) as probe:
        stream = probe.streams.video[0]
        rate = probe.size * 8 / ((probe.duration or 1) / 1e6)
        return (f"{stream.width}x{stream.height} {stream.average_rate} fps"
                f" {stream.codec_context.profile} {rate / 1e6:.1f} Mbit/s")  # fmt: skip


# --- child processes: plumbing -----------------------------------------------------------------


def child(target: Callable[..., None], *args: Any) -> tuple[Any, Connection]:
    """Start `target(conn, *args)` in a fresh (spawned) process; returns it and our end."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=_guarded, args=(target, theirs, *args), daemon=True)
    process.start()
    theirs.close()
    return process, ours


def _guarded(target: Callable[..., None], conn: Connection, *args: Any) -> None:
    logging.basicConfig(level=logging.WARNING, format="  [child %(name)s] %(message)s")
    for noisy in ("aioice", "aiortc", "console.live"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    try:
        target(conn, *args)
    except Exception:
        conn.send(("error", traceback.format_exc()))


def expect(conn: Connection, kind: str, process: Any, timeout: float = CHILD_TIMEOUT) -> Any:
    """The next message from a child, which must be `kind`; its payload."""
    deadline = time.monotonic() + timeout
    while not conn.poll(0.2):
        if not process.is_alive():
            raise BenchError(f"a child process died (exit status {process.exitcode})")
        if time.monotonic() > deadline:
            raise BenchError(f"a child process did not say '{kind}' within {timeout:.0f} s")
    got, payload = conn.recv()
    if got == "error":
        raise BenchError(f"a child process failed:\n{payload}")
    if got != kind:
        raise BenchError(f"a child process said '{got}' instead of '{kind}'")
    return payload


def finish(process: Any, conn: Connection) -> None:
    """Tell a child to end, and wait for it (terminated after 20 s)."""
    with contextlib.suppress(OSError):  # it may be gone already
        conn.send(("stop", None))
    process.join(20)
    if process.is_alive():
        process.terminate()
        process.join(5)
    conn.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (from /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


# --- the sender: the real console, optionally re-encoding --------------------------------------


class DecodeClock:
    """CPU seconds the re-encoding path spent decoding, all viewers together."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._lock = threading.Lock()

    def add(self, seconds: float) -> None:
        with self._lock:
            self.seconds += seconds


DECODING = DecodeClock()


class DecodingTrack(PacketTrack):
    """The re-encoding path: decodes its viewer's packets and returns frames, so aiortc encodes
    them (VP8 here) for this viewer alone."""

    def __init__(self, viewer: ViewerQueue) -> None:
        super().__init__(viewer)
        self._decoder = av.CodecContext.create("h264", "r")
        self._decoder.thread_count = 1

    async def recv(self) -> Any:
        while True:
            packet = await super().recv()
            frame = await asyncio.to_thread(self._decode, packet)
            if frame is not None:
                return frame

    def _decode(self, shared: Any) -> Any:
        packet = av.Packet(bytes(shared))  # the feed's packet is shared by every viewer
        packet.pts, packet.time_base = shared.pts, shared.time_base
        started = time.thread_time()
        try:
            frames = self._decoder.decode(packet)
        except av.error.FFmpegError:
            frames = []
        DECODING.add(time.thread_time() - started)
        if not frames:
            return None
        frame = frames[-1]
        frame.pts, frame.time_base = packet.pts, packet.time_base
        return frame


def vp8_codecs() -> list[RTCRtpCodecCapability]:
    capabilities = RTCRtpSender.getCapabilities("video")
    return [codec for codec in capabilities.codecs if codec.mimeType.lower() == "video/vp8"]


def reencode_with_vp8() -> None:
    """Make this process's console answer offers with DecodingTrack and VP8."""
    vars(live_hub)["PacketTrack"] = DecodingTrack  # the name LiveHub.open looks up
    live_hub.h264_codecs = vp8_codecs


def live_site(url: str) -> Site:
    return Site.model_validate({
        "name": "bench", "halls": [{"id": "H1", "name": "一楼"}],
        "cameras": [{"id": CAMERA, "name": "一号", "url": url, "hall": "H1"}],
        "live": {"max_viewers_per_camera": 256},
    })  # fmt: skip


def sender_main(conn: Connection, url: str, path: str, workdir: str) -> None:
    """The console with one camera pulling `url`; answers 'decode' until told to stop."""
    if path == "vp8":
        reencode_with_vp8()
    store = Store(Path(workdir) / f"live-{path}.db")
    ensure_user(store, USER, Role.OPERATOR, PASSWORD)
    with readers({CAMERA: {"main": url}}, Path(workdir)) as source:
        reader = source.readers[CAMERA]["main"]
        deadline = time.monotonic() + 30
        while not reader.status().online:
            if time.monotonic() > deadline:
                raise BenchError(f"the sender's reader did not connect to {url}")
            time.sleep(0.1)
        with running(create_app(live_site(url), store, source)) as base:
            conn.send(("ready", base))
            while conn.recv()[0] == "decode":
                conn.send(("decode", DECODING.seconds))
    store.close()


# --- the receivers: aiortc peers in their own process ------------------------------------------


class DecodeErrors(logging.Handler):
    """Counts aiortc's 'failed to decode' warnings in this process."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "failed to decode" in record.getMessage():
            self.count += 1

    @classmethod
    def install(cls) -> DecodeErrors:
        handler = cls()
        logger = logging.getLogger("aiortc.rtcrtpreceiver")
        logger.setLevel(logging.WARNING)
        logger.propagate = False
        logger.addHandler(handler)
        return handler


@dataclass(eq=False)
class Peer:
    pc: RTCPeerConnection
    session_id: str
    offered: float  # monotonic time the offer was POSTed
    frames: int = 0
    first_frame_s: float | None = None
    sizes: set[tuple[int, int]] = field(default_factory=set)
    first: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


async def log_in(http: httpx.AsyncClient) -> None:
    answer = await http.post("/api/login", json={"username": USER, "password": PASSWORD})
    if answer.status_code != 200:
        raise BenchError(f"login failed: {answer.status_code} {answer.text}")
    token = http.cookies.get("hw_csrf")
    if token:
        http.headers["X-CSRF-Token"] = token


async def open_peer(http: httpx.AsyncClient) -> Peer:
    """A receiving peer connected to the camera, decoding in the background."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("video", direction="recvonly")
    tracks: asyncio.Queue[Any] = asyncio.Queue()
    pc.on("track", tracks.put_nowait)
    await pc.setLocalDescription(await pc.createOffer())
    offered = time.monotonic()
    offer = {"sdp": pc.localDescription.sdp, "type": pc.localDescription.type}
    answer = await http.post(f"/api/live/{CAMERA}/offer", json=offer)
    if answer.status_code != 200:
        await pc.close()
        raise BenchError(f"offer refused: {answer.status_code} {answer.text}")
    body = answer.json()
    await pc.setRemoteDescription(RTCSessionDescription(sdp=body["sdp"], type=body["type"]))
    peer = Peer(pc, body["session_id"], offered)
    track = await asyncio.wait_for(tracks.get(), FIRST_FRAME_TIMEOUT)
    peer.task = asyncio.ensure_future(_count_frames(track, peer))
    return peer


async def _count_frames(track: Any, peer: Peer) -> None:
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        peer.frames += 1
        peer.sizes.add((frame.width, frame.height))
        if peer.first_frame_s is None:
            peer.first_frame_s = time.monotonic() - peer.offered
            peer.first.set()


async def close_peer(http: httpx.AsyncClient, peer: Peer) -> None:
    await http.delete(f"/api/live/sessions/{peer.session_id}")
    if peer.task is not None:
        peer.task.cancel()
    await peer.pc.close()


async def rtp_counts(peer: Peer) -> tuple[int, int]:
    """(RTP packets received, RTP packets lost) so far."""
    received = lost = 0
    for stats in (await peer.pc.getStats()).values():
        if stats.type == "inbound-rtp":
            received += stats.packetsReceived
            lost += stats.packetsLost
    return received, lost


@dataclass(frozen=True)
class Snapshot:
    at: float
    frames: list[int]  # decoded by each peer
    rtp: list[tuple[int, int]]  # (received, lost) by each peer
    decode_errors: int
    sent: list[int]  # packets each peer's session handed to aiortc (the sender's count)
    dropped: int  # packets the sender dropped for these sessions (they fell behind)


async def snapshot(http: httpx.AsyncClient, peers: list[Peer], errors: DecodeErrors) -> Snapshot:
    rtp = [await rtp_counts(peer) for peer in peers]
    sessions = {s["session_id"]: s for s in (await http.get("/api/live/sessions")).json()}
    mine = [sessions[peer.session_id] for peer in peers]
    return Snapshot(time.monotonic(), [p.frames for p in peers], rtp, errors.count,
                    [s["packets_sent"] for s in mine], sum(s["dropped"] for s in mine))  # fmt: skip


def counted(start: Snapshot, end: Snapshot, peers: list[Peer]) -> dict[str, Any]:
    """What the receivers got between two snapshots, and what the sender sent them."""
    elapsed = end.at - start.at
    return {
        "fps": [(b - a) / elapsed for a, b in zip(start.frames, end.frames, strict=True)],
        "sent_fps": [(b - a) / elapsed for a, b in zip(start.sent, end.sent, strict=True)],
        "rtp_received": sum(b[0] - a[0] for a, b in zip(start.rtp, end.rtp, strict=True)),
        "rtp_lost": sum(b[1] - a[1] for a, b in zip(start.rtp, end.rtp, strict=True)),
        "decode_errors": end.decode_errors - start.decode_errors,
        "sizes": sorted({size for peer in peers for size in peer.sizes}),
        "sender_dropped": end.dropped - start.dropped,
    }


async def from_parent(conn: Connection, kind: str) -> None:
    got, _ = await asyncio.to_thread(conn.recv)
    if got != kind:
        raise BenchError(f"receivers expected '{kind}', got '{got}'")


def receivers_main(conn: Connection, base: str, viewers: int, joins: int) -> None:
    asyncio.run(_receive(conn, base, viewers, joins))


async def _receive(conn: Connection, base: str, viewers: int, joins: int) -> None:
    """Connect `viewers` peers; count frames between 'start' and 'stop'; then time `joins`
    fresh viewers joining one after another."""
    restrict_ice([])  # host candidates on 127.0.0.1, as the console offers
    errors = DecodeErrors.install()
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        await log_in(http)
        peers: list[Peer] = []
        try:
            for _ in range(viewers):
                peers.append(await open_peer(http))
            for peer in peers:
                await asyncio.wait_for(peer.first.wait(), FIRST_FRAME_TIMEOUT)
            conn.send(("ready", [peer.first_frame_s for peer in peers]))
            await from_parent(conn, "start")
            start = await snapshot(http, peers, errors)
            conn.send(("started", None))
            await from_parent(conn, "count")
            end = await snapshot(http, peers, errors)
            conn.send(("counted", counted(start, end, peers)))
            conn.send(("joined", [await join(http) for _ in range(joins)]))
            await from_parent(conn, "stop")
        finally:
            for peer in peers:
                await close_peer(http, peer)


async def join(http: httpx.AsyncClient) -> float:
    """Seconds from a fresh viewer's offer to its first decoded frame."""
    peer = await open_peer(http)
    try:
        await asyncio.wait_for(peer.first.wait(), FIRST_FRAME_TIMEOUT)
    finally:
        await close_peer(http, peer)
    assert peer.first_frame_s is not None
    return peer.first_frame_s


# --- the live measurement (this process) -------------------------------------------------------


@dataclass(frozen=True)
class LiveRun:
    path: str
    viewers: int
    seconds: float
    baseline: float  # % of a core: the sender with no viewer
    per_viewer: float  # % of a core per viewer-stream, baseline subtracted
    decoding: float  # % of a core per viewer-stream spent decoding (re-encoding path)
    receivers: float  # % of a core: the receiving process, all peers
    got: dict[str, Any]
    first_frames: list[float]

    @property
    def fps(self) -> float:
        return float(min(self.got["fps"]))

    @property
    def sent_fps(self) -> float:
        return float(min(self.got["sent_fps"]))

    @property
    def ms_per_frame(self) -> float:
        """Sender CPU per frame sent per viewer (fair when a path cannot keep up)."""
        return 10 * self.per_viewer / max(float(statistics.mean(self.got["sent_fps"])), 1e-9)


def measure_live(path: str, url: str, args: argparse.Namespace, workdir: Path) -> LiveRun:
    sender, control = child(sender_main, url, path, str(workdir))
    try:
        base = expect(control, "ready", sender)
        time.sleep(WARMUP_S)
        cpu0, t0 = cpu_seconds(sender.pid), time.monotonic()
        time.sleep(args.baseline)
        baseline = (cpu_seconds(sender.pid) - cpu0) / (time.monotonic() - t0)
        joins = args.joins if path == "passthrough" else 0
        receiver, peers = child(receivers_main, base, args.viewers, joins)
        try:
            expect(peers, "ready", receiver)
            time.sleep(WARMUP_S)
            before = _sample(sender.pid, receiver.pid, control, sender)
            peers.send(("start", None))
            expect(peers, "started", receiver)
            time.sleep(args.seconds)
            peers.send(("count", None))
            after = _sample(sender.pid, receiver.pid, control, sender)
            got = expect(peers, "counted", receiver)
            first_frames = expect(peers, "joined", receiver, CHILD_TIMEOUT + 25 * joins)
        finally:
            finish(receiver, peers)
    finally:
        finish(sender, control)
    elapsed = after[3] - before[3]
    rate = [(b - a) / elapsed for a, b in zip(before, after, strict=True)]
    return LiveRun(
        path, args.viewers, elapsed, 100 * baseline,
        100 * (rate[0] - baseline) / args.viewers, 100 * rate[2] / args.viewers,
        100 * rate[1], got, first_frames,
    )  # fmt: skip


def _sample(sender: int, receiver: int, control: Connection, process: Any) -> tuple[float, ...]:
    """(sender CPU s, receivers CPU s, decoding CPU s, monotonic time) now."""
    control.send(("decode", None))
    decoding = expect(control, "decode", process)
    return cpu_seconds(sender), cpu_seconds(receiver), decoding, time.monotonic()


def live_problems(run: LiveRun) -> list[str]:
    """Why a run's figures cannot be trusted (a broken path must not look cheap)."""
    problems = []
    if run.fps <= 0:
        problems.append(f"{run.path}: a viewer received no frame")
    if run.got["sizes"] != [SIZE]:
        problems.append(f"{run.path}: frames of sizes {run.got['sizes']}, expected {SIZE}")
    if run.got["decode_errors"]:
        problems.append(f"{run.path}: {run.got['decode_errors']} frames failed to decode")
    return problems


def report_live(runs: dict[str, LiveRun]) -> None:
    print(f"\n{'path':12s} {'CPU/viewer':>10s} {'ms/frame':>8s} {'baseline':>8s}"
          f" {'sent fps':>8s} {'got fps':>7s} {'RTP lost/got':>12s} {'drops':>5s}"
          f" {'receivers':>9s}")  # fmt: skip
    for run in runs.values():
        got = run.got
        lost = f"{got['rtp_lost']}/{got['rtp_received']}"
        print(f"{run.path:12s} {run.per_viewer:9.2f}% {run.ms_per_frame:8.2f}"
              f" {run.baseline:7.2f}% {run.sent_fps:8.1f} {run.fps:7.1f} {lost:>12s}"
              f" {got['sender_dropped']:5d} {run.receivers:8.0f}%")  # fmt: skip
    print("  CPU/viewer: the sender's CPU per viewer-stream, % of one core, baseline subtracted;"
          " ms/frame: the same per frame sent; sent/got fps: the slowest viewer's frames handed"
          " to aiortc by the sender / decoded by the receiver; drops: packets the sender dropped"
          " for viewers that fell behind; receivers: CPU of the receiving process")  # fmt: skip
    for run in runs.values():
        if run.sent_fps < FPS * 0.95:
            at_full_rate = run.ms_per_frame * FPS / 10
            print(f"  {run.path}: the sender did NOT keep up with {FPS} fps (slowest viewer"
                  f" {run.sent_fps:.1f} fps); at {FPS} fps it would cost ~{at_full_rate:.0f}%"
                  " of a core per viewer if the cores allowed")  # fmt: skip
        elif run.fps < FPS * 0.95:
            print(f"  {run.path}: the receivers decoded only {run.fps:.1f} fps of the"
                  f" {run.sent_fps:.1f} sent (their CPU; the sender's figure stands)")  # fmt: skip
    passthrough, vp8 = runs.get("passthrough"), runs.get("vp8")
    if vp8 is not None:
        print(f"  vp8: decoding {vp8.decoding:.1f}% of a core per viewer of its"
              f" {vp8.per_viewer:.1f}% (a decoder per viewer)")  # fmt: skip
    if passthrough is not None:
        verdict(f"passthrough {passthrough.per_viewer:.2f}% of a core per viewer-stream"
                f" (goal <= {GOALS['passthrough %']:.0f}%)",
                passthrough.per_viewer <= GOALS["passthrough %"])  # fmt: skip
    if passthrough is not None and vp8 is not None:
        ratio = vp8.per_viewer / max(passthrough.per_viewer, 1e-9)
        per_frame = vp8.ms_per_frame / max(passthrough.ms_per_frame, 1e-9)
        verdict(f"vp8 / passthrough = {ratio:.1f}x per viewer-stream, {per_frame:.1f}x per"
                f" frame sent (goal >= {GOALS['ratio']:.0f}x)",
                ratio >= GOALS["ratio"])  # fmt: skip
    if passthrough is not None and passthrough.first_frames:
        times = passthrough.first_frames
        verdict(f"first frame: median {statistics.median(times):.2f} s, max {max(times):.2f} s"
                f" over {len(times)} fresh viewers joining a running feed"
                f" (goal < {GOALS['first frame s']} s)",
                max(times) < GOALS["first frame s"])  # fmt: skip


def verdict(text: str, met: bool) -> None:
    print(f"{text}: goal {'met' if met else 'NOT met'}")


def run_live(args: argparse.Namespace, workdir: Path) -> list[str]:
    name = f"hallwatch-bench-console-{SIZE[0]}x{SIZE[1]}-{FPS}fps-{KBPS}k.mp4"
    clip = make_camera_clip(Path(tempfile.gettempdir()) / name)
    print(f"live view: camera {describe_clip(clip)} over RTSP on 127.0.0.1; {args.viewers}"
          f" viewers x {args.seconds:.0f} s per path, baseline {args.baseline:.0f} s;"
          f" {os.cpu_count()} cores")  # fmt: skip
    runs: dict[str, LiveRun] = {}
    with RtspServer({"/cam": clip}) as server:
        for path in ("passthrough", "vp8"):
            runs[path] = measure_live(path, server.url("/cam"), args, workdir)
            print(f"  {path}: done")
    report_live(runs)
    return [problem for run in runs.values() for problem in live_problems(run)]


# --- the event API -----------------------------------------------------------------------------

API_CAMERAS = 8
WINDOWS_PER_CAMERA = 2
DAY = 86_400.0


class NoLive:
    """A LiveSource without cameras: the event API needs none."""

    def live(self, camera_id: str) -> LiveView | None:
        return None

    def camera_status(self, camera_id: str) -> dict[str, object]:
        return {}

    def apply_site(self, site: Site) -> ApplyResult:
        return ApplyResult(applied=False, restart_required=True)

    def live_fanout(self, camera_id: str, stream: str) -> FanOut | None:
        return None


def camera_ids() -> list[str]:
    return [f"cam{n + 1:02d}" for n in range(API_CAMERAS)]


def window_ids() -> list[str]:
    return [f"W{n + 1:02d}" for n in range(API_CAMERAS * WINDOWS_PER_CAMERA)]


def api_site() -> Site:
    zone = [[0.1, 0.1], [0.4, 0.1], [0.4, 0.4], [0.1, 0.4]]
    cameras = [{"id": c, "name": c, "url": f"{c}.mp4", "hall": f"H{n % 2 + 1}"}
               for n, c in enumerate(camera_ids())]  # fmt: skip
    windows = [{"id": w, "name": w, "department": f"部门{n % 5}", "camera": camera_ids()[n // 2],
                "staff_zone": zone} for n, w in enumerate(window_ids())]  # fmt: skip
    halls = [{"id": "H1", "name": "一楼"}, {"id": "H2", "name": "二楼"}]
    return Site.model_validate(
        {"name": "bench", "halls": halls, "cameras": cameras, "windows": windows}
    )


def fill_events(store: Store, count: int, now: float) -> None:
    """`count` events over the last 30 days, in one transaction; some acknowledged or judged."""
    rnd = random.Random(10)
    kinds = list(EventType)
    rows = []
    for seq in range(1, count + 1):
        window = rnd.randrange(API_CAMERAS * WINDOWS_PER_CAMERA)
        start = now - rnd.random() * 30 * DAY
        end = None if rnd.random() < 0.02 else start + rnd.uniform(30, 1800)
        kind = rnd.choice(kinds)
        details = f'{{"seconds": {rnd.randint(30, 1800)}, "people": {rnd.randint(0, 9)}}}'
        rows.append((seq, kind.value, camera_ids()[window // 2], window_ids()[window], start,
                     end, start + 2, details))  # fmt: skip
    with store.transaction() as conn:
        conn.executemany(
            'INSERT INTO events (seq, type, camera, window, start, "end", detected_at, details)'
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    for event_id in rnd.sample(range(1, count + 1), min(count, 300)):
        reviews.acknowledge(store, event_id, USER, now)
        reviews.add_verdict(store, event_id, rnd.choice(list(reviews.Verdict)), "复核", USER, now)


def api_main(conn: Connection, workdir: str, events: int) -> None:
    store = Store(Path(workdir) / "api.db")
    fill_events(store, events, time.time())
    ensure_user(store, USER, Role.OPERATOR, PASSWORD)
    with running(create_app(api_site(), store, NoLive())) as base:
        conn.send(("ready", base))
        conn.recv()
    store.close()


def event_query(rnd: random.Random, now: float) -> dict[str, str | int | float]:
    """A varied event-list request: paging the whole list, or one filter with a few pages."""
    params: dict[str, str | int | float] = {"limit": 50}
    pick = rnd.random()
    if pick < 0.3:
        params["offset"] = 50 * rnd.randrange(40)
        return params
    if pick < 0.5:
        params["camera"] = rnd.choice(camera_ids())
    elif pick < 0.65:
        params["type"] = rnd.choice(list(EventType)).value
    elif pick < 0.8:
        params["window"] = rnd.choice(window_ids())
    else:
        since = now - rnd.uniform(1, 30) * DAY
        params["from"], params["to"] = round(since), round(since + DAY)
    params["offset"] = 50 * rnd.randrange(4)
    return params


@dataclass
class Load:
    latencies: list[float] = field(default_factory=list)  # seconds, requests in the window
    failures: dict[str, int] = field(default_factory=dict)


async def load(
    base: str, cookies: dict[str, str], clients: int, seconds: float, think: float
) -> Load:
    """`clients` httpx clients, each requesting again about `think` seconds (±50%) after an
    answer (0: back to back); latencies of requests sent after the warm-up and answered before
    the end."""
    result = Load()
    begin = time.monotonic()
    window_start, window_end = begin + WARMUP_S, begin + WARMUP_S + seconds
    now = time.time()
    tls = ssl.create_default_context()  # unused on http://, but each client would load its own

    async def client(number: int) -> None:
        rnd = random.Random(number)
        async with httpx.AsyncClient(
            base_url=base, cookies=cookies, timeout=60, verify=tls
        ) as http:
            while time.monotonic() < window_end:
                sent = time.monotonic()
                try:
                    answer = await http.get("/api/events", params=event_query(rnd, now))
                    failure = None if answer.status_code == 200 else f"HTTP {answer.status_code}"
                except httpx.HTTPError as error:
                    failure = type(error).__name__
                done = time.monotonic()
                if failure is not None:
                    result.failures[failure] = result.failures.get(failure, 0) + 1
                elif sent >= window_start and done <= window_end:
                    result.latencies.append(done - sent)
                if think:  # jittered: real consoles do not poll in lockstep
                    await asyncio.sleep(think * rnd.uniform(0.5, 1.5))

    await asyncio.gather(*(client(n) for n in range(clients)))
    return result


def run_api(args: argparse.Namespace, workdir: Path) -> list[str]:
    """The event list under `clients` concurrent clients: paced like consoles polling every
    second (±50%), then back to back (saturation), unless --think names one pace."""
    paces = [args.think] if args.think is not None else [1.0, 0.0]
    server, control = child(api_main, str(workdir), args.events)
    problems: list[str] = []
    try:
        base = expect(control, "ready", server)
        with httpx.Client(base_url=base) as http:
            answer = http.post("/api/login", json={"username": USER, "password": PASSWORD})
            if answer.status_code != 200:
                raise BenchError(f"login failed: {answer.status_code} {answer.text}")
            cookies = {name: value for name, value in http.cookies.items()}
        for think in paces:
            problems += api_phase(args, base, cookies, server.pid, think)
    finally:
        finish(server, control)
    return problems


def api_phase(
    args: argparse.Namespace, base: str, cookies: dict[str, str], pid: int, think: float
) -> list[str]:
    pace = f"about {think:g} s apart" if think else "back to back"
    print(f"\nevent API: {args.events} events, {args.clients} concurrent httpx clients,"
          f" GET /api/events?limit=50 {pace} for {args.seconds:.0f} s"
          f" after {WARMUP_S:.0f} s warm-up")  # fmt: skip
    cpu0, own0 = cpu_seconds(pid), time.process_time()
    result = asyncio.run(load(base, cookies, args.clients, args.seconds, think))
    server_cpu = (cpu_seconds(pid) - cpu0) / (args.seconds + WARMUP_S)
    client_cpu = (time.process_time() - own0) / (args.seconds + WARMUP_S)
    if not result.latencies:
        return ["event API: no request answered in the window"]
    ms = sorted(1000 * latency for latency in result.latencies)
    cuts = statistics.quantiles(ms, n=100, method="inclusive")
    rate = len(ms) / args.seconds
    print(f"{'requests/s':>10s} {'p50 ms':>7s} {'p95 ms':>7s} {'p99 ms':>7s} {'max ms':>7s}"
          f" {'failed':>6s} {'server CPU':>10s} {'client CPU':>10s}")  # fmt: skip
    failed = sum(result.failures.values())
    print(f"{rate:10.0f} {cuts[49]:7.1f} {cuts[94]:7.1f} {cuts[98]:7.1f} {ms[-1]:7.1f}"
          f" {failed:6d} {100 * server_cpu:9.0f}% {100 * client_cpu:9.0f}%")  # fmt: skip
    if not think:
        print(f"  back to back, latency ~ clients / throughput: a mean under"
              f" {GOALS['p95 ms']:.0f} ms with {args.clients} clients needs"
              f" > {args.clients / GOALS['p95 ms'] * 1000:.0f} requests/s")  # fmt: skip
    verdict(f"event list p95 {cuts[94]:.1f} ms with {args.clients} concurrent clients {pace}"
            f" (goal < {GOALS['p95 ms']:.0f} ms)", cuts[94] < GOALS["p95 ms"])  # fmt: skip
    return [f"event API: failed requests {result.failures}"] if result.failures else []


# --- main ----------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", type=int, default=2, help="live viewers per path")
    parser.add_argument("--seconds", type=float, default=20,
                        help="measured seconds: per live path, and of API load")  # fmt: skip
    parser.add_argument("--baseline", type=float, default=10,
                        help="seconds of the sender with no viewer, per path")  # fmt: skip
    parser.add_argument("--joins", type=int, default=5, help="fresh viewers timed to 1st frame")
    parser.add_argument("--clients", type=int, default=200, help="concurrent API clients")
    parser.add_argument("--events", type=int, default=10_000, help="events in the API's store")
    parser.add_argument("--think", type=float, default=None,
                        help="seconds an API client waits between requests (±50%%; 0: back"
                             " to back); default: 1 s, then back to back")  # fmt: skip
    parser.add_argument("--skip-cpu", action="store_true", help="skip the live view")
    parser.add_argument("--skip-api", action="store_true", help="skip the event API")
    args = parser.parse_args()
    if args.viewers < 1 or args.clients < 1 or args.seconds <= 0 or args.baseline <= 0:
        parser.error("--viewers and --clients must be >= 1, --seconds and --baseline > 0")
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="hw-bench-console-") as tmp:
        try:
            if not args.skip_cpu:
                problems += run_live(args, Path(tmp))
            if not args.skip_api:
                problems += run_api(args, Path(tmp))
        except BenchError as error:
            problems.append(str(error))
    for problem in problems:
        print(f"ERROR: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
