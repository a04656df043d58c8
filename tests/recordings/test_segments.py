"""SegmentWriter on PacketItems demuxed from synthetic clips: cuts, sessions, codecs, errors."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from pathlib import Path

import av
import pytest

from hallwatch.store import Store
from ingest.packets import PacketItem, PacketQueue, SessionEnded
from recordings.index import SegmentIndex, readable_part
from recordings.segments import SegmentWriter, segment_relpath
from tests.recordings.feed import WALL_BASE, decode_all, demux_items, record, session_end
from tests.support.clips import make_clip
from tests.support.wait import wait_until


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """7 s at 10 fps, a keyframe every second (frames 0, 10, 20, ...)."""
    return make_clip(tmp_path_factory.mktemp("clips") / "h264.mp4", seconds=7, fps=10, gop=10)


@pytest.fixture
def index(tmp_path: Path) -> Iterator[SegmentIndex]:
    store = Store(tmp_path / "store.db")
    yield SegmentIndex(store, tmp_path / "recordings")
    store.close()


def items_of(clip: Path, **kwargs: float) -> list[PacketItem]:
    return list(demux_items(str(clip), **kwargs))  # type: ignore[arg-type]


def check_segment_files(index: SegmentIndex, frames: list[range]) -> None:
    """Each segment plays from a keyframe with exactly the expected frames; rows are complete."""
    segments = index.all_closed("cam")
    assert len(segments) == len(frames)
    for segment, expected in zip(segments, frames, strict=True):
        path = index.path_of(segment)
        decoded = decode_all(path)
        assert decoded.error is None
        assert decoded.counters == list(expected)
        assert decoded.keyframes[0]
        assert segment.bytes == path.stat().st_size
        assert segment.duration == pytest.approx(len(expected) / 10, abs=1e-6)


def test_segments_cut_at_keyframes_play_and_are_contiguous(clip: Path, index: SegmentIndex) -> None:
    recorded = record(list(items_of(clip)), index, segment_s=2.0)
    check_segment_files(index, [range(0, 20), range(20, 40), range(40, 60), range(60, 70)])
    segments = recorded.segments
    assert segments[0].start == WALL_BASE
    assert segments[0].path == "cam/2025-10-09/cam_20251009T085320.000000Z.mp4"
    assert all(s.path == segment_relpath("cam", s.start) for s in segments)
    assert all(a.end == pytest.approx(b.start, abs=0.01) for a, b in itertools.pairwise(segments))
    assert {(s.codec, s.width, s.height, s.session) for s in segments} == {("h264", 640, 360, 1)}
    stats = recorded.writer.stats()
    assert stats["segments"] == 4 and stats["packets"] == 70
    assert stats["errors"] == stats["ts_fixed"] == stats["skipped"] == stats["gaps"] == 0
    assert stats["bytes"] == sum(s.bytes or 0 for s in segments)


def test_session_end_closes_and_a_new_session_starts_at_its_first_keyframe(
    clip: Path, index: SegmentIndex
) -> None:
    first = items_of(clip)[:35]  # 3.5 s, then the camera drops
    second = items_of(clip, session=2, media_offset=10.0)[5:]  # joins mid-GOP
    second[5].packet.pts = None  # its first keyframe has no pts (seen on RTSP): skipped too
    items: list[PacketItem | SessionEnded] = [*first, session_end(first[-1]), *second]
    recorded = record(items, index, segment_s=2.0)
    check_segment_files(index, [range(0, 20), range(20, 35), range(20, 40), range(40, 60),
                                range(60, 70)])  # fmt: skip
    segments = recorded.segments
    assert [s.session for s in segments] == [1, 1, 2, 2, 2]
    assert segments[1].end == pytest.approx(WALL_BASE + 3.5, abs=1e-6)  # the gap begins
    assert segments[2].start == pytest.approx(WALL_BASE + 12.0, abs=1e-6)
    assert recorded.writer.stats()["skipped"] == 15


def test_a_burst_of_late_packets_does_not_delay_the_start(clip: Path, index: SegmentIndex) -> None:
    items = items_of(clip)[:40]
    for n in range(15):  # an RTSP client hands its first 1.5 s over at once, at 1.6 s
        items[n] = dataclasses.replace(items[n], wall_time=WALL_BASE + 1.6)
    segments = record(list(items), index, segment_s=2.0).segments
    assert [(s.start, s.end) for s in segments] == [
        (WALL_BASE, WALL_BASE + 2.0), (WALL_BASE + 2.0, WALL_BASE + 4.0)]  # fmt: skip
    assert segments[0].path == segment_relpath("cam", WALL_BASE + 1.6)  # named on arrival


def test_a_new_session_without_session_end_also_closes(clip: Path, index: SegmentIndex) -> None:
    items = [*items_of(clip)[:15], *items_of(clip, session=2, media_offset=5.0)[:15]]
    record(list(items), index, segment_s=60.0)
    check_segment_files(index, [range(0, 15), range(0, 15)])


def test_dts_going_backwards_is_fixed_and_counted(clip: Path, index: SegmentIndex) -> None:
    items = items_of(clip)[:20]
    for n in (13, 14):  # replayed timestamps: 13 and 14 carry those of 11 and 12
        items[n].packet.pts = items[n].packet.dts = items[n - 2].packet.pts
    items[16].packet.pts = items[16].packet.dts = None  # and one without any
    recorded = record(list(items), index, segment_s=60.0)
    check_segment_files(index, [range(0, 20)])
    assert recorded.writer.stats()["ts_fixed"] == 3


def test_hevc_records_too(tmp_path: Path, index: SegmentIndex) -> None:
    hevc = make_clip(tmp_path / "hevc.mp4", seconds=4, fps=10, gop=10, codec="libx265")
    recorded = record(list(items_of(hevc)), index, segment_s=2.0)
    check_segment_files(index, [range(0, 20), range(20, 40)])
    assert {s.codec for s in recorded.segments} == {"hevc"}
    with av.open(str(index.path_of(recorded.segments[1]))) as container:
        assert container.streams.video[0].codec_context.name == "hevc"


def test_fragments_reach_the_disk_while_the_segment_is_written(
    clip: Path, index: SegmentIndex
) -> None:
    queue = PacketQueue("recorder", 1000)
    writer = SegmentWriter("cam", queue, index, index.root, segment_s=60.0)
    writer.start()
    try:
        for item in items_of(clip)[:25]:  # fragments 0-9 and 10-19 are complete
            queue.offer(item)
        (segment,) = wait_until(lambda: index.segments("cam", "open"), 5, "an open segment")
        path = index.path_of(segment)
        readable = wait_until(lambda: readable_part(path), 5, "fragments on disk")
        assert readable is not None
        assert readable.duration == pytest.approx(2.0) and readable.keyframes == 2
    finally:
        writer.stop()
    assert index.get(segment.id).duration == pytest.approx(2.5)


def test_queue_drops_close_the_segment_and_recording_resumes_at_a_keyframe(
    clip: Path, index: SegmentIndex
) -> None:
    items = items_of(clip)[:40]
    queue = PacketQueue("recorder", 1000)
    writer = SegmentWriter("cam", queue, index, index.root, segment_s=60.0)
    writer.start()
    for item in items[:15]:
        queue.offer(item)
    wait_until(lambda: writer.stats()["packets"] == 15, 5, "15 packets written")
    queue.dropped += 3  # packets 15-17 lost in the queue
    for item in items[18:]:
        queue.offer(item)
    writer.stop()
    check_segment_files(index, [range(0, 15), range(20, 40)])
    assert writer.stats()["gaps"] == 1 and writer.stats()["skipped"] == 2


def test_a_directory_that_cannot_be_created_is_an_error_and_recording_goes_on(
    clip: Path, index: SegmentIndex
) -> None:
    day = index.root / "cam" / "2025-10-09"
    day.parent.mkdir(parents=True)
    day.write_bytes(b"")  # a file where the day's directory should be
    items = items_of(clip, wall_base=WALL_BASE + 54_400 - 3)  # 3 s before midnight UTC
    recorded = record(list(items), index, segment_s=2.0)
    assert recorded.writer.stats()["errors"] == 3  # at the keyframes at 0, 1 and 2 s
    check_segment_files(index, [range(30, 50), range(50, 70)])
    assert recorded.segments[0].path.startswith("cam/2025-10-10/")
    assert index.segments() == recorded.segments  # nothing left open or half-indexed


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_disk_full_while_writing_is_an_error_and_recording_goes_on(
    clip: Path, index: SegmentIndex
) -> None:
    doomed = index.root / segment_relpath("cam", WALL_BASE + 2.0)
    doomed.parent.mkdir(parents=True)
    doomed.symlink_to("/dev/full")  # every write there fails with ENOSPC
    recorded = record(list(items_of(clip)), index, segment_s=2.0)
    assert recorded.writer.stats()["errors"] == 1  # writing the header failed
    check_segment_files(index, [range(0, 20), range(30, 50), range(50, 70)])
    assert not doomed.is_symlink()  # nothing readable: file and row removed
