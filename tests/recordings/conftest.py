"""Fixtures shared by the clip and export tests: three recorded 2 s segments."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hallwatch.store import Store
from recordings.clips import ClipStore
from recordings.index import SegmentIndex
from tests.recordings.feed import demux_items, record
from tests.support.clips import make_clip


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 s at 10 fps, a keyframe every second."""
    return make_clip(tmp_path_factory.mktemp("clips") / "clip.mp4", seconds=6, fps=10, gop=10,
                     size=(320, 180))  # fmt: skip


@pytest.fixture
def recorded(clip: Path, tmp_path: Path) -> Iterator[tuple[SegmentIndex, ClipStore]]:
    """Segments [0, 2), [2, 4), [4, 6) s after WALL_BASE of camera 'cam'; clips under
    tmp_path/clips."""
    store = Store(tmp_path / "store.db")
    index = SegmentIndex(store, tmp_path / "rec")
    record(list(demux_items(str(clip))), index, segment_s=2.0)
    yield index, ClipStore(store, tmp_path / "clips")
    store.close()
