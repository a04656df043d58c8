"""The live pipeline: camera readers → mailbox → analysis worker → store and live state."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from analyzers.camera import CameraAnalyzer, FrameResult, PersonDetector
from analyzers.vacancy import VacancyClosed, VacancyOpened
from hallwatch.annotate import annotate, to_jpeg
from hallwatch.calendar import in_service
from hallwatch.config import Site
from hallwatch.events import Event, EventType
from hallwatch.live import LiveView
from hallwatch.mailbox import LatestMailbox
from hallwatch.pipeline import CameraPipeline
from hallwatch.recording import RecordingService
from hallwatch.store import Store
from hallwatch.windows import window_analyzers
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
        self.analyzers = {
            camera.id: CameraAnalyzer(camera.id, window_analyzers(site, camera.id), detector)
            for camera in site.cameras
        }
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
        self._open_events: dict[str, int] = {}
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
        if self.recording is not None:
            self.recording.stop()
        now = time.time()
        for camera_id in self.pipelines:  # nothing is recorded until we run again
            self.store.open_gap(camera_id, now, "hallwatch stopped")
        self._worker.join(10)

    # --- views for the console --------------------------------------------------------------

    def live(self, camera_id: str) -> LiveView | None:
        with self._lock:
            return self._live.get(camera_id)

    def camera_status(self, camera_id: str) -> dict[str, Any]:
        status = self.pipelines[camera_id].status()
        status["analysis"]["dropped_frames"] = self.mailbox.dropped.get(camera_id, 0)
        status["recording"] = None if self.recording is None else self.recording.stats(camera_id)
        return status

    # --- the worker -------------------------------------------------------------------------

    def _work(self) -> None:
        while not self._stop.is_set():
            item = self.mailbox.get(timeout=0.5)
            if item is None:
                continue
            camera_id, frame = item
            try:
                self._analyze(camera_id, frame)
            except Exception:  # keep analysing the other cameras; the error is logged
                self.analysis_errors += 1
                log.exception("analysis failed on camera %s", camera_id)

    def _analyze(self, camera_id: str, frame: Frame) -> None:
        analyzer = self.analyzers[camera_id]
        when = dt.datetime.fromtimestamp(frame.wall_time, dt.UTC)
        result = analyzer.analyze(
            frame.image, frame.wall_time, in_service(self.site.schedule, when)
        )
        self._record(camera_id, result)
        view = LiveView(
            to_jpeg(annotate(frame.image, result, analyzer.windows)),
            frame.wall_time,
            len(result.detections),
            {s.window: {"staff": s.staff, "state": s.state.value, "queue": s.queue}
             for s in result.windows},
        )  # fmt: skip
        with self._lock:
            self._live[camera_id] = view

    def _event_changed(self, event: Event) -> None:
        if self.recording is not None:
            self.recording.event_changed(event)

    def _record(self, camera_id: str, result: FrameResult) -> None:
        """Events are written to the store before anyone is told about them."""
        for item in result.transitions:
            change = item.transition
            if isinstance(change, VacancyOpened):
                event = self.store.add_event(
                    Event(
                        type=EventType.COUNTER_VACANT.value,
                        camera=camera_id,
                        window=item.window,
                        start=change.start,
                        detected_at=change.detected_at,
                    )
                )
                assert event.id is not None
                self._open_events[item.window] = event.id
                self._event_changed(event)
                log.info(
                    "window %s vacant since %.0f (event %d)", item.window, change.start, event.id
                )
            elif isinstance(change, VacancyClosed):
                event_id = self._open_events.pop(item.window, None)
                if event_id is not None:
                    self._event_changed(self.store.end_event(event_id, change.end))
                    log.info("window %s staffed again (event %d)", item.window, event_id)
