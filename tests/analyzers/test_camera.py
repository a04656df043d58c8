"""A camera's analysis wiring: motion gate, crops, tracker and rules, with a scripted detector.

The detector here replays boxes (in crop pixels) so the wiring can be checked exactly; the real
detector is tested on real footage in test_detector.py and tests/e2e.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from analyzers.camera import BatchItem, CameraAnalyzer, Prepared, analyze_batch, detect_all
from analyzers.detections import Detections
from analyzers.episodes import Closed, Opened
from analyzers.motion import MotionSpec
from analyzers.queue import QueueAnalyzer, QueueRule
from analyzers.rules import Context, QueueSample, WindowRule, WindowSample
from analyzers.tracker import TrackerSettings
from analyzers.vacancy import VacancyRule
from analyzers.zones import Zone

W, H = 640, 360
STAFF = Zone.of([[0.05, 0.6], [0.3, 0.6], [0.3, 0.95], [0.05, 0.95]])
QUEUE = Zone.of([[0.35, 0.6], [0.6, 0.6], [0.6, 0.95], [0.35, 0.95]])


class Scripted:
    """Finds, in every image, a person whose feet are at each frame position given."""

    def __init__(self) -> None:
        self.feet: list[tuple[float, float]] = []  # frame pixels
        self.offset = (0, 0)  # where the crop sits in the frame (set by the test)
        self.calls = 0

    def detect(self, image: np.ndarray) -> Detections:
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[Detections]:
        self.calls += 1
        ox, oy = self.offset
        boxes = [[x - ox - 20, y - oy - 120, x - ox + 20, y - oy] for x, y in self.feet]
        found = Detections(
            np.array(boxes, np.float32).reshape(-1, 4), np.full(len(boxes), 0.9, np.float32)
        )
        return [found for _ in images]


def scene(moving: int = 0) -> np.ndarray:
    image = np.full((H, W, 3), 100, np.uint8)
    image[200:300, 40 + moving : 80 + moving] = 20
    return image


def camera(detector: Scripted, gate: bool = False) -> CameraAnalyzer:
    queue = QueueAnalyzer("W01", QUEUE, QueueRule(confirm_s=1.0, exit_grace_s=2.0), "W01")
    window = WindowRule("W01", STAFF, VacancyRule(1, 3.0, 1.0), queue)
    analyzer = CameraAnalyzer(
        "cam", [window], detector, crops="auto",
        motion=MotionSpec(enabled=gate, max_skip_s=5.0), tracking=TrackerSettings(min_hits=1),
    )  # fmt: skip
    x1, y1, _, _ = analyzer.regions[0].pixels(W, H)
    detector.offset = (x1, y1)
    return analyzer


def test_auto_crops_one_region_around_both_zones() -> None:
    analyzer = camera(Scripted())
    assert len(analyzer.regions) == 1
    prepared = analyzer.prepare(scene(), 0.0)
    assert isinstance(prepared, Prepared) and len(prepared.crops) == 1
    assert prepared.crops[0].shape[1] < W  # a real crop, not the frame


def test_staff_queue_and_vacancy_from_crop_detections() -> None:
    detector = Scripted()
    analyzer = camera(detector)
    detector.feet = [(100.0, 300.0), (300.0, 300.0), (310.0, 320.0)]  # 1 staff, 2 in queue
    first = analyzer.analyze(scene(), Context(0.0, True))
    (sample,) = first.outputs.samples
    assert isinstance(sample, WindowSample)
    assert (sample.staff, sample.queue) == (1, 0)  # queuing needs confirm_s
    assert np.allclose(first.detections.boxes[0], [80, 180, 120, 300])  # back in frame pixels
    second = analyzer.analyze(scene(), Context(1.5, True))
    assert second.outputs.samples[0] == WindowSample("W01", 1, sample.state, sample.service, 2)
    detector.feet = [(300.0, 300.0), (310.0, 320.0)]  # staff left
    changes = []
    for t in (2.0, 3.0, 4.0, 5.5):
        changes += analyzer.analyze(scene(), Context(t, True)).outputs.changes
    assert [(c.kind, c.key, type(c.change)) for c in changes] == [("counter_vacant", "W01", Opened)]
    assert changes[0].change.start == 2.0


def test_motion_gate_skips_the_detector_and_carries_people_forward() -> None:
    detector = Scripted()
    analyzer = camera(detector, gate=True)
    detector.feet = [(100.0, 300.0)]
    results = [analyzer.analyze(scene(), Context(t, True)) for t in (0.0, 1.0, 2.0)]
    assert detector.calls == 1
    assert [r.inferred for r in results] == [True, False, False]
    assert all(r.outputs.samples[0].staff == 1 for r in results)  # type: ignore[union-attr]
    assert len({int(r.tracks.ids[0]) for r in results}) == 1  # the same person throughout
    analyzer.analyze(scene(moving=30), Context(3.0, True))  # something moved
    analyzer.analyze(scene(moving=30), Context(8.5, True))  # max_skip_s passed
    assert detector.calls == 3
    counters = analyzer.counters
    assert (counters.frames, counters.inferences, counters.skipped) == (5, 3, 2)


def test_flush_closes_open_episodes_and_hands_over_minutes() -> None:
    detector = Scripted()
    analyzer = camera(detector)
    for t in (0.0, 10.0, 20.0, 30.0):
        analyzer.analyze(scene(), Context(60.0 + t, True))
    final = analyzer.flush(95.0)
    assert [(c.kind, type(c.change)) for c in final.outputs.changes] == [("counter_vacant", Closed)]
    assert [m.minute for m in final.outputs.window_minutes] == [60.0]
    assert [q for q, _ in final.outputs.queue_minutes] == ["W01"]


def test_hall_queue_sample_json_names_the_zone() -> None:
    sample = QueueSample("Q1", 3, 12.3456)
    assert sample.to_json() == {"queue_zone": "Q1", "queue": 3, "longest_wait_s": 12.346}


@pytest.mark.parametrize(("images", "batch", "calls"), [(0, 4, 0), (3, 4, 1), (9, 4, 3), (2, 1, 2)])
def test_detect_all_batches(images: int, batch: int, calls: int) -> None:
    detector = Scripted()
    found = detect_all(detector, [scene()] * images, batch)
    assert len(found) == images and detector.calls == calls


def test_detect_all_rejects_a_zero_batch() -> None:
    with pytest.raises(ValueError, match="max_batch"):
        detect_all(Scripted(), [scene()], 0)


def test_a_frame_from_the_past_is_dropped_and_counted() -> None:
    detector = Scripted()
    analyzer = camera(detector)
    batch = [BatchItem(analyzer, scene(), Context(10.0, True))]
    assert len(analyze_batch(batch, detector, 4, lambda camera: None)) == 1
    late = [BatchItem(analyzer, scene(), Context(9.0, True))]
    assert analyze_batch(late, detector, 4, lambda camera: None) == []
    assert analyzer.counters.stale == 1 and detector.calls == 1
    with pytest.raises(ValueError, match="older than"):
        analyzer.prepare(scene(), 9.5)


def test_one_failing_camera_does_not_stop_the_batch() -> None:
    detector = Scripted()
    good, bad = camera(detector), camera(detector)
    failed: list[str] = []
    bad.camera_id = "broken"
    items = [
        BatchItem(bad, None, Context(1.0, True)),  # type: ignore[arg-type]  # no image at all
        BatchItem(good, scene(), Context(1.0, True)),
    ]
    done = analyze_batch(items, detector, 4, failed.append)
    assert [item.analyzer for item, _ in done] == [good]
    assert failed == ["broken"]
