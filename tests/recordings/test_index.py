"""SegmentIndex: rows, lookups, and recovery of segments a crash left open."""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from hallwatch.store import Store
from recordings.index import Segment, SegmentIndex, readable_part
from tests.recordings.feed import decode_all, remux_fragmented
from tests.support.clips import make_clip


@pytest.fixture
def index(tmp_path: Path) -> Iterator[SegmentIndex]:
    store = Store(tmp_path / "store.db")
    yield SegmentIndex(store, tmp_path / "rec")
    store.close()


@pytest.fixture(scope="module")
def fragmented(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """7 s at 10 fps, GOP 10, as fMP4: 7 fragments of 1 s."""
    folder = tmp_path_factory.mktemp("fmp4")
    clip = make_clip(folder / "clip.mp4", seconds=7, fps=10, gop=10)
    return remux_fragmented(clip, folder / "fragmented.mp4")


def boxes(path: Path) -> list[tuple[int, int, str]]:
    """(offset, size, type) of the top-level MP4 boxes."""
    data = path.read_bytes()
    found, offset = [], 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        found.append((offset, size, kind.decode()))
        offset += size
    return found


def cut_inside_fragment(source: Path, target: Path, fragment: int) -> Path:
    """`source` cut half-way through the mdat of fragment number `fragment` (0-based)."""
    mdats = [(offset, size) for offset, size, kind in boxes(source) if kind == "mdat"]
    offset, size = mdats[fragment]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(source.read_bytes()[: offset + size // 2])
    return target


def add(index: SegmentIndex, name: str, start: float, end: float | None = None) -> Segment:
    segment_id = index.open("cam", f"cam/2025-10-09/{name}.mp4", start, 1, "h264", 640, 360)
    if end is not None:
        index.close(segment_id, end, 1000)
    return index.get(segment_id)


def test_rows_open_close_and_lookups(index: SegmentIndex) -> None:
    a = add(index, "a", 100.0, 160.0)
    c = add(index, "c", 220.0)  # open: the current segment
    b = add(index, "b", 160.0, 220.0)
    other = index.open("cam2", "cam2/x.mp4", 50.0, 1, "hevc", 1920, 1080)
    assert (a.state, a.end, a.bytes, a.duration) == ("closed", 160.0, 1000, 60.0)
    assert (c.state, c.end, c.bytes, c.closed) == ("open", None, None, False)
    assert index.overlapping("cam", 150.0, 170.0) == [a, b]
    assert index.overlapping("cam", 160.0, 161.0) == [b]  # [start, end): a ends at 160
    assert index.overlapping("cam", 1000.0, 1001.0) == [c]  # open: extends to now
    assert index.all_closed("cam") == [a, b]
    assert index.segments("cam") == [a, b, c]
    assert index.cameras() == ["cam2", "cam"]
    index.delete(a.id)
    assert index.segments("cam") == [b, c]
    assert index.get(other).codec == "hevc"
    with pytest.raises(KeyError):
        index.get(a.id)
    with pytest.raises(KeyError):
        index.close(a.id, 1.0, 1)


@pytest.mark.parametrize("path", ["/abs/x.mp4", "../x.mp4", "cam/../../x.mp4", "", "a\\b.mp4"])
def test_paths_must_stay_under_the_root(index: SegmentIndex, path: str) -> None:
    with pytest.raises(ValueError, match="relative"):
        index.open("cam", path, 0.0, 1, "h264", 1, 1)


def test_readable_part_of_whole_and_cut_files(fragmented: Path, tmp_path: Path) -> None:
    whole = readable_part(fragmented)
    assert whole is not None and (whole.duration, whole.packets, whole.keyframes) == (7.0, 70, 7)
    cut = readable_part(cut_inside_fragment(fragmented, tmp_path / "cut.mp4", 4))
    assert cut is not None and (cut.duration, cut.packets, cut.keyframes) == (4.0, 40, 4)
    assert readable_part(cut_inside_fragment(fragmented, tmp_path / "c0.mp4", 0)) is None
    assert readable_part(tmp_path / "absent.mp4") is None
    assert readable_part(tmp_path) is None


def test_recover_closes_readable_open_segments_and_removes_the_rest(
    index: SegmentIndex, fragmented: Path, caplog: pytest.LogCaptureFixture
) -> None:
    done = add(index, "done", 0.0, 7.0)  # closed before the crash: untouched
    whole = add(index, "whole", 10.0)
    torn = add(index, "torn", 20.0)
    early = add(index, "early", 30.0)  # killed inside its first fragment
    garbage = add(index, "garbage", 40.0)
    empty = add(index, "empty", 50.0)
    missing = add(index, "missing", 60.0)
    for segment in (done, whole):
        index.path_of(segment).parent.mkdir(parents=True, exist_ok=True)
        index.path_of(segment).write_bytes(fragmented.read_bytes())
    cut_inside_fragment(fragmented, index.path_of(torn), 4)
    cut_inside_fragment(fragmented, index.path_of(early), 0)
    index.path_of(garbage).write_bytes(b"\x00junk" * 1000)
    index.path_of(empty).write_bytes(b"")

    with caplog.at_level(logging.INFO, logger="recordings"):
        report = index.recover()

    assert [s.id for s in report.closed] == [whole.id, torn.id]
    assert [s.id for s in report.removed] == [early.id, garbage.id, empty.id, missing.id]
    assert [(s.path, s.end) for s in index.segments()] == [
        (done.path, 7.0), (whole.path, 17.0), (torn.path, 24.0)]  # fmt: skip
    assert all(s.bytes == index.path_of(s).stat().st_size for s in index.segments()[1:])
    files = sorted(p.relative_to(index.root).as_posix() for p in index.root.rglob("*.mp4"))
    assert files == sorted(s.path for s in index.segments())
    assert decode_all(index.path_of(torn)).counters == list(range(40))
    assert "recovery closed 2 and removed 4" in caplog.text
    assert index.recover().closed == [] and index.segments() == index.all_closed()
