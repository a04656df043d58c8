"""Analysis tap: turns a camera's packets into sampled BGR frames in its own thread.

It subscribes to the camera's fan-out for keyframes only while keyframes are dense enough for
the sample rate, and asks for every packet only when it must decode them all: nothing is
decoded that analysis did not ask for, and decoding never runs in the reader's thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import av

from ingest.packets import PacketItem, PacketQueue, StreamInfo
from ingest.sampler import DecodePlan, FrameSampler, Image

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Frame:
    camera: str
    wall_time: float  # UNIX time the packet was received
    media_time: float  # seconds on the camera's continuous media clock
    image: Image  # BGR


def decoder_for(info: StreamInfo) -> Any:
    """A fresh decoder for a session's codec, primed with its extradata (SPS/PPS or avcC)."""
    ctx = av.CodecContext.create(info.codec, "r")
    if info.extradata:
        ctx.extradata = info.extradata
    ctx.thread_type = "SLICE"
    return ctx


class FrameTap:
    def __init__(
        self,
        camera_id: str,
        queue: PacketQueue,
        sink: Callable[[Frame], None],
        *,
        sample_fps: float = 1.0,
        max_width: int = 960,
    ) -> None:
        self.camera_id = camera_id
        self.queue = queue
        self.sink = sink
        self.sample_fps = sample_fps
        self.max_width = max_width
        self.frames_sampled = 0
        self.frames_decoded = 0
        self.decode_errors = 0
        self._sampler: FrameSampler | None = None
        self._session = -1
        self._filtered_at_switch: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"tap-{camera_id}", daemon=True)
        queue.keyframes_only = True

    @property
    def decode_plan(self) -> str:
        return (self._sampler.plan if self._sampler else DecodePlan.KEYFRAMES).value

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.queue.close()
        self._thread.join(10)

    def stats(self) -> dict[str, Any]:
        return {
            "decode_plan": self.decode_plan,
            "frames_sampled": self.frames_sampled,
            "frames_decoded": self.frames_decoded,
            "decode_errors": self.decode_errors,
            "dropped": self.queue.dropped,
        }

    def _run(self) -> None:
        while not self._stop.is_set():
            item = self.queue.get(timeout=0.5)
            if isinstance(item, PacketItem):
                try:
                    self._handle(item)
                except av.error.FFmpegError as error:
                    self.decode_errors += 1
                    log.debug("camera %s: decode error %s", self.camera_id, error)
                    if self._sampler is not None:
                        self._sampler.resync()  # start again at the next keyframe
                except Exception:  # a bug must not end analysis of this camera for good
                    self.decode_errors += 1
                    log.exception("camera %s: analysis tap failed on a packet", self.camera_id)
                    self._sampler = None

    def _sampler_for(self, info: StreamInfo) -> FrameSampler:
        if self._sampler is None:
            self._sampler = FrameSampler(
                decoder_for(info), self.sample_fps, max_width=self.max_width
            )
        elif info.session != self._session:
            self._sampler.new_decoder(decoder_for(info))  # reconnect or loop: same grid
        self._session = info.session
        return self._sampler

    def _handle(self, item: PacketItem) -> None:
        sampler = self._sampler_for(item.info)
        if self._filtered_at_switch is not None:
            if self.queue.filtered != self._filtered_at_switch:
                sampler.resync()  # packets after the switch's keyframe were filtered out
            self._filtered_at_switch = None
        before_plan, before_decoded = sampler.plan, sampler.decoded
        samples = sampler.push(item.packet, item.media_time)
        self.frames_decoded += sampler.decoded - before_decoded
        if sampler.plan is not before_plan:
            self.queue.keyframes_only = sampler.plan is DecodePlan.KEYFRAMES
            self._filtered_at_switch = self.queue.filtered
            log.info("camera %s: analysis decodes %s", self.camera_id, sampler.plan.value)
        for sample in samples:
            self.frames_sampled += 1
            self.sink(Frame(self.camera_id, item.wall_time, sample.t, sample.image))
