"""The sparse-frame tracker: table tests of association, ages and scores, and id properties."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzers.detections import Detections
from analyzers.detector import NanoDetDetector
from analyzers.tracker import (
    Tracker,
    TrackerSettings,
    Tracks,
    associate,
    centre_distance_matrix,
    distance_gate,
    greedy_pairs,
    iou_matrix,
)
from tests.footage import footage

WIDTH, HEIGHT = 40.0, 100.0  # a standing person's box in pixels

Det = tuple[float, float, float]  # (x centre, feet y, score)
Frame = tuple[float, list[Det]]


def boxes_of(dets: list[Det], scale: float = 1.0) -> Detections:
    w, h = WIDTH * scale, HEIGHT * scale
    boxes = [[cx - w / 2, bottom - h, cx + w / 2, bottom] for cx, bottom, _ in dets]
    return Detections(
        np.array(boxes, dtype=np.float32).reshape(-1, 4),
        np.array([score for _, _, score in dets], dtype=np.float32),
    )


def ids_per_detection(tracks: Tracks, detections: Detections) -> list[int | None]:
    """For each detection, the id of the track that took it (None: no track)."""
    out: list[int | None] = []
    for box in detections.boxes:
        hit = np.flatnonzero(np.all(tracks.boxes == box, axis=1))
        out.append(int(tracks.ids[hit[0]]) if len(hit) else None)
    return out


def run(frames: list[Frame], tracker_settings: TrackerSettings) -> list[list[int | None]]:
    tracker = Tracker(tracker_settings)
    out = []
    for t, dets in frames:
        detections = boxes_of(dets)
        out.append(ids_per_detection(tracker.update(t, detections), detections))
    return out


def walk(
    start: float, step: float, frames: int, dt: float = 1.0, bottom: float = 300.0
) -> list[Frame]:
    return [(k * dt, [(start + step * k, bottom, 0.9)]) for k in range(frames)]


DEFAULT = TrackerSettings()
LOW = 0.3  # a low-score detection (below high_score)

TABLE = [
    ("a person standing still keeps one id", walk(100, 0, 5), [[1]] * 5),
    ("walking one box width per frame at 1 fps keeps the id (no overlap at all)",
     walk(100, WIDTH, 8), [[1]] * 8),
    ("walking one box width per frame at 5 fps keeps the id",
     walk(100, WIDTH, 10, dt=0.2), [[1]] * 10),
    ("walking faster than the gate from a standstill: a new id",
     walk(100, 1.5 * HEIGHT, 2), [[1], [2]]),
    ("two people crossing at half a box width per frame keep their ids",
     [(float(k), [(100 + 20 * k, 300, 0.9), (270 - 20 * k, 300, 0.9)]) for k in range(9)],
     [[1, 2]] * 9),
    ("two people crossing at one box width per frame keep their ids",
     [(float(k), [(100 + 40 * k, 300, 0.9), (430 - 40 * k, 305, 0.9)]) for k in range(9)],
     [[1, 2]] * 9),
    ("a dropout of exactly max_age_s keeps the id",
     [(0.0, [(100, 300, 0.9)]), (1.0, [(100, 300, 0.9)]), (2.0, []), (4.0, [(100, 300, 0.9)])],
     [[1], [1], [], [1]]),
    ("a dropout longer than max_age_s gets a new id",
     [(0.0, [(100, 300, 0.9)]), (1.0, [(100, 300, 0.9)]), (4.5, [(100, 300, 0.9)])],
     [[1], [1], [2]]),
    ("a low-score detection never starts a track",
     [(0.0, [(100, 300, LOW)]), (1.0, [(100, 300, LOW)]), (2.0, [(100, 300, 0.9)])],
     [[None], [None], [1]]),
    ("a low-score detection extends an existing track",
     [(0.0, [(100, 300, 0.9)]), (1.0, [(110, 300, LOW)]), (2.0, [(120, 300, LOW)])],
     [[1], [1], [1]]),
    ("high-score detections are matched first; the low-score one is left over",
     [(0.0, [(100, 300, 0.9)]), (1.0, [(104, 300, LOW), (110, 300, 0.9)])],
     [[1], [None, 1]]),
    ("an unmatched high-score detection starts a new track beside an old one",
     [(0.0, [(100, 300, 0.9)]), (1.0, [(100, 300, 0.9), (400, 300, 0.9)])],
     [[1], [1, 2]]),
    ("a walker who stopped while unseen is found where last seen, not a newcomer ahead",
     [*walk(100, WIDTH, 3), (4.0, [(100 + 2 * WIDTH, 300, 0.9), (100 + 4 * WIDTH, 300, 0.9)])],
     [[1], [1], [1], [1, 2]]),
    ("frames 1.2 s apart: the gate grows with the time since the last match",
     walk(100, 1.1 * HEIGHT, 4, dt=1.2), [[1]] * 4),
    ("frames 1 s apart: the same step of 1.1 box heights is too far for a new track",
     walk(100, 1.1 * HEIGHT, 2, dt=1.0), [[1], [2]]),
    ("ids are never reused after a track is dropped",
     [(0.0, [(100, 300, 0.9)]), (10.0, [(400, 300, 0.9)]), (20.0, [(100, 300, 0.9)])],
     [[1], [2], [3]]),
]  # fmt: skip


@pytest.mark.parametrize(("frames", "expected"), [c[1:] for c in TABLE], ids=[c[0] for c in TABLE])
def test_tracker_table(frames: list[Frame], expected: list[list[int | None]]) -> None:
    assert run(frames, DEFAULT) == expected


def test_a_person_of_very_different_size_on_the_same_spot_is_someone_else() -> None:
    tracker = Tracker(DEFAULT)
    near = boxes_of([(100, 300, 0.9)], scale=1.0)
    far = boxes_of([(100, 300, 0.9)], scale=0.4)
    assert tracker.update(0.0, near).ids.tolist() == [1]
    assert tracker.update(1.0, far).ids.tolist() == [2]


@pytest.mark.parametrize(
    ("min_hits", "expected"),
    [(1, [True, True, True]), (2, [False, True, True]), (3, [False, False, True])],
)
def test_confirmed_after_min_hits(min_hits: int, expected: list[bool]) -> None:
    tracker = Tracker(TrackerSettings(min_hits=min_hits))
    confirmed = [
        bool(tracker.update(t, boxes_of([(100, 300, 0.9)])).confirmed[0]) for t in (0.0, 1.0, 2.0)
    ]
    assert confirmed == expected


def test_tracks_carry_first_seen_score_and_feet() -> None:
    tracker = Tracker(DEFAULT)
    tracker.update(5.0, boxes_of([(100, 300, 0.9)]))
    tracks = tracker.update(6.0, boxes_of([(110, 302, 0.7)]))
    assert tracks.first_seen.tolist() == [5.0]
    assert tracks.scores.tolist() == pytest.approx([0.7])
    assert tracks.feet().tolist() == [[110.0, 302.0]]
    assert len(tracks.only_confirmed()) == 1


def test_lost_tracks_stay_active_until_max_age() -> None:
    tracker = Tracker(DEFAULT)
    tracker.update(0.0, boxes_of([(100, 300, 0.9), (400, 300, 0.9)]))
    tracks = tracker.update(1.0, boxes_of([(100, 300, 0.9)]))
    assert tracks.ids.tolist() == [1]
    assert list(tracker.active_ids) == [1, 2]  # 2 is lost, not yet dropped
    tracker.update(3.5, boxes_of([(100, 300, 0.9)]))
    assert list(tracker.active_ids) == [1]


def test_frames_must_not_go_back_in_time() -> None:
    tracker = Tracker(DEFAULT)
    tracker.update(2.0, Detections.empty())
    tracker.update(2.0, Detections.empty())
    with pytest.raises(ValueError, match="older"):
        tracker.update(1.0, Detections.empty())


@pytest.mark.parametrize(
    "bad",
    [
        {"match_iou": 0.0},
        {"max_centre_distance": -1.0},
        {"high_score": -0.1},
        {"high_score": 1.0},  # no detection would ever start a track
        {"min_hits": 0},
        {"max_age_s": -1.0},
        {"max_size_ratio": 0.5},
    ],
)
def test_settings_are_checked(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        TrackerSettings(**bad)  # type: ignore[arg-type]


def test_iou_and_distance_matrices() -> None:
    a = np.array([[0, 0, 10, 10]], dtype=np.float64)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 0, 30, 10], [0, 0, 0, 0]], dtype=np.float64)
    assert iou_matrix(a, b)[0].tolist() == pytest.approx([1.0, 1 / 3, 0.0, 0.0])
    assert centre_distance_matrix(a, b)[0, :3].tolist() == pytest.approx([0.0, 0.5, 2.0])


@pytest.mark.parametrize(("elapsed", "expected"), [(0.2, 1.0), (1.0, 1.0), (1.2, 1.2), (3.0, 3.0)])
def test_distance_gate_grows_with_time_unseen(elapsed: float, expected: float) -> None:
    assert distance_gate(DEFAULT, np.array([elapsed])).tolist() == pytest.approx([expected])


def test_greedy_pairs_take_the_best_first() -> None:
    affinity = np.array([[0.9, 0.8], [0.85, 0.1]])
    allowed = np.ones((2, 2), dtype=bool)
    assert greedy_pairs(affinity, allowed) == [(0, 0), (1, 1)]
    allowed[1, 1] = False
    assert greedy_pairs(affinity, allowed) == [(0, 0)]


def test_associate_prefers_overlap_over_distance() -> None:
    tracks = np.array([[0, 0, 40, 100], [200, 0, 240, 100]], dtype=np.float64)
    dets = np.array([[230, 0, 270, 100], [10, 0, 50, 100]], dtype=np.float64)
    pairs = associate(tracks, tracks, np.ones(2), dets, DEFAULT)
    assert sorted(pairs) == [(0, 1), (1, 0)]


# -- properties ---------------------------------------------------------------------------------

frame_dets = st.lists(
    st.tuples(st.floats(0, 640), st.floats(100, 480), st.floats(40, 200), st.floats(0.05, 1.0)),
    max_size=6,
)
frames_strategy = st.lists(
    st.tuples(st.sampled_from([0.2, 0.5, 1.0, 2.0, 4.0]), frame_dets), min_size=1, max_size=25
)


def detections_of(items: list[tuple[float, float, float, float]]) -> Detections:
    boxes = [[cx - 0.2 * h, bottom - h, cx + 0.2 * h, bottom] for cx, bottom, h, _ in items]
    return Detections(
        np.array(boxes, dtype=np.float32).reshape(-1, 4),
        np.array([s for *_, s in items], dtype=np.float32),
    )


@settings(max_examples=200, deadline=None)
@given(frames_strategy)
def test_ids_unique_increasing_and_never_reused(
    frames: list[tuple[float, list[tuple[float, float, float, float]]]],
) -> None:
    tracker_settings = TrackerSettings()
    tracker = Tracker(tracker_settings)
    t = 0.0
    last_seen: dict[int, float] = {}
    first_seen: dict[int, float] = {}
    hits: dict[int, int] = {}
    for step, items in frames:
        t += step
        detections = detections_of(items)
        tracks = tracker.update(t, detections)
        ids = tracks.ids.tolist()
        assert len(set(ids)) == len(ids) <= len(detections)
        for i, box, score, confirmed, first in zip(
            ids, tracks.boxes, tracks.scores, tracks.confirmed, tracks.first_seen, strict=True
        ):
            assert np.any(np.all(detections.boxes == box, axis=1))  # a box of this frame
            if i in last_seen:
                assert t - last_seen[i] <= tracker_settings.max_age_s  # never back once dropped
            else:
                assert i == max(last_seen, default=0) + 1  # new ids count up by one
                assert score >= tracker_settings.high_score  # only high scores start tracks
                first_seen[i] = t
            last_seen[i] = t
            hits[i] = hits.get(i, 0) + 1
            assert first == first_seen[i]
            assert bool(confirmed) == (hits[i] >= tracker_settings.min_hits)


# -- real footage -------------------------------------------------------------------------------


def sampled_detections(path: Path, fps: float) -> list[tuple[float, Detections]]:
    """Detections on frames taken every 1/fps seconds of media time."""
    detector = NanoDetDetector()
    frames: list[tuple[float, Detections]] = []
    next_t = 0.0
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            t = float(frame.time or 0.0)
            if t + 1e-6 < next_t:
                continue
            next_t += 1.0 / fps
            image = np.asarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8)
            frames.append((t, detector.detect(image)))
    return frames


def track_spans(frames: list[tuple[float, Detections]], tracker: Tracker) -> dict[int, list[float]]:
    """For each id, the times at which it was matched."""
    seen: dict[int, list[float]] = {}
    for t, detections in frames:
        for track_id in tracker.update(t, detections).ids.tolist():
            seen.setdefault(track_id, []).append(t)
    return seen


@pytest.mark.slow
def test_walkers_on_real_footage_keep_their_ids_at_one_frame_per_second() -> None:
    """PETS 2009 S2.L1 (about 5–8 pedestrians at a time, 80 s) sampled at 1 frame/s."""
    frames = sampled_detections(footage("pets2009_vtest", "vtest.avi"), fps=1.0)
    assert len(frames) == pytest.approx(80, abs=2)
    seen = track_spans(frames, Tracker(TrackerSettings()))
    confirmed = [times for times in seen.values() if len(times) >= 2]
    assert len(seen) <= 40
    assert float(np.median([times[-1] - times[0] for times in confirmed])) >= 10.0
    # IoU alone (no distance fallback) splits the same walkers into many times more tracks
    iou_only = track_spans(frames, Tracker(TrackerSettings(max_centre_distance=0.0)))
    assert len(iou_only) >= 4 * len(seen)
