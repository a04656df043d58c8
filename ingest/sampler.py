"""Frame sampling: decode only what analysis needs from a stream of packets.

Keyframes only (libavcodec `skip_frame=NONKEY`) when the stream's keyframes come often enough
for the sample rate, else every frame is decoded and only due frames are converted.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]


DENSE_GOPS_TO_SWITCH_BACK = 3


class DecodePlan(StrEnum):
    KEYFRAMES = "keyframes"
    ALL = "all"


def choose_plan(
    keyframe_interval_s: float | None, sample_interval_s: float, slack: float = 2.0
) -> DecodePlan:
    """Keyframes suffice unless they are more than `slack` times as far apart as the samples
    we want (live analysis accepts about 1 frame/s; offline analysis asks for an exact rate)."""
    if keyframe_interval_s is None or keyframe_interval_s <= slack * sample_interval_s + 1e-3:
        return DecodePlan.KEYFRAMES
    return DecodePlan.ALL


def output_size(width: int, height: int, max_width: int) -> tuple[int, int]:
    """Scale down to at most `max_width`, keeping the aspect ratio and even dimensions."""
    if width <= max_width:
        return width, height
    scaled_height = round(height * max_width / width)
    return max_width, scaled_height + (scaled_height % 2)


@dataclass(frozen=True, slots=True)
class Sample:
    t: float  # media time, seconds
    image: Image  # BGR


class FrameSampler:
    """Feed every video packet with its media time; returns the samples that are due."""

    def __init__(
        self,
        codec_context: Any,
        sample_fps: float,
        *,
        max_width: int = 1280,
        keyframe_slack: float = 2.0,
        initial_plan: DecodePlan = DecodePlan.KEYFRAMES,
    ) -> None:
        """`initial_plan` ALL suits a file analysed from its start: nothing is lost while the
        keyframe interval is still unknown (it moves to keyframes once GOPs prove dense)."""
        self.codec = codec_context
        self.interval = 1.0 / sample_fps
        self.keyframe_slack = keyframe_slack
        self.max_width = max_width
        self.plan = initial_plan
        self.decoded = 0
        self._next_due: float | None = None
        self._last_keyframe_t: float | None = None
        self._started = False  # decoding only starts at a keyframe
        self._dense_gops = 0
        self.codec.skip_frame = "NONKEY" if initial_plan is DecodePlan.KEYFRAMES else "DEFAULT"

    def _due(self, t: float) -> bool:
        return self._next_due is None or t >= self._next_due - 0.25 * self.interval

    def _mark(self, t: float) -> None:
        """Advance the sampling grid by one interval (restart it after a gap)."""
        due = t if self._next_due is None else self._next_due
        self._next_due = due + self.interval if due + self.interval > t else t + self.interval

    def _observe_keyframe(self, t: float) -> None:
        if self._last_keyframe_t is not None and t > self._last_keyframe_t:
            plan = choose_plan(t - self._last_keyframe_t, self.interval, self.keyframe_slack)
            # back to keyframes only after several dense GOPs (a file loop or a reconnect
            # makes one short interval; it must not flip the plan)
            self._dense_gops = self._dense_gops + 1 if plan is DecodePlan.KEYFRAMES else 0
            if plan is DecodePlan.ALL or self._dense_gops >= DENSE_GOPS_TO_SWITCH_BACK:
                self._set_plan(plan)
        self._last_keyframe_t = t

    def _set_plan(self, plan: DecodePlan) -> None:
        if plan is not self.plan:
            self.plan = plan
            if plan is DecodePlan.KEYFRAMES:
                # a frame-threaded decoder still holds pictures of the last GOP; they would
                # come out as the next keyframes' pictures, one GOP late
                self.codec.flush_buffers()
            self.codec.skip_frame = "NONKEY" if plan is DecodePlan.KEYFRAMES else "DEFAULT"

    def new_decoder(self, codec_context: Any) -> None:
        """A new session of the same camera: keep the plan and the sampling grid."""
        self.codec = codec_context
        self.codec.skip_frame = "NONKEY" if self.plan is DecodePlan.KEYFRAMES else "DEFAULT"
        self._started = False

    def resync(self) -> None:
        """Start decoding again at the next keyframe (packets were missed)."""
        self._started = False
        self.codec.flush_buffers()

    def push(self, packet: Any, t: float) -> list[Sample]:
        if packet.is_keyframe:
            self._observe_keyframe(t)
            self._started = True
        if not self._started:
            return []
        if self.plan is DecodePlan.KEYFRAMES:
            if not packet.is_keyframe or not self._due(t):
                return []
            return self._decode_keyframe(packet, t)
        return self._decode_any(packet, t)

    def _decode_keyframe(self, packet: Any, t: float) -> list[Sample]:
        frames = _of_packet(self.codec.decode(packet), packet)
        if not frames:
            # a decoder with a reorder delay holds the frame back: drain it, then reset
            frames = _of_packet(self.codec.decode(None), packet)
            self.codec.flush_buffers()
        self.decoded += len(frames)
        if not frames:
            return []
        self._mark(t)
        return [Sample(t, self._convert(frames[-1]))]

    def _decode_any(self, packet: Any, t: float) -> list[Sample]:
        samples = []
        for frame in self.codec.decode(packet):
            self.decoded += 1
            frame_t = t if frame.time is None or packet.pts is None else _frame_t(frame, packet, t)
            if self._due(frame_t):
                self._mark(frame_t)
                samples.append(Sample(frame_t, self._convert(frame)))
        return samples

    def _convert(self, frame: Any) -> Image:
        width, height = output_size(frame.width, frame.height, self.max_width)
        image = frame.to_ndarray(
            format="bgr24", width=width, height=height, interpolation="FAST_BILINEAR"
        )
        return np.ascontiguousarray(image)


def _of_packet(frames: list[Any], packet: Any) -> list[Any]:
    """The frames that are this packet's picture (all of them when timestamps are missing)."""
    if packet.pts is None:
        return frames
    return [frame for frame in frames if frame.pts is None or frame.pts == packet.pts]


def _frame_t(frame: Any, packet: Any, packet_t: float) -> float:
    """Media time of a decoded frame, on the same clock as `packet_t` (frames may be reordered)."""
    return packet_t + float((frame.pts - packet.pts) * packet.time_base)
