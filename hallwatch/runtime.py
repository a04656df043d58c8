"""The live pipeline: camera readers → analysis worker (and its engine) → store and live state."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from analyzers.camera import AnalysisCounters, FrameResult
from analyzers.episodes import Opened
from analyzers.rules import Context, QueueSample, Rule, WindowSample, ZoneSample
from hallwatch.analysis_worker import AnalysisWorker, Engine
from hallwatch.annotate import annotate, to_jpeg
from hallwatch.calendar import in_service
from hallwatch.config import Site
from hallwatch.config_edit import PIPELINE_CODES, ApplyResult, Reason, restart_reasons
from hallwatch.events import Event
from hallwatch.live import LiveView
from hallwatch.pipeline import CameraPipeline
from hallwatch.recording import RecordingService
from hallwatch.rules import camera_rules
from hallwatch.statistics import Statistics, record_outputs
from hallwatch.store import Store
from ingest.packets import FanOut
from ingest.tap import Frame

log = logging.getLogger(__name__)


class Runtime:
    """Owns the readers and the analysis worker; the console reads from it.

    `engine` runs the analyzers (in a child process in production, see
    hallwatch.analysis_process); the runtime owns it from here on and closes it on stop.
    """

    def __init__(
        self,
        site: Site,
        config_path: Path,
        store: Store,
        engine: Engine,
        data_dir: Path | None = None,
        engine_factory: Callable[[Site], Engine] | None = None,
    ) -> None:
        self.site = site
        self.store = store
        self.engine = engine
        self.engine_factory = engine_factory  # a new engine for an edited site (apply_site)
        self.statistics = Statistics(store)
        self._zone = ZoneInfo(site.schedule.timezone)
        self.worker = AnalysisWorker(
            engine, self.context, self._analysed, site.analysis.max_batch, self._engine_lost
        )
        # the rules' zones, for drawing; their state lives with the engine's analyzers
        self.rules: dict[str, list[Rule]] = {c.id: camera_rules(site, c) for c in site.cameras}
        self.pipelines = {
            camera.id: CameraPipeline(
                camera, config_path.parent, self.worker.sink(camera.id), self._outage
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
        self.worker.start()
        if self.recording is not None:
            self.recording.start()
        for pipeline in self.pipelines.values():
            pipeline.start()

    def stop(self) -> None:
        for pipeline in self.pipelines.values():
            pipeline.stop()
        self.worker.stop()
        now = time.time()
        self._retire_engine(now)
        if self.recording is not None:
            self.recording.stop()
        for camera_id in self.pipelines:  # nothing is recorded until we run again
            self.store.open_gap(camera_id, now, "hallwatch stopped")

    # --- an edited site -----------------------------------------------------------------------

    def apply_site(self, site: Site) -> ApplyResult:
        """Analyse with `site` from now on when only what the analysis uses changed (zones,
        windows, queues, thresholds, schedule, detector): a new engine replaces the old one,
        whose open episodes end now (they reopen under the new rules if still true). Readers
        and recording are built once: a change to them waits for a restart."""
        reasons = restart_reasons(self.site, site)
        if any(reason.code in PIPELINE_CODES for reason in reasons) or self.engine_factory is None:
            if self.engine_factory is None:
                reasons.append(Reason("no_live_apply"))
            return ApplyResult(False, True, tuple(reasons))
        try:
            engine = self.engine_factory(site)  # loads the model: the old engine runs meanwhile
        except Exception:
            log.exception("the analysis engine for the edited site did not start")
            return ApplyResult(False, True, (*reasons, Reason("engine_failed")))
        self._switch_engine(site, engine)
        return ApplyResult(True, bool(reasons), tuple(reasons))

    def _retire_engine(self, now: float) -> None:
        """Close the engine's open episodes at `now` (keeping their minutes), then the engine;
        its worker is stopped already."""
        try:
            for result in self.engine.flush(now).results:
                self.record(result.camera, result)
        except Exception:
            log.exception("flushing the analyzers failed; open events are closed as stopped")
            self._engine_lost(now)
        self.engine.close()

    def _switch_engine(self, site: Site, engine: Engine) -> None:
        running = self.worker._thread.is_alive()  # not started (tests): stays so
        self.worker.stop()  # delivers the batches in flight; nobody else talks to the engine
        now = time.time()
        self._retire_engine(now)
        with self._lock:
            self.site = site
            self._zone = ZoneInfo(site.schedule.timezone)
            self.rules = {c.id: camera_rules(site, c) for c in site.cameras}
        self.engine = engine
        self.worker = AnalysisWorker(
            engine, self.context, self._analysed, site.analysis.max_batch, self._engine_lost
        )
        for camera_id, pipeline in self.pipelines.items():
            pipeline.tap.sink = self.worker.sink(camera_id)
        if running:
            self.worker.start()
        log.info("analysis switched to the edited site")

    # --- views for the console --------------------------------------------------------------

    def live(self, camera_id: str) -> LiveView | None:
        with self._lock:
            return self._live.get(camera_id)

    def live_fanout(self, camera_id: str, stream: str) -> FanOut | None:
        """The fan-out of a camera's "main" or "sub" stream, for the live wall."""
        pipeline = self.pipelines.get(camera_id)
        if pipeline is None:
            return None
        reader = pipeline.main if stream == "main" else pipeline.sub if stream == "sub" else None
        return None if reader is None else reader.fanout

    def camera_online(self, camera_id: str) -> bool:
        """Whether the camera's main stream is connected now (GB catalog Status ON/OFF)."""
        pipeline = self.pipelines.get(camera_id)
        return pipeline is not None and pipeline.main.status().online

    def camera_status(self, camera_id: str) -> dict[str, Any]:
        status = self.pipelines[camera_id].status()
        status["analysis"]["dropped_frames"] = self.worker.mailbox.dropped.get(camera_id, 0)
        counters = self.worker.counters.get(camera_id, AnalysisCounters())
        status["analysis"].update(
            frames_analysed=counters.frames,
            inferences=counters.inferences,
            inferences_skipped=counters.skipped,
            detector_images=counters.crops,
            errors=self.worker.errors.get(camera_id, 0),
        )
        status["recording"] = None if self.recording is None else self.recording.stats(camera_id)
        return status

    # --- analysis results -------------------------------------------------------------------

    def context(self, wall_time: float) -> Context:
        when = dt.datetime.fromtimestamp(wall_time, dt.UTC)
        local = when.astimezone(self._zone).time()
        return Context(wall_time, in_service(self.site.schedule, when), local)

    def _analysed(self, frame: Frame, result: FrameResult) -> None:
        self.record(result.camera, result)
        self._show(frame, result)

    def _engine_lost(self, at: float) -> None:
        """The analyzers' state is gone: their open episodes end now (a new engine starts
        afresh and opens new ones if the condition still holds)."""
        for key, event_id in list(self._open_events.items()):
            ended = self.store.end_event(event_id, at, {"closed_by": "analysis restarted"})
            del self._open_events[key]
            self._event_changed(ended)

    def _show(self, frame: Frame, result: FrameResult) -> None:
        samples = result.outputs.samples
        view = LiveView(
            to_jpeg(annotate(frame.image, result, self.rules[result.camera])),
            frame.wall_time,
            len(result.detections),
            {s.window: s.to_json() for s in samples if isinstance(s, WindowSample)},
            {s.queue: s.to_json() for s in samples if isinstance(s, QueueSample)},
            {s.zone: s.to_json() for s in samples if isinstance(s, ZoneSample)},
        )
        with self._lock:
            self._live[result.camera] = view

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
