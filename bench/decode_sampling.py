"""Bench: CPU cost of getting ~1 analysis frame/s out of a camera stream.

Compares, in one run on the same file:
  ours      FrameSampler: keyframes only (skip_frame=NONKEY), convert the sampled frames
  naive     decode every frame with PyAV, convert one per second
  opencv    cv2.VideoCapture reading every frame (what many NVR scripts do)
Prints CPU seconds per minute of video and the ratios.

usage: python bench/decode_sampling.py [VIDEO]   (default: the packaged demo clip)
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import av
import cv2

from ingest.clock import packet_time
from ingest.sampler import FrameSampler

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO / "hallwatch" / "demo" / "one-by-one-person-detection.mp4"


def ours(path: Path) -> int:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        sampler = FrameSampler(stream.codec_context, 1.0)
        frames = 0
        for packet in container.demux(stream):
            if packet.size:
                frames += len(sampler.push(packet, packet_time(packet) or 0.0))
        return frames


def naive(path: Path) -> int:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames, next_due = 0, 0.0
        for frame in container.decode(stream):
            if frame.time is not None and frame.time >= next_due:
                frame.to_ndarray(format="bgr24")
                frames += 1
                next_due += 1.0
        return frames


def opencv(path: Path) -> int:
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    frames = index = 0
    while True:
        ok, _ = capture.read()
        if not ok:
            break
        if index % round(fps) == 0:
            frames += 1
        index += 1
    capture.release()
    return frames


def cpu_seconds(fn: Callable[[Path], int], path: Path) -> tuple[float, int]:
    start = time.process_time()
    frames = fn(path)
    return time.process_time() - start, frames


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        minutes = (container.duration or 60_000_000) / 1e6 / 60
        print(f"{path.name}: {stream.codec_context.name} {stream.width}x{stream.height}"
              f" {float(stream.average_rate or 0):.0f} fps, {minutes * 60:.1f} s")  # fmt: skip
    results = {}
    for name, fn in (("ours", ours), ("naive", naive), ("opencv", opencv)):
        cpu, frames = min((cpu_seconds(fn, path) for _ in range(3)), key=lambda r: r[0])
        results[name] = cpu
        print(f"{name:7s} {frames:5d} frames  {cpu / minutes:7.3f} CPU s per minute of video")
    for name in ("naive", "opencv"):
        print(f"{name} / ours = {results[name] / results['ours']:.1f}x")


if __name__ == "__main__":
    main()
