"""A camera reader with an analysis tap whose frames land in a list (for ingest tests)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ingest.reader import CameraReader
from ingest.source import Source
from ingest.tap import Frame, FrameTap


@contextmanager
def sampled(
    source: Source, *, sample_fps: float = 1.0, **reader_options: Any
) -> Iterator[tuple[CameraReader, FrameTap, list[Frame]]]:
    frames: list[Frame] = []
    reader = CameraReader("cam", source, **reader_options)
    queue = reader.fanout.subscribe("analysis", 64, keyframes_only=True)
    tap = FrameTap("cam", queue, frames.append, sample_fps=sample_fps)
    tap.start()
    reader.start()
    try:
        yield reader, tap, frames
    finally:
        reader.stop()
        tap.stop()
