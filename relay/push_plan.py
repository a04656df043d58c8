"""Pure decisions of the stream push (relay/push.py), kept apart so that tables can test them.

* `output_plan`: which FFmpeg muxer and options a push URL needs (RTSP ANNOUNCE/RECORD, or
  FLV over RTMP);
* `Rebaser`: output timestamps that start at 0 and whose dts strictly increases;
* `PushState` and `failure_is_news`: the worker's states, and which failures are worth a
  warning (a change of state or reason), so that an upstream that stays down is not logged
  once per retry.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class PushState(StrEnum):
    WAITING_KEYFRAME = "waiting_keyframe"  # no output open: waiting for the camera's keyframe
    CONNECTING = "connecting"  # opening the upstream (connect, ANNOUNCE/handshake, header)
    PUSHING = "pushing"
    RECONNECTING = "reconnecting"  # the upstream failed: waiting for the next retry
    NO_STREAM = "no_stream"  # the camera stream has no reader (PushService)
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class OutputPlan:
    protocol: str  # "rtsp" or "rtmp"
    format: str  # the FFmpeg muxer
    options: dict[str, str]


def output_plan(url: str, rtsp_transport: str = "tcp", io_timeout_s: float = 10.0) -> OutputPlan:
    """The muxer and its options for a push URL (rtsp:// or rtmp://, any case)."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme == "rtsp":
        options = {
            "rtsp_transport": rtsp_transport,
            # socket timeout (µs) of the RTSP connection: a server that never answers
            # ANNOUNCE/SETUP/RECORD fails the open instead of hanging it
            "timeout": str(round(io_timeout_s * 1_000_000)),
        }
        return OutputPlan("rtsp", "rtsp", options)
    if scheme == "rtmp":
        # hand every packet to the socket at once: a live push must not sit in a buffer
        return OutputPlan("rtmp", "flv", {"flush_packets": "1"})
    raise ValueError("a push URL starts with rtsp:// or rtmp://")


class Rebaser:
    """Output timestamps of one push session, in the input's time base: dts from 0, strictly
    increasing, pts >= dts. A missing dts, a step back, or a jump ahead longer than `max_step`
    (the camera's clock jumped) is placed one frame after the previous packet, and later packets
    continue from there; `fixed` counts those."""

    def __init__(self, frame_ticks: int, max_step: int) -> None:
        self.step = max(1, frame_ticks)
        self.max_step = max(self.step, max_step)
        self.offset: int | None = None
        self.last_dts: int | None = None
        self.fixed = 0

    def place(self, pts: int | None, dts: int | None) -> tuple[int, int]:
        """(pts, dts) for the output; the first packet must carry a timestamp."""
        raw = dts if dts is not None else pts
        if self.offset is None or self.last_dts is None:
            if raw is None:
                raise ValueError("the first packet of a push has no timestamp")
            self.offset = raw
            out_dts = 0
        else:
            candidate = None if raw is None else raw - self.offset
            step = None if candidate is None else candidate - self.last_dts
            if step is None or step <= 0 or step > self.max_step:
                out_dts = self.last_dts + self.step
                if raw is not None:
                    self.offset = raw - out_dts
                self.fixed += 1
            else:
                out_dts = self.last_dts + step
                self.step = step
        self.last_dts = out_dts
        out_pts = out_dts if pts is None else max(out_dts, pts - self.offset)
        return out_pts, out_dts


def failure_is_news(failing: bool, previous_error: str | None, error: str) -> bool:
    """Whether an upstream failure deserves a warning: the first one after a successful open
    (or at start), or a new reason. The same failure again on a retry is a debug line only.
    `failing`: the previous attempt failed too."""
    return not failing or previous_error != error
