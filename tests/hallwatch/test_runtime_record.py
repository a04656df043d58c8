"""The runtime turns analyzer outputs into stored events and report statistics."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from analyzers.camera import FrameResult
from analyzers.detections import Detections
from analyzers.episodes import Closed, EpisodeChange, Opened
from analyzers.minutes import MinuteMean
from analyzers.queue import Wait
from analyzers.rules import Outputs
from analyzers.service import ServiceState, WindowMinute
from analyzers.tracker import Tracks
from hallwatch.analysis_worker import LocalEngine
from hallwatch.config import load_site
from hallwatch.runtime import Runtime
from hallwatch.statistics import Statistics
from hallwatch.store import EventQuery, Store

SITE = """\
name: t
cameras:
  - {id: cam01, name: c, url: missing.mp4}
windows:
  - {id: W01, name: w, department: d, camera: cam01,
     staff_zone: [[0.1, 0.5], [0.4, 0.5], [0.4, 0.9]]}
recording: {enabled: false}
"""


class NoDetector:
    def detect(self, image: np.ndarray) -> Detections:
        raise AssertionError("not used")

    def detect_batch(self, images: object) -> list[Detections]:
        raise AssertionError("not used")


def result(t: float, outputs: Outputs) -> FrameResult:
    return FrameResult("cam01", t, Detections.empty(), Tracks.empty(), outputs)


def test_episodes_become_events_and_records_become_statistics(tmp_path: Path) -> None:
    config = tmp_path / "site.yaml"
    config.write_text(SITE, encoding="utf-8")
    store = Store(tmp_path / "store.db")
    site = load_site(config)
    runtime = Runtime(site, config, store, LocalEngine({}, NoDetector(), 8))
    opened = EpisodeChange("queue_buildup", "W01", Opened(100.0, 220.0), "W01", {"length": 6})
    runtime.record("cam01", result(220.0, Outputs(changes=(opened,))))
    (event,) = store.list_events(EventQuery())[0]
    assert (event.type, event.window, event.start, event.end) == ("queue_buildup", "W01", 100, None)
    assert event.details == {"length": 6}
    closed = EpisodeChange(
        "queue_buildup", "W01", Closed(100.0, 300.0, 330.0), "W01", {"length": 8}
    )
    minute = WindowMinute("W01", 240.0, ServiceState.SERVING, {ServiceState.SERVING: 60.0})
    outputs = Outputs(
        changes=(closed,),
        window_minutes=(minute,),
        queue_minutes=(("W01", MinuteMean(240.0, 5.5, 8.0, 60.0)),),
        waits=(Wait(7, "W01", 100.0, 400.0),),
    )
    runtime.record("cam01", result(330.0, outputs))
    (event,) = store.list_events(EventQuery())[0]
    assert event.end == 300.0 and event.details == {"length": 8}
    stats = Statistics(store)
    assert [(m.state, m.seconds) for m in stats.window_minutes("W01", 0, 1000)] == [
        ("serving", {"serving": 60.0})
    ]
    assert [(q.mean, q.maximum) for q in stats.queue_minutes("W01", 0, 1000)] == [(5.5, 8.0)]
    assert [(w.track, w.wait_s) for w in stats.waits("W01", 0, 1000)] == [(7, 300.0)]
    status = runtime.camera_status("cam01")["analysis"]
    assert status["inferences"] == 0 and status["inferences_skipped"] == 0
