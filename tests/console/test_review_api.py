"""Review API: alarm acks (operators), verdicts and the review queue (inspectors), by role,
with field-level 422s, 404s, audit rows, and the ack/verdict/severity on every event JSON."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from console.app import create_app
from console.auth import Role, ensure_user
from hallwatch.config import Site
from hallwatch.events import Event, EventType
from hallwatch.store import Store
from recordings.clips import ClipStore
from recordings.index import SegmentIndex
from tests.console.test_api import FixedLive
from tests.recordings.feed import WALL_BASE, demux_items, record
from tests.support.clips import make_clip
from tests.support.console_client import log_in
from tests.support.net import free_port

SITE = Site.model_validate(
    {
        "name": "测试中心",
        "halls": [{"id": "H1", "name": "一楼"}, {"id": "H2", "name": "二楼"}],
        "cameras": [
            {"id": "cam01", "name": "一号", "hall": "H1", "url": "rtsp://u:TopSecret9@192.0.2.1/a"},
            {"id": "cam02", "name": "二号", "hall": "H2", "url": "rtsp://192.0.2.1/b"},
        ],
        "windows": [
            {"id": "W01", "name": "1号窗口", "department": "税务局", "camera": "cam01",
             "staff_zone": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]],
             "queue_zone": [[0.1, 0.6], [0.9, 0.6], [0.9, 0.9]]},
            {"id": "W02", "name": "2号窗口", "department": "市场监管局", "camera": "cam02",
             "staff_zone": [[0.2, 0.2], [0.6, 0.2], [0.6, 0.6]]},
        ],
    }
)  # fmt: skip


@dataclass
class Console:
    app: FastAPI
    store: Store
    clips: ClipStore
    vacant: Event  # cam01 / W01 / H1 / 税务局, has a clip
    queue: Event  # cam02 / W02 / H2 / 市场监管局
    card: Event  # a red card of 税务局 without a window

    def client(self, role: Role) -> TestClient:
        client = TestClient(self.app)
        password = ensure_user(self.store, role.value, role)
        assert log_in(client, role.value, password).status_code == 200
        return client

    def audit(self, action: str) -> list[dict[str, Any]]:
        return [entry for entry in self.store.audit_entries() if entry["action"] == action]


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    store = Store(tmp_path / "hw.db")
    index = SegmentIndex(store, tmp_path / "rec")
    source = make_clip(tmp_path / "clip.mp4", seconds=4, fps=10, gop=10, size=(320, 180))
    record(list(demux_items(str(source), camera="cam01")), index, segment_s=2, camera="cam01")
    clips = ClipStore(store, tmp_path / "clips")
    vacant = store.add_event(Event(EventType.COUNTER_VACANT, "cam01", WALL_BASE + 1.5,
                                   WALL_BASE + 1.5, "W01", WALL_BASE + 2.5))  # fmt: skip
    clips.cut_event(index, vacant, 1.0, 1.0)
    queue = store.add_event(Event(EventType.QUEUE_BUILDUP, "cam02", WALL_BASE + 10,
                                  WALL_BASE + 10, "W02", None, {"length": 8}))  # fmt: skip
    card = store.add_event(Event(EventType.CASE_RED, "", WALL_BASE + 20, WALL_BASE + 20,
                                 details={"department": "税务局", "case_id": "C1"}))  # fmt: skip
    app = create_app(SITE, store, FixedLive(), recording_index=index)
    app.state.clips = clips
    yield Console(app, store, clips, vacant, queue, card)
    store.close()


def test_review_routes_need_login(console: Console) -> None:
    client = TestClient(console.app)
    event_id = console.vacant.id
    assert client.post(f"/api/events/{event_id}/ack").status_code == 401
    assert client.put(f"/api/events/{event_id}/verdict",
                      json={"verdict": "confirmed"}).status_code == 401  # fmt: skip
    assert client.get(f"/api/events/{event_id}/review").status_code == 401
    assert client.get("/api/review").status_code == 401


def test_roles(console: Console) -> None:
    event_id = console.vacant.id
    inspector, operator = console.client(Role.INSPECTOR), console.client(Role.OPERATOR)
    auditor = console.client(Role.AUDITOR)
    for client in (inspector, auditor):
        assert client.post(f"/api/events/{event_id}/ack").status_code == 403
    for client in (operator, auditor):
        assert client.put(f"/api/events/{event_id}/verdict",
                          json={"verdict": "confirmed"}).status_code == 403  # fmt: skip
        assert client.get(f"/api/events/{event_id}/review").status_code == 403
        assert client.get("/api/review").status_code == 403
    admin = console.client(Role.ADMIN)
    assert admin.post(f"/api/events/{event_id}/ack").status_code == 200
    assert admin.get("/api/review").status_code == 200
    assert console.audit("verdict") == []


def test_ack_is_idempotent_bumps_seq_and_is_audited(console: Console) -> None:
    operator = console.client(Role.OPERATOR)
    event_id = console.vacant.id
    first = operator.post(f"/api/events/{event_id}/ack")
    assert first.status_code == 200, first.text
    assert first.json()["stored"] and first.json()["ack"]["by"] == "operator"
    seq = console.store.get_event(event_id or 0).seq
    assert seq == console.store.max_seq() and seq > console.card.seq  # re-sent by the stream
    admin = console.client(Role.ADMIN)
    again = admin.post(f"/api/events/{event_id}/ack").json()
    assert not again["stored"] and again["ack"] == first.json()["ack"]
    assert console.store.get_event(event_id or 0).seq == seq
    audit = console.audit("alarm_ack")
    assert [(a["username"], a["target"]) for a in audit] == [("operator", f"event/{event_id}")]
    listed = operator.get("/api/events").json()["items"]
    shown = {item["id"]: item for item in listed}
    assert shown[event_id]["ack"] == first.json()["ack"]
    assert shown[console.queue.id]["ack"] is None
    assert operator.post("/api/events/999/ack").status_code == 404
    assert operator.post("/api/events/x/ack").status_code == 422


def test_event_list_carries_severity(console: Console) -> None:
    inspector = console.client(Role.INSPECTOR)
    severities = {item["type"]: item["severity"]
                  for item in inspector.get("/api/events").json()["items"]}  # fmt: skip
    assert severities == {"counter_vacant": "major", "queue_buildup": "major",
                          "case_red": "critical"}  # fmt: skip


def _first_event(lines: Iterator[str]) -> dict[str, Any]:
    for line in lines:
        if line.startswith("data: "):
            data: dict[str, Any] = json.loads(line[len("data: ") :])
            return data
    raise AssertionError("stream ended without an event")


def test_an_ack_is_pushed_to_every_console(console: Console) -> None:
    """Another console's stream, caught up with every event, receives the acknowledged one."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(console.app, host="127.0.0.1", port=port,
                                           log_level="error"))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        acker = console.client(Role.OPERATOR)
        password = ensure_user(console.store, "watcher", Role.OPERATOR)
        caught_up = str(console.store.max_seq())
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            log_in(http, "watcher", password)
            with http.stream("GET", "/api/events/stream",
                             headers={"Last-Event-ID": caught_up}) as stream:  # fmt: skip
                assert stream.status_code == 200
                threading.Timer(0.3, lambda: acker.post(
                    f"/api/events/{console.vacant.id}/ack")).start()  # fmt: skip
                received = _first_event(stream.iter_lines())
    finally:
        server.should_exit = True
        thread.join(10)
    assert received["id"] == console.vacant.id and received["ack"]["by"] == "operator"
    assert received["severity"] == "major" and received["verdict"] is None


def test_verdict_history_and_audit(console: Console) -> None:
    inspector = console.client(Role.INSPECTOR)
    url = f"/api/events/{console.vacant.id}/verdict"
    before = console.store.get_event(console.vacant.id or 0).seq
    first = inspector.put(url, json={"verdict": "follow_up", "note": "看不清"})
    assert first.status_code == 200, first.text
    assert console.store.get_event(console.vacant.id or 0).seq > before
    second = inspector.put(url, json={"verdict": "confirmed", "note": "确认离岗 12 分钟"}).json()
    assert [h["verdict"] for h in second["history"]] == ["confirmed", "follow_up"]
    assert second["verdict"]["by"] == "inspector"
    audit = console.audit("verdict")
    assert [a["details"] for a in audit] == [{"verdict": "confirmed", "note_chars": 10},
                                             {"verdict": "follow_up", "note_chars": 3}]  # fmt: skip
    assert audit[0]["target"] == f"event/{console.vacant.id}"
    review = inspector.get(f"/api/events/{console.vacant.id}/review").json()
    assert [h["note"] for h in review["history"]] == ["确认离岗 12 分钟", "看不清"]
    assert review["event"]["verdict"]["verdict"] == "confirmed"
    assert (
        inspector.put("/api/events/999/verdict", json={"verdict": "confirmed"}).status_code == 404
    )


def verdict_problems(client: TestClient, body: Any) -> set[tuple[str, ...]]:
    answer = client.put("/api/events/1/verdict", json=body)
    assert answer.status_code == 422, answer.text
    return {tuple(str(part) for part in p["loc"]) for p in answer.json()["detail"]}


def test_verdict_validation_names_the_fields(console: Console) -> None:
    inspector = console.client(Role.INSPECTOR)
    assert verdict_problems(inspector, {"verdict": "maybe"}) == {("body", "verdict")}
    assert verdict_problems(inspector, {}) == {("body", "verdict")}
    assert verdict_problems(inspector, {"verdict": "confirmed", "note": "x" * 2001}) == {
        ("body", "note")}  # fmt: skip
    assert verdict_problems(inspector, {"verdict": "confirmed", "who": "me"}) == {("body", "who")}
    assert console.audit("verdict") == []


def test_review_of_an_event(console: Console) -> None:
    inspector = console.client(Role.INSPECTOR)
    review = inspector.get(f"/api/events/{console.vacant.id}/review").json()
    assert review["hall"] == {"id": "H1", "name": "一楼"}
    assert (review["department"], review["window_name"]) == ("税务局", "1号窗口")
    assert review["clip"]["available"] and review["clip"]["url"].endswith("/clip")
    assert review["clip"]["fps"] == pytest.approx(10, abs=1)
    assert [(z["id"], z["kind"]) for z in review["zones"]] == [
        ("W01", "staff_zone"), ("W01", "queue_zone")]  # fmt: skip
    assert review["ack"] is None and review["history"] == []
    assert review["event"]["severity"] == "major"
    queue = inspector.get(f"/api/events/{console.queue.id}/review").json()
    assert queue["clip"] == {"available": False, "enabled": True}
    card = inspector.get(f"/api/events/{console.card.id}/review").json()
    assert (card["hall"], card["department"], card["zones"]) == (None, "税务局", [])
    assert "TopSecret9" not in str(review)
    assert inspector.get("/api/events/999/review").status_code == 404


def queue_ids(client: TestClient, **query: Any) -> list[int]:
    answer = client.get("/api/review", params=query)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["total"] >= len(body["items"])
    return [item["id"] for item in body["items"]]


def test_queue_filters(console: Console) -> None:
    inspector = console.client(Role.INSPECTOR)
    vacant, queue, card = console.vacant.id, console.queue.id, console.card.id
    assert queue_ids(inspector) == [card, queue, vacant]
    assert queue_ids(inspector, hall="H2") == [queue]
    assert queue_ids(inspector, department="税务局") == [card, vacant]
    assert queue_ids(inspector, window="W01") == [vacant]
    assert queue_ids(inspector, camera="cam02") == [queue]
    assert queue_ids(inspector, type="case_red") == [card]
    assert queue_ids(inspector, **{"from": WALL_BASE + 5, "to": WALL_BASE + 15}) == [queue]
    inspector.put(f"/api/events/{queue}/verdict", json={"verdict": "false_alarm"})
    assert queue_ids(inspector, verdict="unreviewed") == [card, vacant]
    assert queue_ids(inspector, verdict="false_alarm") == [queue]
    assert queue_ids(inspector, verdict="reviewed") == [queue]
    paged = inspector.get("/api/review", params={"limit": 1, "offset": 1}).json()
    assert paged["total"] == 3 and [item["id"] for item in paged["items"]] == [queue]
    assert paged["items"][0]["verdict"]["verdict"] == "false_alarm"


def queue_problems(client: TestClient, **query: Any) -> set[tuple[str, ...]]:
    answer = client.get("/api/review", params=query)
    assert answer.status_code == 422, answer.text
    return {tuple(str(part) for part in p["loc"]) for p in answer.json()["detail"]}


def test_queue_422_names_the_fields(console: Console) -> None:
    inspector = console.client(Role.INSPECTOR)
    assert queue_problems(inspector, hall="H9") == {("query", "hall")}
    assert queue_problems(inspector, department="公安局", window="W9") == {
        ("query", "department"), ("query", "window")}  # fmt: skip
    assert queue_problems(inspector, type="fire", camera="x") == {
        ("query", "type"), ("query", "camera")}  # fmt: skip
    assert queue_problems(inspector, verdict="maybe") == {("query", "verdict")}
    assert queue_problems(inspector, **{"from": 10, "to": 5}) == {("query", "to")}
    assert queue_problems(inspector, **{"from": "soon"}) == {("query", "from")}
    assert queue_problems(inspector, limit=0, offset=-1) == {("query", "limit"),
                                                             ("query", "offset")}  # fmt: skip


def test_a_user_limited_to_a_hall_reviews_only_its_events(console: Console) -> None:
    inspector = console.client(Role.INSPECTOR)
    operator = console.client(Role.OPERATOR)
    console.store.update_user("inspector", halls=["H2"])
    console.store.update_user("operator", halls=["H2"])
    assert queue_ids(inspector) == [console.queue.id]  # cam02 in H2; no card without a camera
    assert queue_ids(inspector, department="税务局") == []
    assert inspector.get("/api/review", params={"hall": "H1"}).status_code == 403
    assert queue_ids(inspector, hall="H2") == [console.queue.id]
    hidden = console.vacant.id
    assert inspector.get(f"/api/events/{hidden}/review").status_code == 404
    assert inspector.put(f"/api/events/{hidden}/verdict",
                         json={"verdict": "confirmed"}).status_code == 404  # fmt: skip
    assert operator.post(f"/api/events/{hidden}/ack").status_code == 404
    assert operator.post(f"/api/events/{console.queue.id}/ack").status_code == 200
    assert console.audit("verdict") == [] and len(console.audit("alarm_ack")) == 1
