"""Recordings API: timeline of segments and gaps, playback with HTTP Range, audit, 4xx."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from console.app import create_app
from console.auth import Role, ensure_user
from hallwatch.store import Store
from recordings.index import SegmentIndex
from tests.console.test_api import SITE, FixedLive
from tests.recordings.feed import WALL_BASE, demux_items, record
from tests.support.clips import make_clip
from tests.support.console_client import log_in


@pytest.fixture
def recorded(tmp_path: Path) -> Iterator[tuple[TestClient, Store, SegmentIndex]]:
    store = Store(tmp_path / "hw.db")
    index = SegmentIndex(store, tmp_path / "rec")
    clip = make_clip(tmp_path / "clip.mp4", seconds=4, fps=10, size=(320, 180))
    record(list(demux_items(str(clip), camera="cam01")), index, segment_s=2, camera="cam01")
    store.open_gap("cam01", WALL_BASE + 4.0, "no video")
    store.close_gap("cam01", WALL_BASE + 9.0)
    client = TestClient(create_app(SITE, store, FixedLive(), recording_index=index))
    password = ensure_user(store, "insp", Role.INSPECTOR)
    log_in(client, "insp", password)
    yield client, store, index
    store.close()


def test_timeline_lists_segments_and_gaps(recorded: tuple[TestClient, Store, SegmentIndex]) -> None:
    client, _, _ = recorded
    answer = client.get("/api/recordings", params={"camera": "cam01", "from": WALL_BASE - 10,
                                                   "to": WALL_BASE + 60})  # fmt: skip
    assert answer.status_code == 200, answer.text
    body = answer.json()
    starts = [round(s["start"] - WALL_BASE, 1) for s in body["segments"]]
    assert starts == [0.0, 2.0]
    assert all(s["state"] == "closed" and s["url"] for s in body["segments"])
    assert body["gaps"] == [{"start": WALL_BASE + 4.0, "end": WALL_BASE + 9.0}]
    narrow = client.get("/api/recordings", params={"camera": "cam01", "from": WALL_BASE + 2.5,
                                                   "to": WALL_BASE + 3})  # fmt: skip
    assert [round(s["start"] - WALL_BASE, 1) for s in narrow.json()["segments"]] == [2.0]


def test_timeline_validation(recorded: tuple[TestClient, Store, SegmentIndex]) -> None:
    client, _, _ = recorded
    missing = client.get("/api/recordings", params={"camera": "cam01"})
    assert missing.status_code == 422
    assert {tuple(d["loc"]) for d in missing.json()["detail"]} == {
        ("query", "from"),
        ("query", "to"),
    }
    bad = client.get("/api/recordings", params={"camera": "nope", "from": 10, "to": 5})
    assert bad.status_code == 422
    assert {tuple(d["loc"]) for d in bad.json()["detail"]} == {("query", "camera"), ("query", "to")}


def test_playback_supports_range_and_is_audited(
    recorded: tuple[TestClient, Store, SegmentIndex],
) -> None:
    client, store, index = recorded
    segment = index.all_closed("cam01")[0]
    whole = client.get(f"/api/recordings/{segment.id}/video")
    assert whole.status_code == 200 and whole.headers["content-type"] == "video/mp4"
    assert whole.headers["accept-ranges"] == "bytes"
    assert len(whole.content) == segment.bytes
    part = client.get(f"/api/recordings/{segment.id}/video", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.content == whole.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{segment.bytes}"
    audit = [e for e in store.audit_entries() if e["action"] == "playback"]
    assert len(audit) == 2 and audit[0]["username"] == "insp"
    assert client.get("/api/recordings/9999/video").status_code == 404


def test_recordings_need_login(recorded: tuple[TestClient, Store, SegmentIndex]) -> None:
    client, _, index = recorded
    client.post("/api/logout")
    segment = index.all_closed("cam01")[0]
    assert client.get(f"/api/recordings/{segment.id}/video").status_code == 401
    assert (
        client.get("/api/recordings", params={"camera": "cam01", "from": 0, "to": 1}).status_code
        == 401
    )
