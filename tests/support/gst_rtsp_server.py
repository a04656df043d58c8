#!/usr/bin/python3
"""Tiny RTSP "camera" server for tests, built on GStreamer's RTSP server library.

Run with the system interpreter (needs only the standard library and PyGObject)::

    /usr/bin/python3 tests/support/gst_rtsp_server.py --port 8554 \\
        --mount /cam1=clip1.mp4 --mount /cam2=clip2.mp4

Each H.264- or H.265-in-MP4 file is served at rtsp://127.0.0.1:PORT/<mount>, looping forever at
real-time pace, like a live camera. Design:

* At start-up every file is demuxed once (``filesrc ! qtdemux ! h264parse``, or ``h265parse``
  when qtdemux's video pad is H.265) into a list of Annex-B access units with the parameter sets
  (SPS/PPS, plus VPS for H.265) in-band in front of every keyframe.
* One "camera" thread per mount plays that list in a loop on a monotonic clock. This is the
  single shared live stream of the mount: all clients see the same frame at the same time.
* Every RTSP client gets its own small media pipeline ``appsrc ! rtph264pay`` (``rtph265pay``
  for H.265; the factory is not "shared" in GstRTSPServer terms). The camera thread fans each
  access unit out to all attached appsrcs, starting each new client at the next keyframe, and
  time-stamps buffers from that pipeline's clock, so timestamps are monotonic across loop
  boundaries.

Why not a GstRTSPServer "shared" media with a seek-at-EOS loop: a shared media sends a late
joiner whatever frame is current (it has no start-at-keyframe option), and looping by seeking
would have to work around rtsp-media's own state and seek handling. The fan-out avoids both.

Prints ``READY`` on stdout once the listening socket is bound. SIGTERM/SIGINT stop it cleanly.
With ``--watch-stdin`` it also exits when its stdin reaches EOF (i.e. the parent died).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstApp", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstApp, GstRtsp, GstRtspServer  # noqa: E402

BIND_ADDRESS = "127.0.0.1"
VERBOSE = False


def log(message: str) -> None:
    if VERBOSE:
        print(f"gst_rtsp_server: {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class AccessUnit:
    data: bytes
    duration_ns: int
    keyframe: bool


@dataclass(frozen=True)
class Clip:
    caps: str
    units: list[AccessUnit]
    payloader: str  # the RTP payloader for the codec: rtph264pay or rtph265pay


# Per codec (qtdemux's caps name): the parser that turns the demuxed stream into Annex-B access
# units with the parameter sets in-band at every keyframe (an explicit capsfilter: the "! caps"
# shorthand needs an element after it), and the RTP payloader.
PARSERS = {
    "video/x-h264": (
        "h264parse config-interval=-1 ! "
        "capsfilter caps=video/x-h264,stream-format=byte-stream,alignment=au"
    ),
    "video/x-h265": (
        "h265parse config-interval=-1 ! "
        "capsfilter caps=video/x-h265,stream-format=byte-stream,alignment=au"
    ),
}
PAYLOADERS = {"video/x-h264": "rtph264pay", "video/x-h265": "rtph265pay"}


def load_clip(path: str) -> Clip:
    """Demux an H.264 or H.265 MP4 file into Annex-B access units (parameter sets in-band at
    every keyframe).

    The whole clip is kept in memory: meant for short test clips.
    """
    # filesrc ! qtdemux ! <parser chain for the video pad's codec> ! appsink
    pipeline = Gst.parse_launch(
        "filesrc name=src ! qtdemux name=demux appsink name=sink sync=false"
    )
    pipeline.get_by_name("src").set_property("location", path)
    linked: list[str] = []

    def on_pad_added(_demux: Gst.Element, pad: Gst.Pad) -> None:
        caps = pad.get_current_caps() or pad.query_caps(None)
        name = caps.get_structure(0).get_name() if caps.get_size() else ""
        if linked or name not in PARSERS:
            return  # audio, or a second video track: left unlinked, as with plain delayed linking
        parser = Gst.parse_bin_from_description(PARSERS[name], True)
        pipeline.add(parser)
        parser.link(pipeline.get_by_name("sink"))
        parser.sync_state_with_parent()
        if pad.link(parser.get_static_pad("sink")) == Gst.PadLinkReturn.OK:
            linked.append(name)

    pipeline.get_by_name("demux").connect("pad-added", on_pad_added)
    sink = pipeline.get_by_name("sink")
    bus = pipeline.get_bus()
    pipeline.set_state(Gst.State.PLAYING)
    raw: list[tuple[bytes, int, int, bool]] = []
    caps: Gst.Caps | None = None
    msg: Gst.Message | None = None
    while True:
        sample = sink.emit("try-pull-sample", Gst.SECOND // 10)
        if sample is None:
            msg = bus.pop_filtered(Gst.MessageType.ERROR)
            if msg is not None or sink.is_eos():
                break
            continue
        if caps is None:
            caps = sample.get_caps()
        buf = sample.get_buffer()
        ok, info = buf.map(Gst.MapFlags.READ)
        if not ok:
            raise RuntimeError(f"{path}: cannot map buffer")
        try:
            data = bytes(info.data)
        finally:
            buf.unmap(info)
        key = not buf.has_flags(Gst.BufferFlags.DELTA_UNIT)
        raw.append((data, buf.pts, buf.duration, key))
    pipeline.set_state(Gst.State.NULL)
    if msg is not None:
        err, dbg = msg.parse_error()
        raise RuntimeError(f"{path}: {err.message} ({dbg})")
    if caps is None or not raw:
        raise RuntimeError(f"{path}: no H.264 or H.265 video found")
    if not raw[0][3]:
        raise RuntimeError(f"{path}: first frame is not a keyframe")

    structure = caps.get_structure(0)
    ok, num, den = structure.get_fraction("framerate")
    default_ns = Gst.SECOND * den // num if ok and num > 0 else Gst.SECOND // 10
    units: list[AccessUnit] = []
    for i, (data, pts, duration, key) in enumerate(raw):
        if duration == Gst.CLOCK_TIME_NONE or duration <= 0:
            nxt = raw[i + 1][1] if i + 1 < len(raw) else Gst.CLOCK_TIME_NONE
            if Gst.CLOCK_TIME_NONE not in (pts, nxt) and nxt > pts:
                duration = nxt - pts
            else:
                duration = default_ns
        units.append(AccessUnit(data, int(duration), key))
    return Clip(caps=caps.to_string(), units=units, payloader=PAYLOADERS[linked[0]])


@dataclass(eq=False)
class Client:
    """One client's media pipeline input."""

    appsrc: GstApp.AppSrc
    started: bool = False
    pts0: int = 0
    due0: float = 0.0


@dataclass(eq=False)
class Camera:
    """Plays one clip in a loop in real time and fans it out to the attached clients."""

    name: str
    clip: Clip
    clients: list[Client] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop_event: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name=f"camera{self.name}", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout=2)

    def attach(self, appsrc: GstApp.AppSrc) -> Client:
        client = Client(appsrc)
        with self.lock:
            self.clients.append(client)
            log(f"{self.name}: client attached ({len(self.clients)} now)")
        return client

    def detach(self, client: Client) -> None:
        with self.lock:
            if client in self.clients:
                self.clients.remove(client)
                log(f"{self.name}: client detached ({len(self.clients)} left)")

    def _run(self) -> None:
        due = time.monotonic()
        while not self.stop_event.is_set():
            for unit in self.clip.units:
                delay = due - time.monotonic()
                if delay > 0:
                    if self.stop_event.wait(delay):
                        return
                elif delay < -1.0:
                    due = time.monotonic()  # fell far behind (suspended?): resync
                self._fan_out(unit, due)
                due += unit.duration_ns / 1e9

    def _fan_out(self, unit: AccessUnit, due: float) -> None:
        with self.lock:
            clients = list(self.clients)
        for client in clients:
            appsrc = client.appsrc
            if not client.started:
                clock = appsrc.get_clock()
                if clock is None or not unit.keyframe:
                    continue  # pipeline not PLAYING yet, or wait for the next keyframe
                client.started = True
                log(f"{self.name}: client starts at a keyframe")
                client.pts0 = max(0, clock.get_time() - appsrc.get_base_time())
                client.due0 = due
            buf = Gst.Buffer.new_wrapped(unit.data)
            buf.pts = client.pts0 + round((due - client.due0) * Gst.SECOND)
            buf.dts = buf.pts
            buf.duration = unit.duration_ns
            if not unit.keyframe:
                buf.set_flags(Gst.BufferFlags.DELTA_UNIT)
            ret = appsrc.push_buffer(buf)
            if ret != Gst.FlowReturn.OK:
                log(f"{self.name}: push returned {ret.value_nick}")
                self.detach(client)


class CameraFactory(GstRtspServer.RTSPMediaFactory):
    def __init__(self, camera: Camera) -> None:
        super().__init__()
        self.camera = camera
        caps = camera.clip.caps.replace('"', '\\"')
        self.set_launch(
            # A client that never reads (SETUP without PLAY) cannot pile up more than 10 s.
            "( appsrc name=src is-live=true format=time max-bytes=0 "
            "max-time=10000000000 leaky-type=downstream "
            f'caps="{caps}" ! '
            f"{camera.clip.payloader} name=pay0 pt=96 config-interval=0 )"
        )
        self.set_shared(False)
        self.set_protocols(GstRtsp.RTSPLowerTrans.TCP | GstRtsp.RTSPLowerTrans.UDP)
        self.connect("media-configure", self._on_media_configure)

    def _on_media_configure(
        self, _factory: GstRtspServer.RTSPMediaFactory, media: GstRtspServer.RTSPMedia
    ) -> None:
        appsrc = media.get_element().get_by_name("src")
        client = self.camera.attach(appsrc)
        media.connect("unprepared", lambda _m: self.camera.detach(client))


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--mount",
        action="append",
        required=True,
        metavar="/PATH=FILE.mp4",
        help="serve FILE.mp4 at rtsp://127.0.0.1:PORT/PATH (repeatable)",
    )
    parser.add_argument(
        "--udp-ports",
        default="62000-62999",
        metavar="MIN-MAX",
        help="server-side RTP/RTCP ports for UDP clients, bound on 127.0.0.1 (default %(default)s)",
    )
    parser.add_argument("--verbose", action="store_true", help="log clients on stderr")
    parser.add_argument(
        "--watch-stdin", action="store_true", help="exit when stdin reaches EOF (parent died)"
    )
    args = parser.parse_args(argv)
    mounts: dict[str, str] = {}
    for spec in args.mount:
        path, sep, filename = spec.partition("=")
        if not sep or not path.startswith("/") or not filename:
            parser.error(f"bad --mount {spec!r}, expected /path=FILE.mp4")
        if not os.path.isfile(filename):
            parser.error(f"--mount {spec!r}: no such file")
        mounts[path] = os.path.abspath(filename)
    args.mounts = mounts
    low, sep, high = args.udp_ports.partition("-")
    if not (sep and low.isdigit() and high.isdigit() and 0 < int(low) < int(high) < 65536):
        parser.error(f"bad --udp-ports {args.udp_ports!r}, expected MIN-MAX")
    args.udp_range = (int(low), int(high))
    return args


def main(argv: list[str]) -> int:
    global VERBOSE
    args = parse_args(argv)
    VERBOSE = args.verbose
    Gst.init(None)

    cameras: list[Camera] = []
    server = GstRtspServer.RTSPServer()
    server.set_address(BIND_ADDRESS)
    server.set_service(str(args.port))
    # Default pool: one thread serves every client; let each client have its own.
    server.get_thread_pool().set_max_threads(-1)
    mount_points = server.get_mount_points()
    # UDP transport: without a unicast address pool the server binds its RTP/RTCP sockets on
    # 0.0.0.0; with one it binds them on 127.0.0.1 (ports taken by others are skipped).
    pool = GstRtspServer.RTSPAddressPool()
    if not pool.add_range(BIND_ADDRESS, BIND_ADDRESS, *args.udp_range, 0):
        print("gst_rtsp_server: bad --udp-ports", file=sys.stderr)
        return 2
    for path, filename in args.mounts.items():
        try:
            clip = load_clip(filename)
        except RuntimeError as exc:
            print(f"gst_rtsp_server: {exc}", file=sys.stderr)
            return 2
        camera = Camera(path, clip)
        factory = CameraFactory(camera)
        factory.set_address_pool(pool)
        mount_points.add_factory(path, factory)
        cameras.append(camera)

    loop = GLib.MainLoop()

    def quit_loop(*_args: object) -> bool:
        loop.quit()
        return GLib.SOURCE_REMOVE

    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGTERM, quit_loop)
    GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGINT, quit_loop)
    if args.watch_stdin:
        GLib.io_add_watch(
            GLib.IOChannel.unix_new(sys.stdin.fileno()),
            GLib.PRIORITY_DEFAULT,
            GLib.IOCondition.IN | GLib.IOCondition.HUP | GLib.IOCondition.ERR,
            lambda *_a: quit_loop() if not os.read(sys.stdin.fileno(), 4096) else True,
        )

    try:
        source_id = server.attach(None)
    except GLib.Error as exc:
        print(f"gst_rtsp_server: cannot listen on port {args.port}: {exc}", file=sys.stderr)
        return 3
    if not source_id:
        print(f"gst_rtsp_server: cannot listen on port {args.port}", file=sys.stderr)
        return 3
    for camera in cameras:
        camera.start()
    print("READY", flush=True)
    try:
        loop.run()
    finally:
        for camera in cameras:
            camera.stop()
        server.client_filter(lambda *_a: GstRtspServer.RTSPFilterResult.REMOVE)
        GLib.source_remove(source_id)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
