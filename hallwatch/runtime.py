"""The live pipeline: camera readers → mailbox → analysis worker → store and live state."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from analyzers.camera import (
    BatchItem,
    CameraAnalyzer,
    FrameResult,
    PersonDetector,
    analyze_batch,
)
from analyzers.episodes import Opened
from analyzers.rules import Context, QueueSample, WindowSample, ZoneSample
from hallwatch.annotate import annotate, to_jpeg
from hallwatch.calendar import in_service
from hallwatch.config import Site
from hallwatch.events import Event
from hallwatch.live import LiveView
from hallwatch.mailbox import LatestMailbox
from hallwatch.pipeline import CameraPipeline
from hallwatch.recording import RecordingService
from hallwatch.rules import camera_analyzer
from hallwatch.statistics import Statistics, record_outputs
from hallwatch.store import Store
from ingest.tap import Frame

log = logging.getLogger(__name__)


class Runtime:
    """Owns the readers and the analysis worker; the console reads from it."""

    def __init__(
        self,
        site: Site,
        config_path: Path,
        store: Store,
        detector: PersonDetector,
        data_dir: Path | None = None,
    ) -> None:
        self.site = site
        self.store = store
        self.mailbox: LatestMailbox[Frame] = LatestMailbox()
        self.detector = detector
        self.statistics = Statistics(store)
        self.analyzers: dict[str, CameraAnalyzer] = {
            camera.id: camera_analyzer(site, camera, detector) for camera in site.cameras
        }
        self._zone = ZoneInfo(site.schedule.timezone)
        self.pipelines = {
            camera.id: CameraPipeline(
                camera, config_path.parent, self._sink(camera.id), self._outage
            )
            for camera in site.cameras
        }
        self.recording: RecordingService | None = None
        if site.recording.enabled and data_dir is not None:
            self.recording = RecordingService(site, store, data_dir)
            for camera in site.cameras:
                if camera.record:
                    self.recording.attach(camera.id, self.pipelines[camera.id].main.fanout)
        self._live: dict[str, LiveView] = {}
        self._open_events: dict[tuple[str, str], int] = {}  # (camera, episode key) -> event
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._work, name="analysis", daemon=True)
        self.analysis_errors = 0

    def _sink(self, camera_id: str) -> Callable[[Frame], None]:
        def put(frame: Frame) -> None:
            self.mailbox.put(camera_id, frame)

        return put

    def _outage(self, camera_id: str, start: float, end: float | None) -> None:
        """Camera outages become gaps in the store, so the console can show them."""
        if end is None:
            self.store.open_gap(camera_id, start, "no video")
        else:
            self.store.close_gap(camera_id, end)

    def start(self) -> None:
        closed = self.store.end_open_events(time.time(), "restart")
        if closed:
            log.info("closed %d event(s) left open by the previous run", closed)
        self._worker.start()
        if self.recording is not None:
            self.recording.start()
        for pipeline in self.pipelines.values():
            pipeline.start()

    def stop(self) -> None:
        self._stop.set()
        self.mailbox.close()
        for pipeline in self.pipelines.values():
            pipeline.stop()
        self._worker.join(10)
        now = time.time()
        for camera_id, analyzer in self.analyzers.items():  # close episodes, keep the minutes
            self.record(camera_id, analyzer.flush(now))
        if self.recording is not None:
            self.recording.stop()
        for camera_id in self.pipelines:  # nothing is recorded until we run again
            self.store.open_gap(camera_id, now, "hallwatch stopped")

    # --- views for the console --------------------------------------------------------------

    def live(self, camera_id: str) -> LiveView | None:
        with self._lock:
            return self._live.get(camera_id)

    def camera_status(self, camera_id: str) -> dict[str, Any]:
        status = self.pipelines[camera_id].status()
        status["analysis"]["dropped_frames"] = self.mailbox.dropped.get(camera_id, 0)
        counters = self.analyzers[camera_id].counters
        status["analysis"].update(
            frames_analysed=counters.frames,
            inferences=counters.inferences,
            inferences_skipped=counters.skipped,
            detector_images=counters.crops,
        )
        status["recording"] = None if self.recording is None else self.recording.stats(camera_id)
        return status

    # --- the worker -------------------------------------------------------------------------

    def _work(self) -> None:
        while not self._stop.is_set():
            batch = self.mailbox.get_many(self.site.analysis.max_batch, timeout=0.5)
            if batch:
                self._analyze_batch(batch)

    def context(self, wall_time: float) -> Context:
        when = dt.datetime.fromtimestamp(wall_time, dt.UTC)
        local = when.astimezone(self._zone).time()
        return Context(wall_time, in_service(self.site.schedule, when), local)

    def _analyze_batch(self, batch: list[tuple[str, Frame]]) -> None:
        """One detector pass for every ready camera's crops, then each camera's rules."""
        items = [
            BatchItem(self.analyzers[camera_id], frame.image, self.context(frame.wall_time))
            for camera_id, frame in batch
        ]
        frames = {camera_id: frame for camera_id, frame in batch}
        done = analyze_batch(items, self.detector, self.site.analysis.max_batch, self._failed)
        for item, result in done:
            camera_id = item.analyzer.camera_id
            try:
                self.record(camera_id, result)
                self._show(camera_id, frames[camera_id], result)
            except Exception:  # keep analysing the other cameras; the error is logged
                self._failed(camera_id)

    def _failed(self, camera_id: str) -> None:
        self.analysis_errors += 1
        log.exception("analysis failed on camera %s", camera_id)

    def _show(self, camera_id: str, frame: Frame, result: FrameResult) -> None:
        analyzer = self.analyzers[camera_id]
        samples = result.outputs.samples
        view = LiveView(
            to_jpeg(annotate(frame.image, result, analyzer.rules)),
            frame.wall_time,
            len(result.detections),
            {s.window: s.to_json() for s in samples if isinstance(s, WindowSample)},
            {s.queue: s.to_json() for s in samples if isinstance(s, QueueSample)},
            {s.zone: s.to_json() for s in samples if isinstance(s, ZoneSample)},
        )
        with self._lock:
            self._live[camera_id] = view

    def _event_changed(self, event: Event) -> None:
        if self.recording is not None:
            self.recording.event_changed(event)

    def record(self, camera_id: str, result: FrameResult) -> None:
        """Events are written to the store before anyone is told about them."""
        for item in result.outputs.changes:
            key = (camera_id, item.key)
            if isinstance(item.change, Opened):
                event = self.store.add_event(
                    Event(
                        type=item.kind,
                        camera=camera_id,
                        window=item.window,
                        start=item.change.start,
                        detected_at=item.change.detected_at,
                        details=dict(item.details),
                    )
                )
                assert event.id is not None
                self._open_events[key] = event.id
                self._event_changed(event)
                log.info("%s %s since %.0f (event %d)", item.kind, item.key, item.change.start,
                         event.id)  # fmt: skip
            else:
                event_id = self._open_events.pop(key, None)
                if event_id is not None:
                    ended = self.store.end_event(event_id, item.change.end, dict(item.details))
                    self._event_changed(ended)
                    log.info("%s %s ended (event %d)", item.kind, item.key, event_id)
        record_outputs(self.statistics, result.outputs)
