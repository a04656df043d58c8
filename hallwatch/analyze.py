"""`hallwatch analyze`: run the analyzers over a recorded file as fast as the machine allows.

Prints JSON lines on stdout (media time in seconds from the start of the file):
  {"kind":"sample","t":12.0,"window":"W01","staff":1}
  {"kind":"event","type":"counter_vacant","window":"W01","start":20.0,"end":22.7}
This interface is stable: other tools depend on it.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import av

from analyzers.camera import CameraAnalyzer, FrameResult
from analyzers.vacancy import VacancyClosed
from hallwatch.calendar import in_service
from hallwatch.config import Schedule
from hallwatch.events import EventType
from ingest.clock import MediaClock, packet_time
from ingest.sampler import FrameSampler, Sample


@dataclass
class Timings:
    frames: int = 0
    decode_s: float = 0.0
    detect_s: float = 0.0
    decide_s: float = 0.0
    wall_s: float = 0.0

    def summary(self) -> dict[str, Any]:
        per = max(self.frames, 1)
        return {
            "kind": "stats",
            "frames": self.frames,
            "wall_s": round(self.wall_s, 3),
            "frames_per_s": round(self.frames / self.wall_s, 2) if self.wall_s else None,
            "decode_ms_per_frame": round(1000 * self.decode_s / per, 2),
            "detect_ms_per_frame": round(1000 * self.detect_s / per, 2),
            "decide_ms_per_frame": round(1000 * self.decide_s / per, 3),
        }


@dataclass
class ScheduleClock:
    """Maps media time to wall-clock time so the schedule can be respected offline."""

    schedule: Schedule
    start: dt.datetime

    def in_service(self, t: float) -> bool:
        return in_service(self.schedule, self.start + dt.timedelta(seconds=t))


def file_start_time(path: Path) -> dt.datetime:
    """The recording's start: container creation_time when present, else the file's mtime."""
    with av.open(str(path)) as container:
        created = container.metadata.get("creation_time")
    if created:
        try:
            return dt.datetime.fromisoformat(created.replace("Z", "+00:00"))
        except ValueError:
            pass
    return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)


def samples_of(path: Path, fps: float, timings: Timings) -> Iterator[Sample]:
    """Samples of `path` at `fps` (exact rate: keyframes only when they are dense enough)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        sampler = FrameSampler(stream.codec_context, fps, keyframe_slack=1.0)
        clock = MediaClock()
        started = time.perf_counter()
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            samples = sampler.push(packet, clock.time_of(packet_time(packet)))
            timings.decode_s += time.perf_counter() - started
            yield from samples
            started = time.perf_counter()


def result_lines(result: FrameResult, t0: float) -> Iterator[dict[str, Any]]:
    t = round(result.t - t0, 3)
    for sample in result.windows:
        line: dict[str, Any] = {"kind": "sample", "t": t, "window": sample.window}
        line["staff"] = sample.staff
        if sample.queue is not None:
            line["queue"] = sample.queue
        yield line
    for item in result.transitions:
        if isinstance(item.transition, VacancyClosed):
            yield _event_line(item.window, item.transition.start - t0, item.transition.end - t0)


def _event_line(window: str, start: float, end: float | None) -> dict[str, Any]:
    return {
        "kind": "event",
        "type": EventType.COUNTER_VACANT.value,
        "window": window,
        "start": round(start, 3),
        "end": None if end is None else round(end, 3),
    }


@dataclass
class AnalyzeRun:
    analyzer: CameraAnalyzer
    fps: float
    schedule: ScheduleClock | None = None
    timings: Timings = field(default_factory=Timings)

    def run(self, path: Path, out: TextIO, emit_stats: Callable[[dict[str, Any]], None]) -> None:
        begun = time.perf_counter()
        t0: float | None = None
        for sample in samples_of(path, self.fps, self.timings):
            t0 = sample.t if t0 is None else t0
            self.timings.frames += 1
            tick = time.perf_counter()
            detections = self.analyzer.detector.detect(sample.image)
            tock = time.perf_counter()
            serving = True if self.schedule is None else self.schedule.in_service(sample.t - t0)
            height, width = sample.image.shape[:2]
            result = self.analyzer.decide(width, height, detections, sample.t, serving)
            self.timings.detect_s += tock - tick
            self.timings.decide_s += time.perf_counter() - tock
            for line in result_lines(result, t0):
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
        for window in self.analyzer.windows:
            since = window.machine.open_since
            if since is not None and t0 is not None:
                line = _event_line(window.window_id, since - t0, None)
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
        out.flush()
        self.timings.wall_s = time.perf_counter() - begun
        emit_stats(self.timings.summary())
