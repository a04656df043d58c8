"""One camera stream shared by all its live viewers.

A `CameraFeed` holds ONE subscription to the camera's packet fan-out, however many viewers
watch. Its pump thread takes packets from that (thread-side, bounded, drop-oldest) queue, turns
them into Annex-B access units stamped on the camera's media clock, and hands them to the
asyncio loop, where each viewer has its own bounded `ViewerQueue`. A viewer whose queue is full
loses what it had queued and waits for the next keyframe: it never slows the other viewers, the
pump or the camera's reader. The feed keeps the current GOP (the packets since the last
keyframe) so that a new viewer starts at once, at a keyframe, instead of waiting for the next.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import av

from console.live.plan import StreamFacts
from ingest.annexb import AnnexB
from ingest.packets import FanOut, PacketItem, PacketQueue, SessionEnded, StreamInfo

log = logging.getLogger(__name__)

RTP_CLOCK = 90_000  # H.264 over RTP counts time in 90 kHz ticks
RTP_TIME_BASE = Fraction(1, RTP_CLOCK)
FANOUT_QUEUE = 128  # packets between the camera's reader and the pump (~5 s at 25 fps)
VIEWER_QUEUE = 64  # packets queued for one viewer before it drops to the next keyframe
MAX_GOP = 300  # packets kept for new viewers; a longer GOP is not kept (12 s at 25 fps)
PUMP_POLL_S = 0.5


class ViewerClosed(Exception):
    """The viewer's queue was closed: its session ended."""


@dataclass(frozen=True, slots=True)
class LivePacket:
    """One access unit, shared read-only by every viewer of the feed."""

    packet: Any = field(repr=False)  # av.Packet: Annex-B data, pts in 90 kHz ticks
    keyframe: bool
    wall_time: float


def stream_facts(info: StreamInfo) -> StreamFacts:
    context = getattr(info.template, "codec_context", None)
    b_frames = bool(getattr(context, "has_b_frames", False))
    return StreamFacts(info.codec, info.width, info.height, b_frames)


class ViewerQueue:
    """The packets on their way to one viewer (asyncio side; one reader: its track)."""

    def __init__(self, maxlen: int = VIEWER_QUEUE) -> None:
        self.maxlen = maxlen
        self.dropped = 0  # packets lost because this viewer fell behind
        self.skipped = 0  # packets not sent while waiting for a keyframe
        self.delivered = 0
        self._items: deque[LivePacket] = deque()
        self._ready = asyncio.Event()
        self._waiting_key = True
        self._closed = False

    def prime(self, gop: list[LivePacket]) -> None:
        """Start with the current GOP (it begins with a keyframe), if it fits."""
        if gop and gop[0].keyframe and len(gop) <= self.maxlen and not self._items:
            self._items.extend(gop)
            self._waiting_key = False
            self._ready.set()

    def offer(self, item: LivePacket) -> None:
        if self._closed:
            return
        if self._waiting_key and not item.keyframe:
            self.skipped += 1
            return
        self._waiting_key = False
        if len(self._items) >= self.maxlen:  # fell behind: resume at the next keyframe
            self.dropped += len(self._items)
            self._items.clear()
            if not item.keyframe:
                self._waiting_key = True
                self.skipped += 1
                return
        self._items.append(item)
        self._ready.set()

    def gap(self) -> None:
        """The stream broke (reconnect, lost packets): wait for the next keyframe."""
        self._waiting_key = True

    def close(self) -> None:
        self._closed = True
        self._ready.set()

    @property
    def closed(self) -> bool:
        return self._closed

    def __len__(self) -> int:
        return len(self._items)

    async def get(self) -> LivePacket:
        while not self._items:
            if self._closed:
                raise ViewerClosed
            self._ready.clear()
            await self._ready.wait()
        if self._closed:
            raise ViewerClosed
        self.delivered += 1
        return self._items.popleft()


class _Converter:
    """Pump-thread side: fan-out items to LivePackets, one stream session at a time."""

    def __init__(self) -> None:
        self.session: int | None = None
        self.facts: StreamFacts | None = None
        self._annexb: AnnexB | None = None
        self._last_pts: int | None = None

    def start_session(self, info: StreamInfo) -> StreamFacts:
        self.session = info.session
        self.facts = stream_facts(info)
        self._last_pts = None
        self._annexb = AnnexB(info.template, info.extradata) if self.facts.playable else None
        return self.facts

    def reordered(self, item: PacketItem) -> bool:
        """Whether packets arrive out of presentation order (B-frames the SPS did not show)."""
        pts = item.packet.pts
        if pts is None:
            return False
        late = self._last_pts is not None and pts < self._last_pts
        self._last_pts = pts if self._last_pts is None else max(pts, self._last_pts)
        return late

    def convert(self, item: PacketItem) -> LivePacket | None:
        if self._annexb is None:
            return None
        data = self._annexb.convert(item.packet, item.keyframe)
        if not data:
            return None
        packet = av.Packet(data)
        packet.pts = round(item.media_time * RTP_CLOCK)
        packet.time_base = RTP_TIME_BASE
        return LivePacket(packet, item.keyframe, item.wall_time)


class CameraFeed:
    """One camera stream ("main" or "sub") and its viewers; lives on one asyncio loop."""

    def __init__(
        self,
        camera: str,
        stream: str,
        fanout: FanOut,
        *,
        queue_size: int = FANOUT_QUEUE,
        viewer_queue: int = VIEWER_QUEUE,
    ) -> None:
        self.camera = camera
        self.stream = stream
        self.viewer_queue = viewer_queue
        self._fanout = fanout
        self._loop = asyncio.get_running_loop()
        self._queue: PacketQueue = fanout.subscribe(f"live:{stream}", queue_size)
        self._viewers: list[ViewerQueue] = []
        self._gop: list[LivePacket] = []
        self._facts_known = asyncio.Event()
        self.facts: StreamFacts | None = None
        self.packets = 0
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._pump, name=f"live-{camera}-{stream}", daemon=True
        )
        self._thread.start()

    # --- viewers (loop side) ------------------------------------------------------------------

    @property
    def viewers(self) -> list[ViewerQueue]:
        return list(self._viewers)

    def add_viewer(self) -> ViewerQueue:
        viewer = ViewerQueue(self.viewer_queue)
        viewer.prime(self._gop)
        self._viewers.append(viewer)
        return viewer

    def remove_viewer(self, viewer: ViewerQueue) -> None:
        viewer.close()
        self._viewers = [v for v in self._viewers if v is not viewer]

    async def wait_facts(self, timeout: float) -> StreamFacts | None:
        """The stream's facts once its first session is seen (None if none within timeout)."""
        try:
            await asyncio.wait_for(self._facts_known.wait(), timeout)
        except TimeoutError:
            return None
        return self.facts

    def stop(self) -> None:
        self._stopped.set()
        self._fanout.unsubscribe(self._queue)  # closes the queue: the pump ends
        for viewer in self._viewers:
            viewer.close()
        self._viewers = []
        self._gop = []

    @property
    def subscription(self) -> PacketQueue:
        return self._queue

    # --- loop side: what the pump hands over --------------------------------------------------

    def _on_facts(self, facts: StreamFacts) -> None:
        self.facts = facts
        self._facts_known.set()
        self._on_gap()

    def _on_gap(self) -> None:
        self._gop = []
        for viewer in self._viewers:
            viewer.gap()

    def _on_packets(self, items: Iterable[LivePacket]) -> None:
        for item in items:
            self.packets += 1
            if item.keyframe:
                self._gop = [item]
            elif self._gop:
                self._gop.append(item)
                if len(self._gop) > MAX_GOP:
                    self._gop = []
            for viewer in self._viewers:
                viewer.offer(item)

    # --- pump thread --------------------------------------------------------------------------

    def _post(self, callback: Any, *args: Any) -> bool:
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop is closed: the app is gone
            return False
        return True

    def _pump(self) -> None:
        converter = _Converter()
        dropped = 0
        while not self._stopped.is_set():
            item = self._queue.get(PUMP_POLL_S)
            if item is None:
                continue
            if self._queue.dropped != dropped:  # the pump fell behind the reader: resync
                dropped = self._queue.dropped
                if not self._post(self._on_gap):
                    return
            if not self._pump_one(converter, item):
                return

    def _pump_one(self, converter: _Converter, item: PacketItem | SessionEnded) -> bool:
        if isinstance(item, SessionEnded):
            converter.session = None
            return self._post(self._on_gap)
        if item.info.session != converter.session:
            facts = converter.start_session(item.info)
            log.info("live %s/%s: %s", self.camera, self.stream, facts)
            if not self._post(self._on_facts, facts):
                return False
        if converter.facts is None or not converter.facts.playable:
            return True
        if converter.reordered(item):
            facts = StreamFacts(converter.facts.codec, converter.facts.width,
                                converter.facts.height, b_frames=True)  # fmt: skip
            log.warning("live %s/%s: frames out of order (B-frames)", self.camera, self.stream)
            converter.facts = facts
            return self._post(self._on_facts, facts)
        try:
            live = converter.convert(item)
        except (av.error.FFmpegError, ValueError) as error:
            log.warning("live %s/%s: packet not converted: %s", self.camera, self.stream, error)
            return self._post(self._on_gap)
        return live is None or self._post(self._on_packets, (live,))
