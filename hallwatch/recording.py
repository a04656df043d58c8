"""Recording service: a segment writer per camera on the camera's fan-out, crash recovery of
the index at start, and the retention sweeper — configured from cameras.yaml."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from hallwatch.config import Site
from hallwatch.events import Event
from hallwatch.store import Store
from ingest.packets import FanOut
from recordings.clips import ClipMaker, ClipStore
from recordings.index import SegmentIndex
from recordings.retention import RetentionPolicy, Sweeper
from recordings.segments import SegmentWriter

log = logging.getLogger(__name__)

RECORDER_QUEUE = 3000  # packets: two minutes at 25 fps before a slow disk makes it drop
GB = 1_000_000_000


def retention_policy(site: Site, camera_id: str) -> RetentionPolicy:
    settings = site.recording
    camera = site.camera(camera_id)
    recorded = max(1, sum(1 for c in site.cameras if c.record))
    return RetentionPolicy(
        continuous_days=camera.continuous_days or settings.continuous_days,
        event_days=camera.event_days or settings.event_days,
        max_bytes=None if settings.max_gb is None else int(settings.max_gb * GB / recorded),
        min_free_bytes=int(settings.min_free_gb * GB),
    )


class RecordingService:
    def __init__(self, site: Site, store: Store, data_dir: Path) -> None:
        self.site = site
        self.store = store
        self.root = data_dir / site.recording.root
        self.root.mkdir(parents=True, exist_ok=True)
        self.index = SegmentIndex(store, self.root)
        self.clips = ClipStore(store, data_dir / "clips")
        self.writers: dict[str, SegmentWriter] = {}
        self.clip_maker = ClipMaker(
            self.clips,
            self.index,
            pre_roll=site.recording.pre_roll_s,
            post_roll=site.recording.post_roll_s,
        )
        self.sweeper = Sweeper(
            self.index,
            self.root,
            lambda camera_id: retention_policy(site, camera_id),
            self._protected,
            site.recording.sweep_interval_s,
            clips=self.clips,
        )

    def attach(self, camera_id: str, fanout: FanOut) -> None:
        queue = fanout.subscribe("recorder", RECORDER_QUEUE)
        self.writers[camera_id] = SegmentWriter(
            camera_id, queue, self.index, self.root, segment_s=self.site.recording.segment_s
        )

    def _protected(self, camera_id: str) -> list[tuple[float, float]]:
        """Event intervals of the camera: recordings around them are kept longer."""
        now = time.time()
        return [(start, end if end is not None else now)
                for start, end in self.store.event_intervals(camera_id)]  # fmt: skip

    def start(self) -> None:
        report = self.index.recover()  # before any writer starts
        for segment in report.closed:
            log.warning("recovered segment %s cut short by a crash", segment.path)
        for segment in report.removed:
            log.warning("removed unreadable segment %s left by a crash", segment.path)
        self._gap_since_last_run()
        for writer in self.writers.values():
            writer.start()
        self.sweeper.start()
        self.clip_maker.request_missing(time.time() - 86_400)  # clips a restart interrupted
        self.clip_maker.start()

    def _gap_since_last_run(self) -> None:
        """Nothing was recorded while hallwatch was not running (a crash leaves no gap row):
        each camera's outage starts where its last segment ends; its first packet ends it."""
        for camera_id in self.writers:
            ends = [s.end for s in self.index.segments(camera_id) if s.end is not None]
            if ends:
                self.store.open_gap(camera_id, max(ends), "hallwatch not running")

    def event_changed(self, event: Event) -> None:
        """Every event gets a clip once it has ended and its post-roll is recorded."""
        self.clip_maker.request(event)

    def stop(self) -> None:
        self.clip_maker.stop()
        self.sweeper.stop()
        for writer in self.writers.values():
            writer.stop()

    def stats(self, camera_id: str) -> dict[str, int] | None:
        writer = self.writers.get(camera_id)
        return None if writer is None else writer.stats()
