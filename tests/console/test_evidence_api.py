"""Evidence API: event clip playback with Range, exports by role, 422 details, downloads, audit."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from console import evidence
from console.app import create_app
from console.auth import Role, ensure_user
from hallwatch.events import Event, EventType
from hallwatch.store import Store
from recordings.clips import Clip, ClipStore
from recordings.export import verify_export
from recordings.index import SegmentIndex
from tests.console.test_api import SITE, FixedLive
from tests.recordings.feed import WALL_BASE, demux_items, record
from tests.support.clips import make_clip
from tests.support.console_client import log_in

KEY = bytes(range(32))


@dataclass
class Hall:
    app: FastAPI
    store: Store
    clips: ClipStore
    event: Event  # has a clip
    clip: Clip
    exports: Path

    def client(self, role: Role) -> TestClient:
        client = TestClient(self.app)
        password = ensure_user(self.store, role.value, role)
        answer = log_in(client, role.value, password)
        assert answer.status_code == 200, answer.text
        return client

    def audit(self, action: str) -> list[dict[str, object]]:
        return [entry for entry in self.store.audit_entries() if entry["action"] == action]


def evidence_app(store: Store, index: SegmentIndex, clips: ClipStore, exports: Path) -> FastAPI:
    app = create_app(SITE, store, FixedLive(), recording_index=index)
    app.state.clips = clips
    app.state.site_key = KEY
    app.state.exports_dir = exports
    if not any(isinstance(r, APIRoute) and r.path == "/api/exports" for r in app.routes):
        app.include_router(evidence.router)  # until create_app wires it
    return app


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Hall]:
    """cam01 recorded for 4 s from WALL_BASE (segments of 2 s); one event with a clip."""
    store = Store(tmp_path / "hw.db")
    index = SegmentIndex(store, tmp_path / "rec")
    source = make_clip(tmp_path / "clip.mp4", seconds=4, fps=10, gop=10, size=(320, 180))
    record(list(demux_items(str(source), camera="cam01")), index, segment_s=2, camera="cam01")
    clips = ClipStore(store, tmp_path / "clips")
    event = store.add_event(Event(EventType.COUNTER_VACANT, "cam01", WALL_BASE + 1.5,
                                  WALL_BASE + 1.5, "W01", WALL_BASE + 2.5))  # fmt: skip
    clip = clips.cut_event(index, event, 1.0, 1.0)
    exports = tmp_path / "exports"
    yield Hall(evidence_app(store, index, clips, exports), store, clips, event, clip, exports)
    store.close()


def test_evidence_routes_need_login(site: Hall) -> None:
    client = TestClient(site.app)
    assert client.get(f"/api/events/{site.event.id}/clip").status_code == 401
    assert client.post("/api/exports", json={"event_id": site.event.id}).status_code == 401
    assert client.get("/api/exports/x/video.mp4").status_code == 401


def test_event_clip_plays_with_range_and_is_audited(site: Hall) -> None:
    client = site.client(Role.OPERATOR)
    url = f"/api/events/{site.event.id}/clip"
    whole = client.get(url)
    assert whole.status_code == 200 and whole.headers["content-type"] == "video/mp4"
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.content == site.clips.path_of(site.clip).read_bytes()
    part = client.get(url, headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.content == whole.content[:100]
    assert part.headers["content-range"] == f"bytes 0-99/{site.clip.bytes}"
    playback = site.audit("playback")
    assert len(playback) == 2 and playback[0]["target"] == site.clip.path
    assert playback[0]["username"] == "operator"
    assert playback[0]["details"] == {"camera": "cam01", "event": site.event.id,
                                      "clip": site.clip.id}  # fmt: skip


def test_event_clip_404_reasons(site: Hall) -> None:
    client = site.client(Role.OPERATOR)
    assert client.get("/api/events/999/clip").json()["detail"] == "no such event"
    other = site.store.add_event(Event("counter_vacant", "cam01", WALL_BASE, WALL_BASE))
    pending = client.get(f"/api/events/{other.id}/clip")
    assert pending.status_code == 404 and pending.json()["detail"] == "no clip for this event yet"
    site.clips.path_of(site.clip).unlink()
    gone = client.get(f"/api/events/{site.event.id}/clip")
    assert gone.status_code == 404 and gone.json()["detail"] == "the clip file is missing"
    site.app.state.clips = None
    off = client.get(f"/api/events/{site.event.id}/clip")
    assert off.status_code == 404 and off.json()["detail"] == "event clips are not enabled"


def test_only_inspectors_and_admins_export(site: Hall) -> None:
    body = {"camera": "cam01", "from": WALL_BASE + 0.5, "to": WALL_BASE + 2.5}
    assert site.client(Role.OPERATOR).post("/api/exports", json=body).status_code == 403
    answer = site.client(Role.INSPECTOR).post("/api/exports", json=body)
    assert answer.status_code == 201, answer.text
    result = answer.json()
    folder = site.exports / result["id"]
    assert verify_export(folder, KEY).ok
    assert result["manifest"]["exported_by"] == "inspector"
    assert result["manifest"]["range"]["start_unix"] == WALL_BASE
    assert {f["name"]: f["url"] for f in result["files"]} == {
        name: f"/api/exports/{result['id']}/{name}"
        for name in ("video.mp4", "README.txt", "manifest.json", "manifest.sig")
    }
    assert site.client(Role.ADMIN).post("/api/exports", json=body).status_code == 201
    audit = site.audit("export")
    assert [(a["username"], a["details"]["camera"]) for a in audit] == [  # type: ignore[index]
        ("admin", "cam01"), ("inspector", "cam01")]  # fmt: skip
    assert audit[1]["target"] == result["id"]
    listed = site.client(Role.INSPECTOR).get("/api/exports").json()
    assert len(listed) == 2 and result["id"] in {item["id"] for item in listed}
    assert site.client(Role.OPERATOR).get("/api/exports").status_code == 403


def test_export_of_an_event_uses_its_clip(site: Hall) -> None:
    answer = site.client(Role.INSPECTOR).post("/api/exports", json={"event_id": site.event.id})
    assert answer.status_code == 201, answer.text
    manifest = answer.json()["manifest"]
    assert manifest["clip"] == site.clip.id and manifest["event"]["id"] == site.event.id
    assert site.clips.get(site.clip.id).evidence


def problems_of(client: TestClient, body: dict[str, object]) -> set[tuple[str, ...]]:
    answer = client.post("/api/exports", json=body)
    assert answer.status_code == 422, answer.text
    return {tuple(problem["loc"]) for problem in answer.json()["detail"]}


def test_export_validation_names_the_fields(site: Hall) -> None:
    client = site.client(Role.INSPECTOR)
    base = WALL_BASE
    assert problems_of(client, {"camera": "cam01", "from": base, "to": base}) == {("body", "to")}
    assert problems_of(client, {"camera": "cam01", "from": base, "to": base + 3601}) == {
        ("body", "to")}  # fmt: skip
    assert problems_of(client, {"camera": "nope", "from": base, "to": base + 1}) == {
        ("body", "camera")}  # fmt: skip
    assert problems_of(client, {"from": base}) == {("body", "camera"), ("body", "to")}
    assert problems_of(client, {"event_id": site.event.id, "camera": "cam01"}) == {
        ("body", "event_id")}  # fmt: skip
    assert problems_of(client, {"event_id": 999}) == {("body", "event_id")}
    assert problems_of(client, {"camera": "cam01", "from": "soon", "to": base}) == {
        ("body", "from")}  # fmt: skip
    assert problems_of(client, {"event_id": 1, "path": "/etc"}) == {("body", "path")}
    assert problems_of(client, {"camera": "cam01", "from": "nan", "to": base}) == {
        ("body", "from")}  # fmt: skip
    none = client.post("/api/exports", json={"camera": "cam01", "from": base + 100,
                                             "to": base + 200})  # fmt: skip
    assert none.status_code == 404 and "no recording" in none.json()["detail"]
    assert site.audit("export") == [] and list(site.exports.iterdir()) == []
    range_body = {"camera": "cam01", "from": base, "to": base + 1}
    site.app.state.recordings = None
    off = client.post("/api/exports", json=range_body)
    assert off.status_code == 404 and off.json()["detail"] == "recording is not enabled"
    site.app.state.site_key = None
    assert client.post("/api/exports", json=range_body).status_code == 503


def test_export_download_is_audited_and_confined(site: Hall) -> None:
    inspector = site.client(Role.INSPECTOR)
    created = inspector.post("/api/exports", json={"event_id": site.event.id}).json()
    folder = site.exports / created["id"]
    for name in ("video.mp4", "manifest.json", "manifest.sig", "README.txt"):
        answer = inspector.get(f"/api/exports/{created['id']}/{name}")
        assert answer.status_code == 200 and answer.content == (folder / name).read_bytes()
        assert "attachment" in answer.headers["content-disposition"]
    part = inspector.get(f"/api/exports/{created['id']}/video.mp4", headers={"Range": "bytes=4-11"})
    assert part.status_code == 206 and part.content == b"ftypisom"
    downloads = site.audit("export_download")
    assert len(downloads) == 5 and downloads[-1]["target"] == f"{created['id']}/video.mp4"
    (site.exports.parent / "secret.txt").write_text("no")
    for url in (f"/api/exports/{created['id']}/..%2F..%2Fhw.db", "/api/exports/..%2F/secret.txt",
                f"/api/exports/{created['id']}/hw.db", "/api/exports/%2E%2E/README.txt",
                "/api/exports/20251009T085320Z-cam01-00000000/video.mp4"):  # fmt: skip
        assert inspector.get(url).status_code == 404, url
    assert len(site.audit("export_download")) == 5
    operator = site.client(Role.OPERATOR)
    assert operator.get(f"/api/exports/{created['id']}/video.mp4").status_code == 403
