"""Synthetic H.264 test clips generated with PyAV.

Frames are drawn with numpy: a grey gradient background, a box that moves across the picture
and a row of black/white bars encoding the frame number in binary, so every frame differs and
the frame index can be read back from a decoded picture with :func:`read_frame_counter`.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt

COUNTER_BITS = 16
"""Number of bars in the frame counter strip at the bottom of each frame."""

_BOX = 48


def _bar_geometry(width: int, height: int) -> tuple[int, int, int]:
    """Return (bar_width, strip_top, strip_bottom) for the frame counter strip."""
    bar_w = max(2, width // COUNTER_BITS)
    strip_h = max(4, height // 12)
    return bar_w, height - strip_h, height


def make_frame(
    index: int, size: tuple[int, int] = (640, 360), fps: int = 10
) -> npt.NDArray[np.uint8]:
    """Draw frame ``index`` as an RGB array of shape (height, width, 3)."""
    width, height = size
    img = np.empty((height, width, 3), dtype=np.uint8)
    # Static gradient background (gives the encoder some texture to work with).
    xs = np.linspace(40, 160, width, dtype=np.float32)
    ys = np.linspace(0, 60, height, dtype=np.float32)
    img[:, :, 0] = (xs[None, :] + ys[:, None]).astype(np.uint8)
    img[:, :, 1] = 90
    img[:, :, 2] = (200 - xs[None, :] / 2).astype(np.uint8)

    bar_w, strip_top, strip_bottom = _bar_geometry(width, height)
    # Box bouncing horizontally, one full sweep every 4 s; vertical drift every 3 s.
    box = min(_BOX, width // 4, strip_top // 2)
    span_x = max(1, width - box)
    span_y = max(1, strip_top - box)
    phase_x = (index / (4.0 * fps)) % 2.0
    phase_y = (index / (3.0 * fps)) % 2.0
    x = int(span_x * (phase_x if phase_x <= 1.0 else 2.0 - phase_x))
    y = int(span_y * (phase_y if phase_y <= 1.0 else 2.0 - phase_y))
    img[y : y + box, x : x + box] = (250, 220, 20)

    # Frame counter: COUNTER_BITS bars, most significant bit first, white = 1.
    img[strip_top:strip_bottom, :] = 0
    for bit in range(COUNTER_BITS):
        if (index >> (COUNTER_BITS - 1 - bit)) & 1:
            img[strip_top:strip_bottom, bit * bar_w : (bit + 1) * bar_w] = 255
    return img


def read_frame_counter(rgb: npt.NDArray[Any]) -> int:
    """Read back the frame index drawn by :func:`make_frame` from a decoded RGB frame."""
    height, width = rgb.shape[:2]
    bar_w, strip_top, strip_bottom = _bar_geometry(width, height)
    mid_y = (strip_top + strip_bottom) // 2
    value = 0
    for bit in range(COUNTER_BITS):
        x0 = bit * bar_w + bar_w // 4
        x1 = max(x0 + 1, (bit + 1) * bar_w - bar_w // 4)
        level = float(rgb[mid_y - 1 : mid_y + 2, x0:x1].mean())
        value = (value << 1) | int(level > 128)
    return value


def make_clip(
    path: Path,
    *,
    seconds: float = 10,
    fps: int = 10,
    size: tuple[int, int] = (640, 360),
    gop: int | None = None,
    codec: str = "libx264",
) -> Path:
    """Write a synthetic H.264 MP4 clip and return ``path``.

    The stream has no B-frames, a fixed GOP (``fps`` frames, i.e. one keyframe per second,
    unless ``gop`` is given), one slice per frame and yuv420p pixels. ``size`` is
    (width, height) and must be even in both dimensions.
    """
    width, height = size
    if width % 2 or height % 2:
        raise ValueError(f"size must be even for yuv420p, got {size}")
    if fps <= 0 or seconds <= 0:
        raise ValueError("fps and seconds must be positive")
    keyint = gop if gop is not None else fps
    if keyint <= 0:
        raise ValueError("gop must be positive")
    n_frames = max(1, round(seconds * fps))

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream(codec, rate=fps)
        if not isinstance(stream, av.VideoStream):
            raise ValueError(f"{codec!r} is not a video codec")
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, fps)
        ctx = stream.codec_context
        ctx.gop_size = keyint
        ctx.max_b_frames = 0
        if codec == "libx264":
            # Frame threads only (no sliced threads) => exactly one slice per frame.
            # No zerolatency tune: it switches on sliced threads.
            stream.options = {
                "preset": "veryfast",
                "profile": "main",
                "x264-params": (
                    f"keyint={keyint}:min-keyint={keyint}:scenecut=0:bframes=0:"
                    "sliced-threads=0:slices=1:open-gop=0:repeat-headers=1"
                ),
            }
        for index in range(n_frames):
            frame = av.VideoFrame.from_ndarray(make_frame(index, size, fps), format="rgb24")
            frame = frame.reformat(format="yuv420p")
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path
