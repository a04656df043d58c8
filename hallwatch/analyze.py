"""`hallwatch analyze`: run the analyzers over a recorded file as fast as the machine allows.

Prints JSON lines on stdout (media time in seconds from the start of the file):
  {"kind":"sample","t":12.0,"window":"W01","staff":1,"state":"staffed","service":"serving",
   "queue":3}                                   (queue: a window's queuing people, if it has a zone)
  {"kind":"sample","t":12.0,"queue_zone":"Q1","queue":4,"longest_wait_s":95.0}   (hall queues)
  {"kind":"sample","t":12.0,"zone":"Z1","persons":2,"alarms":["intrusion"]}      (tender zones)
  {"kind":"event","type":"counter_vacant","key":"W01","window":"W01","start":20.0,"end":22.7}
  {"kind":"wait","queue":"W01","track":7,"entered":3.0,"left":65.0,"wait_s":62.0}
An event still open when the file ends has "end": null; so has a wait cut by the end ("left"
is then the last time seen). Fields are only ever added: other tools depend on this.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import av

from analyzers.camera import CameraAnalyzer, FrameResult, Image, PersonDetector
from analyzers.detections import Detections
from analyzers.episodes import Closed, EpisodeChange
from analyzers.queue import Wait
from analyzers.rules import Context
from hallwatch.calendar import in_service
from hallwatch.config import Schedule
from ingest.clock import MediaClock, packet_time
from ingest.sampler import DecodePlan, FrameSampler, Sample


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

    def context(self, media_t: float, t: float) -> Context:
        """The context of the sample at media time `t` (seconds from the file's start)."""
        when = self.start + dt.timedelta(seconds=media_t)
        local = when.astimezone(ZoneInfo(self.schedule.timezone)).time()
        return Context(t, in_service(self.schedule, when), local)


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
        sampler = FrameSampler(
            stream.codec_context, fps, keyframe_slack=1.0, initial_plan=DecodePlan.ALL
        )
        clock = MediaClock()
        started = time.perf_counter()
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            samples = sampler.push(packet, clock.time_of(packet_time(packet)))
            timings.decode_s += time.perf_counter() - started
            yield from samples
            started = time.perf_counter()


def _r(value: float) -> float:
    return round(value, 3)


def result_lines(result: FrameResult, t0: float) -> Iterator[dict[str, Any]]:
    t = _r(result.t - t0)
    for sample in result.outputs.samples:
        yield {"kind": "sample", "t": t, **sample.to_json()}
    for change in result.outputs.changes:
        if isinstance(change.change, Closed):
            yield event_line(change, t0, ended=True)
    for wait in result.outputs.waits:
        yield wait_line(wait, t0, finished=True)


def event_line(change: EpisodeChange, t0: float, ended: bool) -> dict[str, Any]:
    end = change.change.end if isinstance(change.change, Closed) and ended else None
    return {
        "kind": "event",
        "type": change.kind,
        "key": change.key,
        "window": change.window,
        "start": _r(change.change.start - t0),
        "end": None if end is None else _r(end - t0),
        **{k: v for k, v in change.details.items() if k not in ("start", "end")},
    }


def wait_line(wait: Wait, t0: float, finished: bool) -> dict[str, Any]:
    return {
        "kind": "wait",
        "queue": wait.queue_id,
        "track": wait.track_id,
        "entered": _r(wait.entered - t0),
        "left": _r(wait.left - t0),
        "wait_s": _r(wait.wait_s) if finished else None,
    }


class TimedDetector:
    """A detector that adds the time spent in it to `timings.detect_s`."""

    def __init__(self, detector: PersonDetector, timings: Timings) -> None:
        self.detector = detector
        self.timings = timings

    def detect(self, image_bgr: Image) -> Detections:
        return self.detect_batch([image_bgr])[0]

    def detect_batch(self, images: Sequence[Image]) -> list[Detections]:
        tick = time.perf_counter()
        try:
            return self.detector.detect_batch(images)
        finally:
            self.timings.detect_s += time.perf_counter() - tick


@dataclass
class AnalyzeRun:
    """Analyse one file with `analyzer`, whose detector should be a TimedDetector over
    `timings` (else detection time counts as decision time)."""

    analyzer: CameraAnalyzer
    fps: float
    schedule: ScheduleClock | None = None
    timings: Timings = field(default_factory=Timings)

    def run(self, path: Path, out: TextIO, emit_stats: Callable[[dict[str, Any]], None]) -> None:
        begun = time.perf_counter()
        t0: float | None = None
        last = 0.0

        def write(line: dict[str, Any]) -> None:
            out.write(json.dumps(line, ensure_ascii=False) + "\n")

        for sample in samples_of(path, self.fps, self.timings):
            t0 = sample.t if t0 is None else t0
            last = sample.t
            self.timings.frames += 1
            for line in result_lines(self._analyze(sample.image, sample.t, t0), t0):
                write(line)
        if t0 is not None:
            self._finish(last, t0, write)
        out.flush()
        self.timings.wall_s = time.perf_counter() - begun
        summary = self.timings.summary()
        counters = self.analyzer.counters
        summary.update(inferences=counters.inferences, inferences_skipped=counters.skipped)
        emit_stats(summary)

    def _analyze(self, image: Any, t: float, t0: float) -> FrameResult:
        clock = self.schedule
        ctx = Context(t, True) if clock is None else clock.context(t - t0, t)
        tick, detect_before = time.perf_counter(), self.timings.detect_s
        result = self.analyzer.analyze(image, ctx)
        spent = time.perf_counter() - tick
        self.timings.decide_s += spent - (self.timings.detect_s - detect_before)
        return result

    def _finish(self, last: float, t0: float, write: Callable[[dict[str, Any]], None]) -> None:
        """The file ended: what is still open is reported open (end null)."""
        final = self.analyzer.flush(last)
        for change in final.outputs.changes:
            write(event_line(change, t0, ended=False))
        for wait in final.outputs.waits:
            write(wait_line(wait, t0, finished=False))
