"""Event clips: ClipStore rows and files, ClipMaker timing with pre/post roll, its thread."""

from __future__ import annotations

import hashlib

import pytest

from hallwatch.events import Event, EventType
from hallwatch.store import Store
from recordings.clips import MAX_EVENT_S, ClipMaker, ClipStore, clip_range
from recordings.index import SegmentIndex
from tests.recordings.feed import WALL_BASE, decode_all
from tests.support.wait import wait_until


def add_event(store: Store, start: float, end: float | None) -> Event:
    return store.add_event(Event(EventType.COUNTER_VACANT, "cam", start, start, "W01", end))


def maker(index: SegmentIndex, clips: ClipStore, **kwargs: float) -> ClipMaker:
    options = {"pre_roll": 1.0, "post_roll": 1.0, "settle_s": 0.5, **kwargs}
    return ClipMaker(clips, index, **options)  # type: ignore[arg-type]


def test_defaults_and_ranges() -> None:
    event = Event("counter_vacant", "cam", 100.0, 100.0, end=130.0, id=1)
    assert clip_range(event) == (90.0, 140.0)  # 10 s before and after by default
    opened = Event("counter_vacant", "cam", 100.0, 100.0, id=2)
    assert clip_range(opened, 5, 5) == (95.0, 100.0 + MAX_EVENT_S + 5)
    assert ClipStore.relpath_for(event) == "cam/1970-01-01/event-1.mp4"
    with pytest.raises(ValueError):
        ClipStore.relpath_for(Event("counter_vacant", "../x", 0, 0, id=3))


def test_clip_is_cut_with_rolls_once_its_footage_is_due(
    recorded: tuple[SegmentIndex, ClipStore],
) -> None:
    index, clips = recorded
    event = add_event(clips.store, WALL_BASE + 2.5, WALL_BASE + 3.0)
    clip_maker = maker(index, clips)
    clip_maker.request(event)
    assert clip_maker.run_pending(now=WALL_BASE + 4.4) == []  # end + post roll + settle = 4.5
    assert clip_maker.pending() == 1 and clips.clip_for_event(event.id or 0) is None
    [made] = clip_maker.run_pending(now=WALL_BASE + 4.5)
    assert clip_maker.pending() == 0
    assert made.path == f"cam/2025-10-09/event-{event.id}.mp4" and made.event_id == event.id
    path = clips.path_of(made)
    assert decode_all(path).counters == list(range(10, 40))  # [1.5, 4.0) from the keyframe at 1
    assert (made.start, made.end, made.frames) == (WALL_BASE + 1.0, WALL_BASE + 4.0, 30)
    assert made.bytes == path.stat().st_size
    assert made.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert made.segments == [s.path for s in index.all_closed("cam")[:2]]
    assert clips.clip_for_event(event.id or 0) == made and not made.evidence
    clips.set_evidence(made.id)
    assert clips.get(made.id).evidence


def test_open_event_waits_for_its_end_and_a_recut_replaces_the_row(
    recorded: tuple[SegmentIndex, ClipStore],
) -> None:
    index, clips = recorded
    event = add_event(clips.store, WALL_BASE + 0.5, None)
    clip_maker = maker(index, clips)
    clip_maker.request(event)
    assert clip_maker.run_pending(now=WALL_BASE + 60) == []  # still open, under max_event_s
    clips.store.end_event(event.id or 0, WALL_BASE + 1.2)
    [made] = clip_maker.run_pending(now=WALL_BASE + 60)
    assert decode_all(clips.path_of(made)).counters == list(range(0, 30))  # [-0.5, 2.2)
    again = clips.cut_event(index, clips.store.get_event(event.id or 0), 0.0, 4.0)
    assert again.id == made.id and len(clips.clips("cam")) == 1
    assert again.frames == 60 and again.sha256 != made.sha256


def test_event_without_footage_is_dropped_and_missing_clips_are_found(
    recorded: tuple[SegmentIndex, ClipStore],
) -> None:
    index, clips = recorded
    far = add_event(clips.store, WALL_BASE + 1000, WALL_BASE + 1001)
    near = add_event(clips.store, WALL_BASE + 2.0, WALL_BASE + 2.5)
    clip_maker = maker(index, clips)
    assert clip_maker.request_missing(since=WALL_BASE) == 2
    made = clip_maker.run_pending(now=WALL_BASE + 2000)
    assert [clip.event_id for clip in made] == [near.id]
    assert clip_maker.pending() == 0 and clips.clip_for_event(far.id or 0) is None
    assert clips.events_without_clip(since=WALL_BASE) == [far.id]


def test_the_thread_cuts_requested_clips(recorded: tuple[SegmentIndex, ClipStore]) -> None:
    index, clips = recorded
    event = add_event(clips.store, WALL_BASE + 4.0, WALL_BASE + 4.5)
    clip_maker = maker(index, clips, poll_s=0.02)
    clip_maker.clock = lambda: WALL_BASE + 100
    clip_maker.start()
    try:
        clip_maker.request(event)
        wait_until(lambda: clips.clip_for_event(event.id or 0) is not None, 10, "the clip")
    finally:
        clip_maker.stop()
    made = clips.clip_for_event(event.id or 0)
    assert made is not None and decode_all(clips.path_of(made)).counters == list(range(30, 60))


def test_retention_removes_old_event_clips_but_never_evidence(
    recorded: tuple[SegmentIndex, ClipStore],
) -> None:
    from recordings.retention import RetentionPolicy, Sweeper, expired_clips

    index, clips = recorded
    ordinary = clips.cut_event(
        index, add_event(clips.store, WALL_BASE + 1.0, WALL_BASE + 2.0), 0, 0
    )
    kept = clips.cut_event(index, add_event(clips.store, WALL_BASE + 3.0, WALL_BASE + 4.0), 0, 0)
    clips.set_evidence(kept.id)
    days_30 = 30 * 86400.0
    soon, later = WALL_BASE + 10, WALL_BASE + days_30 + 10
    assert expired_clips(clips.clips(), soon, lambda camera: 30) == []
    assert [c.id for c in expired_clips(clips.clips(), later, lambda camera: 30)] == [ordinary.id]
    policy = RetentionPolicy(continuous_days=365, event_days=30)
    sweeper = Sweeper(index, index.root, lambda camera: policy, lambda camera: [],
                      clock=lambda: later, clips=clips)  # fmt: skip
    sweeper.sweep()
    assert [c.id for c in clips.clips()] == [kept.id]
    assert not clips.path_of(ordinary).exists() and clips.path_of(kept).exists()
    with pytest.raises(ValueError, match="evidence"):
        clips.delete(clips.get(kept.id))
