"""The recording service at start-up: crash recovery, then the outage since the last run."""

from __future__ import annotations

from pathlib import Path

from hallwatch.config import Site
from hallwatch.recording import RecordingService, retention_policy
from hallwatch.store import Store
from ingest.packets import FanOut
from recordings.index import SegmentIndex
from tests.recordings.feed import WALL_BASE, demux_items, record
from tests.support.clips import make_clip

SITE = Site.model_validate(
    {"name": "t", "cameras": [{"id": "cam01", "name": "a", "url": "x.mp4"},
                              {"id": "cam02", "name": "b", "url": "y.mp4", "record": False,
                               "continuous_days": 3}],
     "recording": {"max_gb": 10, "min_free_gb": 0}}
)  # fmt: skip


def test_outage_since_the_last_segment_is_a_gap(tmp_path: Path) -> None:
    store = Store(tmp_path / "hw.db")
    index = SegmentIndex(store, tmp_path / "recordings")
    clip = make_clip(tmp_path / "clip.mp4", seconds=4, fps=10, size=(320, 180))
    record(list(demux_items(str(clip), camera="cam01")), index, segment_s=2, camera="cam01")
    last_end = max(s.end for s in index.segments("cam01") if s.end is not None)
    service = RecordingService(SITE, store, tmp_path)
    service.attach("cam01", FanOut())
    service.start()
    service.stop()
    assert store.gaps("cam01", 0, WALL_BASE + 10**9) == [(last_end, None)]
    assert store.gaps("cam02", 0, WALL_BASE + 10**9) == []  # not recorded, no segments


def test_retention_policy_from_config() -> None:
    policy = retention_policy(SITE, "cam02")
    assert (policy.continuous_days, policy.event_days) == (3, 30)
    assert policy.max_bytes == 10_000_000_000  # one recorded camera gets the whole quota
    assert policy.min_free_bytes == 0
