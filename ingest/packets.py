"""Packets fanned out from one camera connection to every consumer.

The reader demuxes each camera once and offers every video packet to each subscriber's
bounded queue. A full queue drops (the oldest item, or the offered one) and counts the drop:
a slow consumer never stalls the reader and never grows memory.

Muxing consumers (recorder, relay) need the stream's codec parameters after the camera's
input container may already be closed (a reconnect); `detached_template` copies them into a
stream that lives on its own.
"""

from __future__ import annotations

import io
import threading
from collections import deque
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import av


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """One connection (session) of a camera: a reconnect or a file loop starts a new one."""

    camera: str
    session: int
    codec: str  # "h264", "hevc", ...
    width: int
    height: int
    time_base: Fraction
    template: Any = field(repr=False)  # detached av stream usable with add_stream_from_template
    extradata: bytes = field(repr=False, default=b"")
    started_at: float = 0.0  # UNIX time the session began


@dataclass(frozen=True, slots=True)
class PacketItem:
    info: StreamInfo
    packet: Any = field(repr=False)  # av.Packet: shared, read-only; use copy_packet() to mux
    media_time: float  # seconds on the camera's continuous media clock
    wall_time: float  # UNIX time the packet was demuxed
    keyframe: bool


@dataclass(frozen=True, slots=True)
class SessionEnded:
    info: StreamInfo
    wall_time: float
    reason: str


Item = PacketItem | SessionEnded


def detached_template(stream: Any) -> Any:
    """A copy of `stream`'s codec parameters that outlives the input container."""
    holder = av.open(io.BytesIO(), mode="w", format="matroska")
    return holder.add_stream_from_template(stream)


def copy_packet(item: PacketItem) -> Any:
    """A private copy of the packet's data and timing, safe to re-stream and mux."""
    source = item.packet
    packet = av.Packet(bytes(source))
    packet.pts = source.pts
    packet.dts = source.dts
    packet.time_base = source.time_base
    packet.is_keyframe = source.is_keyframe
    return packet


class PacketQueue:
    """A bounded queue for one consumer; drops are counted, `put` never blocks."""

    def __init__(self, name: str, maxlen: int, *, keyframes_only: bool = False) -> None:
        self.name = name
        self.maxlen = maxlen
        self.keyframes_only = keyframes_only
        self.dropped = 0
        self.delivered = 0
        self.filtered = 0  # non-key packets not queued because only keyframes were wanted
        self._items: deque[Item] = deque()
        self._cond = threading.Condition()
        self._closed = False

    def offer(self, item: Item) -> None:
        if self.keyframes_only and isinstance(item, PacketItem) and not item.keyframe:
            self.filtered += 1
            return
        with self._cond:
            if self._closed:
                return
            if len(self._items) >= self.maxlen:
                self._items.popleft()  # the oldest goes: consumers want the newest data
                self.dropped += 1
            self._items.append(item)
            self._cond.notify()

    def get(self, timeout: float | None = None) -> Item | None:
        """Next item, or None on timeout or once closed and empty."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._items or self._closed, timeout):
                return None
            if not self._items:
                return None
            self.delivered += 1
            return self._items.popleft()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)


class FanOut:
    """The subscribers of one camera; the reader offers each item to all of them."""

    def __init__(self) -> None:
        self._queues: list[PacketQueue] = []
        self._lock = threading.Lock()

    def subscribe(self, name: str, maxlen: int, *, keyframes_only: bool = False) -> PacketQueue:
        queue = PacketQueue(name, maxlen, keyframes_only=keyframes_only)
        with self._lock:
            self._queues = [*self._queues, queue]
        return queue

    def unsubscribe(self, queue: PacketQueue) -> None:
        with self._lock:
            self._queues = [q for q in self._queues if q is not queue]
        queue.close()

    def publish(self, item: Item) -> None:
        for queue in self._queues:  # a snapshot: subscribe/unsubscribe replace the list
            queue.offer(item)

    @property
    def queues(self) -> list[PacketQueue]:
        return list(self._queues)

    def drops(self) -> dict[str, int]:
        return {queue.name: queue.dropped for queue in self._queues}
