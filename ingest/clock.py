"""Media time: one continuous clock per camera across reconnects, loops and broken timestamps."""

from __future__ import annotations

from typing import Any

# Within one session, timestamps that jump further than this are a discontinuity, not time.
# Going back a little is normal (B-frames are stored out of presentation order).
MAX_BACK_S = 0.5
MAX_AHEAD_S = 5.0


class MediaClock:
    """Continuous media time across reconnects, file loops and broken timestamps."""

    def __init__(self, frame_step: float = 0.04) -> None:
        self.frame_step = frame_step
        self.offset = 0.0
        self.last = -frame_step  # so that a first packet without timestamp is at 0.0
        self._first: float | None = None

    def restart(self) -> None:
        """A new session (reconnect or loop) starts; its first packet continues the clock."""
        self._first = None

    def time_of(self, packet_t: float | None) -> float:
        if packet_t is None:
            self.last += self.frame_step
            return _microseconds(self.last)
        if self._first is None:
            self._first = packet_t
            self.offset = self.last + self.frame_step - packet_t
        t = packet_t + self.offset
        if 0.0 < t - self.last < 1.0:
            self.frame_step = t - self.last  # learn the frame interval from the stream
        if t < self.last - MAX_BACK_S or t > self.last + MAX_AHEAD_S:
            # the camera's clock jumped (reset, wrap, broken muxer): keep time moving
            self.offset += self.last + self.frame_step - t
            t = self.last + self.frame_step
        if t > self.last:
            self.last = t
        return _microseconds(t)


def _microseconds(t: float) -> float:
    """Media time to the microsecond: float noise (4.24 vs 4.240000000000001, from a packet
    stamped by extrapolation and its successor stamped by its own pts) must not read as time
    going backwards; rounding is monotone, so the order of real times is kept."""
    return round(t, 6)


def packet_time(packet: Any) -> float | None:
    ts = packet.pts if packet.pts is not None else packet.dts
    return None if ts is None else float(ts * packet.time_base)
