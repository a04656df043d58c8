"""Bench: CPU per relayed stream (goal: below 1% of a core per 1080p stream, nothing decoded).

Source: real footage scaled to 1920×1080, 25 fps, GOP 1 s, CBR ~4 Mbit/s, H.264 without
B-frames, served by the GStreamer RTSP test server on 127.0.0.1 (the clip is made once and kept
in the temp dir). Each stream is one camera: one CameraReader (one RTSP connection, demux only)
whose FanOut feeds the measured relay path.

  push  relay.push.PushWorker pushing to a local ffmpeg listening as an RTSP (ANNOUNCE/RECORD)
        or RTMP server (stream copy into -f null), and to nginx-rtmp (Debian's nginx-light and
        libnginx-mod-rtmp, skipped when absent), the kind of RTMP server a video centre runs.
        Measured: the push thread in this process, and the push's child process that talks to
        the upstream (relay/push_child.py); the reader thread's demux cost is shown beside it
        for comparison. Mind that FFmpeg's RTMP client sends in chunks of the size the server
        announces, and ffmpeg as a server announces RTMP's 128-byte default (two send() calls
        per 128 bytes); nginx-rtmp (4096 by default) or SRS (60000) cost far fewer calls.

One function per measured path (`measure_push`; the GB/T 28181 path can sit beside it); each
returns rows for `print_table`. CPU comes from the kernel's per-thread run time
(/proc/self/task/TID/schedstat, nanoseconds) and the child's /proc/PID/task/*/schedstat, over a
window after a warm-up; a run "keeps up" when every stream sent ≥ 95% of the frames it should
have and no queue dropped anything.

usage: python bench/relay.py [--streams 1,4] [--seconds 12] [--receivers rtsp,rtmp,rtmp-nginx]
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from camera_stream import camera_h264_stream  # noqa: E402

from hallwatch.config_relay import PushTarget  # noqa: E402
from ingest.reader import CameraReader  # noqa: E402
from ingest.source import parse_source  # noqa: E402
from relay.push import PushWorker  # noqa: E402
from tests.support.net import HOST, free_port  # noqa: E402
from tests.support.rtsp import RtspServer  # noqa: E402

FOOTAGE = REPO / "hallwatch" / "demo" / "one-by-one-person-detection.mp4"
FPS = 25
SIZE = (1920, 1080)
KBPS = 4000
WARM_UP_S = 6.0  # RTSP open (~1.5 s), first keyframe, child start and connect


@dataclass(frozen=True, slots=True)
class Row:
    path: str
    streams: int
    reader_pct: float  # demux, % of one core per stream
    relay_thread_pct: float  # the relay's thread(s) in this process, per stream
    relay_child_pct: float  # the relay's child process, per stream (0 when it has none)
    mbps: float  # per stream, as sent
    sent_ratio: float  # worst stream: packets sent / frames due
    dropped: int

    @property
    def relay_pct(self) -> float:
        return self.relay_thread_pct + self.relay_child_pct

    @property
    def keeps_up(self) -> bool:
        return self.sent_ratio >= 0.95 and self.dropped == 0


def make_camera_clip(path: Path, seconds: int = 10) -> Path:
    """Real footage at 1080p25, GOP 25, CBR ~4 Mbit/s, no B-frames (kept once made)."""
    if path.exists():
        return path
    partial = path.with_suffix(".partial.mp4")
    with av.open(str(FOOTAGE)) as source, av.open(str(partial), "w", format="mp4") as out:
        stream = camera_h264_stream(out, SIZE, KBPS, FPS)
        frames = source.decode(video=0)
        for index in range(FPS * seconds):
            frame = next(frames).reformat(width=SIZE[0], height=SIZE[1], format="yuv420p")
            frame.pts, frame.time_base = index, Fraction(1, FPS)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    partial.rename(path)
    return path


# --- CPU accounting ---------------------------------------------------------------------------


def thread_cpu_s(native_id: int) -> float:
    """Run time of one thread of this process, in seconds."""
    return int(Path(f"/proc/self/task/{native_id}/schedstat").read_text().split()[0]) / 1e9


def process_cpu_s(pid: int) -> float:
    """Run time of all threads of a process, in seconds (0 once it is gone)."""
    total = 0
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return 0.0
    for task in tasks:
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except OSError:
            continue
    return total / 1e9


def thread_named(name: str) -> threading.Thread:
    for thread in threading.enumerate():
        if thread.name == name:
            return thread
    raise LookupError(f"no thread named {name}")


def native_id(thread: threading.Thread | None) -> int:
    if thread is None or thread.native_id is None:
        raise LookupError("thread not started")
    return thread.native_id


# --- the receiving side -----------------------------------------------------------------------


@contextmanager
def receivers(protocol: str, count: int) -> Iterator[list[str]]:
    """`count` ffmpeg processes listening as RTSP (ANNOUNCE/RECORD) or RTMP servers, stream
    copy to nothing."""
    procs: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    listen = ["-rtsp_flags", "listen"] if protocol == "rtsp" else ["-listen", "1"]
    try:
        for _ in range(count):
            url = f"{protocol}://{HOST}:{free_port()}/live/bench"
            procs.append(subprocess.Popen(
                ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", *listen,
                 "-i", url, "-c", "copy", "-f", "null", "-"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ))  # fmt: skip
            urls.append(url)
        time.sleep(1.0)  # listening (a probe connection would be taken for the publisher)
        yield urls
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(10)


NGINX = Path("/usr/sbin/nginx")
NGINX_RTMP = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")  # Debian libnginx-mod-rtmp
NGINX_CONF = """load_module {module};
daemon off;
master_process off;
error_log {root}/error.log warn;
pid {root}/nginx.pid;
events {{ worker_connections 256; }}
rtmp {{ server {{ listen {host}:{port}; chunk_size {chunk}; application live {{ live on; }} }} }}
"""


@contextmanager
def nginx_rtmp(count: int, chunk_size: int = 4096) -> Iterator[list[str]]:
    """One nginx-rtmp server (Debian's libnginx-mod-rtmp; 4096 is its default chunk size)
    taking `count` published streams, none played back."""
    with tempfile.TemporaryDirectory(prefix="hallwatch-nginx-") as root:
        port = free_port()
        conf = Path(root) / "nginx.conf"
        conf.write_text(NGINX_CONF.format(module=NGINX_RTMP, root=root, host=HOST, port=port,
                                          chunk=chunk_size))  # fmt: skip
        proc = subprocess.Popen([str(NGINX), "-p", root, "-c", str(conf)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
        try:
            time.sleep(0.5)
            if proc.poll() is not None:
                _, err = proc.communicate()
                raise RuntimeError(f"nginx did not start: {err.decode()[-500:]}")
            yield [f"rtmp://{HOST}:{port}/live/bench{n}" for n in range(count)]
        finally:
            proc.kill()
            proc.wait(10)


def have_nginx_rtmp() -> bool:
    return NGINX.exists() and NGINX_RTMP.exists()


Receivers = Callable[[int], AbstractContextManager[list[str]]]
RECEIVERS: dict[str, Receivers] = {  # name: servers for `count` streams, giving their URLs
    "rtsp": functools.partial(receivers, "rtsp"),
    "rtmp": functools.partial(receivers, "rtmp"),
    "rtmp-nginx": nginx_rtmp,
}


# --- measured paths ---------------------------------------------------------------------------


def measure_push(camera_url: str, receiver: str, streams: int, seconds: float) -> Row:
    """`streams` cameras, each read once and pushed to its own stream at `receiver` (a key of
    RECEIVERS)."""
    readers = [CameraReader(f"cam{n}", parse_source(camera_url)) for n in range(streams)]
    with RECEIVERS[receiver](streams) as urls:
        workers = [
            PushWorker(PushTarget(camera=reader.camera_id, url=url), reader.fanout)
            for reader, url in zip(readers, urls, strict=True)
        ]
        for worker in workers:
            worker.start()
        for reader in readers:
            reader.start()
        try:
            time.sleep(WARM_UP_S)
            if any(w.status()["state"] != "pushing" or w.child_pid is None for w in workers):
                states = [w.status()["state"] for w in workers]
                raise RuntimeError(f"not all pushes are up after the warm-up: {states}")
            reader_ids = [native_id(thread_named(f"reader-{r.camera_id}")) for r in readers]
            push_ids = [native_id(w.thread) for w in workers]
            children = [w.child_pid for w in workers if w.child_pid is not None]
            start = _snapshot(reader_ids, push_ids, children, workers)
            time.sleep(seconds)
            end = _snapshot(reader_ids, push_ids, children, workers)
        finally:
            for worker in workers:
                worker.request_stop()
            for reader in readers:
                reader.stop()
            for worker in workers:
                worker.stop()
    span = end.wall - start.wall
    per_stream = 100 / span / streams
    sent = [b - a for a, b in zip(start.packets, end.packets, strict=True)]
    if any(w.status()["sessions"] != 1 for w in workers):
        raise RuntimeError("a push reconnected during the run")
    return Row(
        f"push {receiver}", streams,
        reader_pct=(end.reader - start.reader) * per_stream,
        relay_thread_pct=(end.push - start.push) * per_stream,
        relay_child_pct=(end.child - start.child) * per_stream,
        mbps=8 * (end.bytes - start.bytes) / span / streams / 1e6,
        sent_ratio=min(sent) / (FPS * span),
        dropped=end.dropped,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Snapshot:
    wall: float
    reader: float
    push: float
    child: float
    packets: list[int]
    bytes: int
    dropped: int


def _snapshot(
    reader_ids: list[int], push_ids: list[int], children: list[int], workers: list[PushWorker]
) -> _Snapshot:
    statuses = [worker.status() for worker in workers]
    return _Snapshot(
        wall=time.monotonic(),
        reader=sum(thread_cpu_s(tid) for tid in reader_ids),
        push=sum(thread_cpu_s(tid) for tid in push_ids),
        child=sum(process_cpu_s(pid) for pid in children),
        packets=[s["packets"] for s in statuses],
        bytes=sum(s["bytes"] for s in statuses),
        dropped=sum(s["dropped"] for s in statuses),
    )


# --- report -----------------------------------------------------------------------------------


def print_table(rows: list[Row]) -> None:
    print(f"{'path':16} {'streams':>7} {'reader':>8} {'thread':>8} {'child':>8} {'relay':>8}"
          f" {'relay/reader':>12} {'Mbit/s':>7} {'sent':>6} {'dropped':>7}  verdict")  # fmt: skip
    for row in rows:
        ratio = row.relay_pct / row.reader_pct if row.reader_pct else float("nan")
        verdict = "keeps up" if row.keeps_up else "FALLS BEHIND"
        verdict += "" if row.relay_pct < 1.0 else ", over the 1% goal"
        cpu = (row.reader_pct, row.relay_thread_pct, row.relay_child_pct, row.relay_pct)
        print(f"{row.path:16} {row.streams:7d} " + " ".join(f"{pct:7.2f}%" for pct in cpu)
              + f" {ratio:11.1f}x {row.mbps:7.2f} {100 * row.sent_ratio:5.1f}%"
              f" {row.dropped:7d}  {verdict}")  # fmt: skip
    print("CPU in % of one core per stream: reader = demux of the camera's RTSP stream;"
          " thread = the relay's thread in this process; child = its upstream process;"
          " relay = thread + child.")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--streams", default="1,4", help="comma-separated stream counts")
    parser.add_argument("--seconds", type=float, default=12.0, help="measured window per run")
    parser.add_argument("--receivers", default=",".join(RECEIVERS),
                        help=f"comma-separated, of {', '.join(RECEIVERS)}")  # fmt: skip
    args = parser.parse_args()
    counts = [int(part) for part in args.streams.split(",") if part.strip()]
    if not counts or min(counts) < 1 or args.seconds <= 0:
        parser.error("--streams needs positive counts and --seconds a positive duration")
    chosen = [name.strip() for name in args.receivers.split(",") if name.strip()]
    if not chosen or any(name not in RECEIVERS for name in chosen):
        parser.error(f"--receivers takes names among {', '.join(RECEIVERS)}")
    if shutil.which("ffmpeg") is None:
        parser.error("the ffmpeg command is needed as the receiving server")
    cache = Path(tempfile.gettempdir()) / "hallwatch-bench"
    cache.mkdir(exist_ok=True)
    started = time.monotonic()
    clip = make_camera_clip(cache / f"relay-{SIZE[1]}p{FPS}-{KBPS}k.mp4")
    print(f"source: {clip.name} ({os.path.getsize(clip) * 8 / 10 / 1e6:.2f} Mbit/s over 10 s),"
          f" ready in {time.monotonic() - started:.0f} s; {os.cpu_count()} CPUs")  # fmt: skip
    rows: list[Row] = []
    with RtspServer({"/cam": clip}) as server:
        for receiver in chosen:
            if receiver == "rtmp-nginx" and not have_nginx_rtmp():
                print("rtmp-nginx skipped: install Debian's nginx-light and libnginx-mod-rtmp")
                continue
            for streams in counts:
                rows.append(measure_push(server.url("/cam"), receiver, streams, args.seconds))
    print_table(rows)


if __name__ == "__main__":
    main()
