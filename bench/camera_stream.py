"""The H.264 settings of the benches' synthetic camera clips: what a hall camera sends."""

from __future__ import annotations

from fractions import Fraction
from typing import Any


def camera_h264_stream(out: Any, size: tuple[int, int], kbps: int, fps: int = 25) -> Any:
    """An x264 output stream on `out` as cameras are set up: main profile, GOP = 1 s, CBR
    `kbps`, no B-frames (so that keyframe-only decoding and WebRTC passthrough both work)."""
    stream = out.add_stream("libx264", rate=fps)
    stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
    stream.time_base = Fraction(1, fps)
    stream.bit_rate = kbps * 1000
    stream.options = {"preset": "veryfast", "profile": "main",
                      "x264-params": f"keyint={fps}:min-keyint={fps}:scenecut=0:bframes=0:"
                                     f"sliced-threads=0:nal-hrd=cbr:vbv-maxrate={kbps}:"
                                     f"vbv-bufsize={kbps}"}  # fmt: skip
    return stream
