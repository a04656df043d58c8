"""The analysis worker: camera frames → mailbox → an engine that runs the analyzers → results.

Readers put each camera's newest sampled frame in a `LatestMailbox` (a slow analysis replaces
frames, it never stalls a reader). One worker thread takes what is ready, up to `max_batch`
cameras, and hands the batch to an engine:

- `LocalEngine` runs the analyzers in this process (tests, small sites);
- `hallwatch.analysis_process.ProcessEngine` runs them in a child process, so inference has a
  core of its own instead of sharing the GIL with the readers' demuxing and decoding.

Both answer with an `EngineReply`: each camera's FrameResult, the cameras whose analysis
failed (with the traceback text), and every camera's counters.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from analyzers.camera import (
    AnalysisCounters,
    BatchItem,
    CameraAnalyzer,
    FrameResult,
    PersonDetector,
    analyze_batch,
)
from analyzers.rules import Context
from hallwatch.mailbox import LatestMailbox
from ingest.tap import Frame

Image = npt.NDArray[np.uint8]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Job:
    """One camera's frame to analyse, with the site's context at its time."""

    camera: str
    image: Image
    ctx: Context


@dataclass(frozen=True, slots=True)
class Failure:
    camera: str
    error: str  # the traceback, as text (it may come from another process)


@dataclass(frozen=True, slots=True)
class EngineReply:
    results: tuple[FrameResult, ...] = ()
    failures: tuple[Failure, ...] = ()
    counters: Mapping[str, AnalysisCounters] = field(default_factory=dict)


class EngineLost(RuntimeError):
    """The engine lost its analyzers' state (its process died); it starts afresh next time."""


class Engine(Protocol):
    """Runs the analyzers. `submit` hands over a batch and `collect` returns the oldest
    submitted batch's reply, so a worker can keep a second batch waiting while the first is
    analysed; `analyze` is both at once."""

    def submit(self, jobs: Sequence[Job]) -> None: ...

    def collect(self) -> EngineReply: ...

    def analyze(self, jobs: Sequence[Job]) -> EngineReply: ...

    def flush(self, t: float) -> EngineReply:
        """Every camera's rules close their episodes and hand over their records."""
        ...

    def close(self) -> None: ...


class LocalEngine:
    """The analyzers in this process, batched through one detector."""

    def __init__(
        self, analyzers: Mapping[str, CameraAnalyzer], detector: PersonDetector, max_batch: int
    ) -> None:
        self.analyzers = dict(analyzers)
        self.detector = detector
        self.max_batch = max_batch
        self._replies: deque[EngineReply] = deque()

    def submit(self, jobs: Sequence[Job]) -> None:
        self._replies.append(self.analyze(jobs))

    def collect(self) -> EngineReply:
        return self._replies.popleft()

    def analyze(self, jobs: Sequence[Job]) -> EngineReply:
        failures: list[Failure] = []

        def failed(camera_id: str) -> None:  # called inside the except: the traceback is live
            failures.append(Failure(camera_id, traceback.format_exc()))

        items = [BatchItem(self.analyzers[job.camera], job.image, job.ctx) for job in jobs]
        done = analyze_batch(items, self.detector, self.max_batch, failed)
        return EngineReply(tuple(result for _, result in done), tuple(failures), self.counters())

    def flush(self, t: float) -> EngineReply:
        results = tuple(analyzer.flush(t) for analyzer in self.analyzers.values())
        return EngineReply(results, (), self.counters())

    def counters(self) -> dict[str, AnalysisCounters]:
        return {camera: analyzer.counters for camera, analyzer in self.analyzers.items()}

    def close(self) -> None:
        pass


ResultSink = Callable[[Frame, FrameResult], None]


class AnalysisWorker:
    """The mailbox and the one thread that feeds the engine and hands results to `on_result`.

    `on_result` runs on the worker thread; `on_lost` is told when the engine lost its state
    (so open episodes can be closed). Counters are the engine's last report.
    """

    def __init__(
        self,
        engine: Engine,
        context: Callable[[float], Context],
        on_result: ResultSink,
        max_batch: int,
        on_lost: Callable[[float], None] = lambda t: None,
        depth: int = 2,
    ) -> None:
        self.engine = engine
        self.context = context
        self.on_result = on_result
        self.on_lost = on_lost
        self.max_batch = max_batch
        self.depth = depth
        self.mailbox: LatestMailbox[Frame] = LatestMailbox()
        self.counters: dict[str, AnalysisCounters] = {}
        self.analysed = 0
        self.batches = 0
        self.errors: dict[str, int] = {}  # per camera: failed analyses and failed stores
        self.engine_losses = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="analysis", daemon=True)

    def sink(self, camera_id: str) -> Callable[[Frame], None]:
        def put(frame: Frame) -> None:
            self.mailbox.put(camera_id, frame)

        return put

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop taking frames and deliver the batches in flight (the engine stays open for a
        final `flush`). Waits for the engine's last reply, which its own timeout bounds, so
        that nobody else talks to the engine while this thread still does."""
        self._stop.set()
        self.mailbox.close()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        """Keep up to `depth` batches with the engine: while it analyses one, the next one
        waits in its pipe, so the engine never idles on this process's side of the work."""
        in_flight: deque[list[Frame]] = deque()
        while not self._stop.is_set():
            waiting = self.mailbox.get_many(self.max_batch, 0.0 if in_flight else 0.5)
            frames = [frame for _, frame in waiting]
            if frames and not self._submit(frames, in_flight):
                continue
            if in_flight and (len(in_flight) >= self.depth or not frames):
                self._collect(in_flight)
        while in_flight:  # deliver what was analysed before the stop
            self._collect(in_flight)

    def run_batch(self, frames: Sequence[Frame]) -> None:
        """Analyse one batch (one frame per camera) and deliver the results."""
        in_flight: deque[list[Frame]] = deque()
        if self._submit(list(frames), in_flight):
            self._collect(in_flight)

    def _submit(self, frames: list[Frame], in_flight: deque[list[Frame]]) -> bool:
        jobs = [Job(f.camera, f.image, self.context(f.wall_time)) for f in frames]
        self.batches += 1
        try:
            self.engine.submit(jobs)
        except EngineLost:
            self._engine_lost(frames, in_flight)
            return False
        in_flight.append(frames)
        return True

    def _collect(self, in_flight: deque[list[Frame]]) -> None:
        try:
            reply = self.engine.collect()
        except EngineLost:
            self._engine_lost([], in_flight)
            return
        frames = in_flight.popleft()
        self.deliver(reply, {f.camera: f for f in frames})

    def _engine_lost(self, frames: list[Frame], in_flight: deque[list[Frame]]) -> None:
        """Every batch with the engine is gone with it."""
        lost = [f for batch in in_flight for f in batch] + frames
        in_flight.clear()
        self.engine_losses += 1
        log.exception("analysis engine lost; it restarts with the next frames")
        self.on_lost(max(f.wall_time for f in lost))

    def deliver(self, reply: EngineReply, frames: Mapping[str, Frame]) -> None:
        self.counters.update(reply.counters)
        for failure in reply.failures:
            self._count_error(failure.camera)
            log.error("analysis failed on camera %s:\n%s", failure.camera, failure.error)
        for result in reply.results:
            self.analysed += 1
            try:
                self.on_result(frames[result.camera], result)
            except Exception:  # the other cameras' results still go out
                self._count_error(result.camera)
                log.exception("storing the analysis of camera %s failed", result.camera)

    def _count_error(self, camera_id: str) -> None:
        self.errors[camera_id] = self.errors.get(camera_id, 0) + 1
