"""cut(): keyframe-aligned stream copy of a wall-clock range across segments, gaps, torn tails."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import pytest

from hallwatch.store import Store
from ingest.packets import PacketItem, SessionEnded
from recordings.cut import NoFootage, cut
from recordings.index import SegmentIndex
from tests.recordings.feed import WALL_BASE, decode_all, demux_items, record, session_end
from tests.recordings.test_index import cut_inside_fragment
from tests.support.clips import make_clip

FRAME = 0.1  # 10 fps


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 s at 10 fps, a keyframe every second (frames 0, 10, 20, ...)."""
    return make_clip(tmp_path_factory.mktemp("cut") / "clip.mp4", seconds=6, fps=10, gop=10,
                     size=(320, 180))  # fmt: skip


@pytest.fixture
def index(tmp_path: Path) -> Iterator[SegmentIndex]:
    store = Store(tmp_path / "store.db")
    yield SegmentIndex(store, tmp_path / "rec")
    store.close()


@pytest.fixture
def contiguous(clip: Path, index: SegmentIndex) -> SegmentIndex:
    """Segments [0, 2), [2, 4), [4, 6) s after WALL_BASE."""
    record(list(demux_items(str(clip))), index, segment_s=2.0)
    return index


@pytest.fixture
def with_gap(clip: Path, index: SegmentIndex) -> SegmentIndex:
    """Frames 0-34 at [0, 3.5) s, the camera drops, frames 10-59 again at [11, 16) s."""
    first = list(demux_items(str(clip)))[:35]
    second = list(demux_items(str(clip), session=2, media_offset=10.0))[10:]
    items: list[PacketItem | SessionEnded] = [*first, session_end(first[-1]), *second]
    record(items, index, segment_s=2.0)
    return index


def packets(path: Path) -> list[tuple[bytes, Fraction, bool]]:
    """(data, pts in seconds, keyframe) of every video packet."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        time_base = stream.time_base
        assert time_base is not None
        return [(bytes(p), (p.pts or 0) * time_base, bool(p.is_keyframe))
                for p in container.demux(stream) if p.size]  # fmt: skip


def codec_params(path: Path) -> tuple[str, int, int, bytes]:
    with av.open(str(path)) as container:
        ctx = container.streams.video[0].codec_context
        return ctx.name, ctx.width, ctx.height, bytes(ctx.extradata or b"")


def assert_continuous(path: Path, frames: int) -> None:
    times = [pts for _, pts, _ in packets(path)]
    assert times == [Fraction(n, 10) for n in range(frames)]


def test_cut_across_two_segments_starts_at_a_keyframe_by_stream_copy(
    contiguous: SegmentIndex, tmp_path: Path
) -> None:
    result = cut(contiguous, "cam", WALL_BASE + 1.55, WALL_BASE + 3.2, tmp_path / "out.mp4")
    decoded = decode_all(result.path)
    assert decoded.error is None
    assert decoded.counters == list(range(10, 40))  # from the keyframe at 1.0 to the GOP's end
    assert decoded.keyframes[0] and decoded.keyframes.count(True) == 3
    assert (result.start, result.end, result.frames) == (WALL_BASE + 1.0, WALL_BASE + 4.0, 30)
    segments = contiguous.all_closed("cam")
    assert result.segments == [segments[0].path, segments[1].path]
    assert [(p.offset, p.start - WALL_BASE) for p in result.pieces] == [(0.0, 1.0), (1.0, 2.0)]
    assert result.gaps == [] and result.duration == pytest.approx(3.0)
    assert_continuous(result.path, 30)
    # no re-encode: the very same packets and codec parameters as the segments
    source = [
        *packets(contiguous.path_of(segments[0]))[10:],
        *packets(contiguous.path_of(segments[1])),
    ]
    assert [data for data, _, _ in packets(result.path)] == [data for data, _, _ in source]
    assert codec_params(result.path) == codec_params(contiguous.path_of(segments[0]))
    data = result.path.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # faststart: seekable over HTTP at once


def test_cut_beyond_the_footage_takes_all_of_it(contiguous: SegmentIndex, tmp_path: Path) -> None:
    result = cut(contiguous, "cam", WALL_BASE - 30, WALL_BASE + 100, tmp_path / "all.mp4")
    assert decode_all(result.path).counters == list(range(60))
    assert len(result.pieces) == 3 and result.frames == 60
    exact = cut(contiguous, "cam", WALL_BASE + 2.0, WALL_BASE + 3.0, tmp_path / "gop.mp4")
    assert decode_all(exact.path).counters == list(range(20, 30))  # starts on its keyframe


def test_cut_across_a_gap_closes_it_up(with_gap: SegmentIndex, tmp_path: Path) -> None:
    result = cut(with_gap, "cam", WALL_BASE + 1.5, WALL_BASE + 12.5, tmp_path / "gap.mp4")
    decoded = decode_all(result.path)
    assert decoded.error is None
    assert decoded.counters == [*range(10, 35), *range(10, 30)]
    assert_continuous(result.path, 45)
    assert [(round(p.offset, 3), round(p.start - WALL_BASE, 3)) for p in result.pieces] == [
        (0.0, 1.0), (1.0, 2.0), (2.5, 11.0)]  # fmt: skip
    assert [(a - WALL_BASE, b - WALL_BASE) for a, b in result.gaps] == [
        pytest.approx((3.5, 11.0))]  # fmt: skip
    assert result.duration == pytest.approx(4.5)
    in_gap = cut(with_gap, "cam", WALL_BASE + 5.0, WALL_BASE + 12.5, tmp_path / "later.mp4")
    assert in_gap.start == pytest.approx(WALL_BASE + 11.0)  # the first keyframe after the gap
    assert decode_all(in_gap.path).counters == list(range(10, 30))


def test_cut_reads_a_torn_open_segment_up_to_its_last_intact_fragment(
    contiguous: SegmentIndex, tmp_path: Path
) -> None:
    last = contiguous.all_closed("cam")[-1]
    path = contiguous.path_of(last)
    cut_inside_fragment(path, path, 1)  # a crash half-way through [5, 6)
    with contiguous.store.transaction() as conn:  # ... while it was being written
        conn.execute("UPDATE segments SET state = 'open', \"end\" = NULL WHERE id = ?", (last.id,))
    result = cut(contiguous, "cam", WALL_BASE + 3.5, WALL_BASE + 100, tmp_path / "torn.mp4")
    decoded = decode_all(result.path)
    assert decoded.error is None
    assert decoded.counters == list(range(30, 50))
    assert result.end == pytest.approx(WALL_BASE + 5.0)


def test_no_footage_and_bad_ranges_leave_no_file(with_gap: SegmentIndex, tmp_path: Path) -> None:
    target = tmp_path / "out" / "none.mp4"
    with pytest.raises(NoFootage):
        cut(with_gap, "cam", WALL_BASE + 4.0, WALL_BASE + 10.0, target)  # the outage
    with pytest.raises(NoFootage):
        cut(with_gap, "other", WALL_BASE, WALL_BASE + 10.0, target)
    with pytest.raises(ValueError):
        cut(with_gap, "cam", WALL_BASE + 2.0, WALL_BASE + 2.0, target)
    segment = with_gap.all_closed("cam")[0]
    with_gap.path_of(segment).unlink()  # a segment file gone: skipped, nothing else there
    with pytest.raises(NoFootage):
        cut(with_gap, "cam", WALL_BASE + 0.5, WALL_BASE + 1.5, target)
    assert not target.parent.exists() or list(target.parent.iterdir()) == []
