"""Console API: secure by default, login, cameras without credentials, events, SSE."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
from collections.abc import Iterator, Sequence
from types import SimpleNamespace
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
import uvicorn
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from console import api, pages
from console.app import ConsoleSettings, create_app
from console.auth import Role, ensure_user
from hallwatch.config import Site
from hallwatch.config_edit import ApplyResult
from hallwatch.events import Event
from hallwatch.live import LiveView
from hallwatch.store import Store
from ingest.packets import FanOut
from tests.support.console_client import log_in
from tests.support.net import free_port

PUBLIC = {"/", "/login", "/healthz", "/api/login", "/api/logout"}

SITE = Site.model_validate(
    {
        "name": "测试中心",
        "cameras": [
            {"id": "cam01", "name": "一号", "url": "rtsp://admin:TopSecret9@192.0.2.1/s",
             "sub_url": "rtsp://admin:TopSecret9@192.0.2.1/sub"},
        ],
        "windows": [
            {"id": "W01", "name": "1号窗口", "department": "税务局", "camera": "cam01",
             "staff_zone": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]},
        ],
    }
)  # fmt: skip


class FixedLive:
    """The console's view of the pipeline, with one fixed frame (the pipeline is tested apart)."""

    def __init__(self) -> None:
        ok, jpeg = cv2.imencode(".jpg", np.zeros((36, 64, 3), np.uint8))
        assert ok
        self.view: LiveView | None = None
        self.jpeg = jpeg.tobytes()

    def live(self, camera_id: str) -> LiveView | None:
        return self.view

    def camera_status(self, camera_id: str) -> dict[str, object]:
        return {"camera": camera_id, "online": self.view is not None, "reconnects": 0,
                "source": "rtsp://***@192.0.2.1/s", "last_frame_at": None}  # fmt: skip

    def live_fanout(self, camera_id: str, stream: str) -> FanOut | None:
        return None  # no video: the live view's own tests use real fan-outs

    def apply_site(self, site: Site) -> ApplyResult:
        return ApplyResult(applied=False, restart_required=True)  # no pipeline to change


@pytest.fixture
def live() -> FixedLive:
    return FixedLive()


@pytest.fixture
def client(store: Store, live: FixedLive) -> TestClient:
    app = create_app(SITE, store, live, ConsoleSettings())
    return TestClient(app)


def login(client: TestClient, store: Store, role: Role = Role.OPERATOR) -> None:
    password = ensure_user(store, "op", role)
    response = log_in(client, "op", password)
    assert response.status_code == 200, response.text


def test_every_non_public_route_needs_login(client: TestClient) -> None:
    public = {r.path for r in pages.router.routes if isinstance(r, APIRoute)}
    assert public == PUBLIC  # the only routes without a login, listed explicitly
    checked = 0
    for route in api.router.routes:
        assert isinstance(route, APIRoute)
        path = route.path.replace("{camera_id}", "cam01")
        for method in route.methods:
            response = client.request(method, path)
            assert response.status_code == 401, (method, path, response.status_code)
            checked += 1
    assert checked >= 8


def test_public_pages_and_assets_are_local(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and 'lang="zh-CN"' in page.text
    assert "http://" not in page.text and "https://" not in page.text  # no CDN
    assert client.get("/login").status_code == 200
    assert client.get("/static/js/main.js").status_code == 200
    assert client.get("/healthz").json() == {"status": "ok"}


def test_login_failure_and_audit(client: TestClient, store: Store) -> None:
    ensure_user(store, "op", Role.OPERATOR, "right-password")
    bad = client.post("/api/login", json={"username": "op", "password": "wrong"})
    assert bad.status_code == 401
    unknown = client.post("/api/login", json={"username": "nobody", "password": "x"})
    assert unknown.status_code == 401
    malformed = client.post("/api/login", json={"username": ""})
    assert malformed.status_code == 422
    fields = {tuple(item["loc"]) for item in malformed.json()["detail"]}
    assert fields == {("body", "username"), ("body", "password")}
    actions = [entry["action"] for entry in store.audit_entries()]
    assert actions.count("login_failed") == 2
    good = log_in(client, "op", "right-password")
    assert good.status_code == 200
    assert "httponly" in good.headers["set-cookie"].lower()
    assert client.get("/api/me").json() == {"username": "op", "role": "operator"}
    client.post("/api/logout")
    assert client.get("/api/me").status_code == 401


def test_cameras_never_show_credentials(client: TestClient, store: Store) -> None:
    login(client, store)
    response = client.get("/api/cameras")
    assert response.status_code == 200
    assert "TopSecret9" not in response.text and "admin" not in response.text
    camera = response.json()[0]
    assert camera["url"] == "rtsp://***@192.0.2.1/s"
    assert camera["windows"] == ["W01"]
    assert client.get("/api/cameras/nope").status_code == 404


def test_snapshot(client: TestClient, store: Store, live: FixedLive) -> None:
    login(client, store)
    assert client.get("/api/cameras/cam01/snapshot.jpg").status_code == 404
    live.view = LiveView(live.jpeg, time.time(), 1, {"W01": {"staff": 1, "state": "staffed"}})
    snap = client.get("/api/cameras/cam01/snapshot.jpg")
    assert snap.status_code == 200 and snap.headers["content-type"] == "image/jpeg"
    assert snap.content[:2] == b"\xff\xd8"
    windows = client.get("/api/windows").json()
    assert windows[0]["live"] == {"staff": 1, "state": "staffed"}


@pytest.mark.parametrize(
    ("now", "gaps"),
    [
        ("2024-12-31T17:00:00+00:00", []),  # 2025-01-01 01:00 in Shanghai: 2025 and 2026 known
        ("2025-12-31T17:00:00+00:00", [2027]),  # 2026-01-01 in Shanghai, 2025 in UTC
        ("2200-06-01T00:00:00+00:00", [2200, 2201]),
    ],
)
def test_site_names_the_years_without_a_holiday_calendar(
    client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch, now: str, gaps: list[int]
) -> None:
    login(client, store)
    instant = dt.datetime.fromisoformat(now).timestamp()
    monkeypatch.setattr(api, "time", SimpleNamespace(time=lambda: instant))
    site = client.get("/api/site").json()
    assert site["calendar_gaps"] == gaps  # the browser words them in the reader's language
    assert site["server_time"] == instant


def test_events_filters_and_validation(client: TestClient, store: Store) -> None:
    login(client, store)
    for window, start, end in (("W01", 100.0, 120.0), ("W02", 200.0, 220.0), ("W01", 300.0, None)):
        store.add_event(Event(type="counter_vacant", camera="cam01", window=window,
                              start=start, detected_at=start + 3, end=end))  # fmt: skip
    page = client.get("/api/events", params={"window": "W01", "limit": 1}).json()
    assert page["total"] == 2 and [e["start"] for e in page["items"]] == [300.0]
    assert page["items"][0]["label"] == "窗口空岗"
    ranged = client.get("/api/events", params={"from": 150, "to": 250}).json()
    assert [e["window"] for e in ranged["items"]] == ["W02"]
    bad = client.get("/api/events", params={"limit": 0, "from": "yesterday"})
    assert bad.status_code == 422
    assert {tuple(d["loc"]) for d in bad.json()["detail"]} == {
        ("query", "limit"),
        ("query", "from"),
    }
    reversed_range = client.get("/api/events", params={"from": 300, "to": 100})
    assert reversed_range.status_code == 422


def test_sse_delivers_stored_events_live(store: Store, live: FixedLive) -> None:
    app = create_app(SITE, store, live)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        password = ensure_user(store, "op", Role.OPERATOR)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            log_in(http, "op", password)
            with http.stream("GET", "/api/events/stream") as stream:
                assert stream.status_code == 200
                threading.Timer(0.3, lambda: store.add_event(Event(
                    type="counter_vacant", camera="cam01", window="W01", start=1.0,
                    detected_at=4.0))).start()  # fmt: skip
                received = _first_event(stream.iter_lines())
        assert received["window"] == "W01" and received["end"] is None
        assert any(e["action"] == "live_view" for e in store.audit_entries())
    finally:
        server.should_exit = True
        thread.join(10)


def _first_event(lines: Iterator[str]) -> dict[str, object]:
    for line in lines:
        if line.startswith("data: "):
            data: dict[str, object] = json.loads(line[len("data: ") :])
            return data
    raise AssertionError("stream ended without an event")


def test_metrics_need_login_or_token(store: Store, live: FixedLive) -> None:
    app = create_app(SITE, store, live, ConsoleSettings(metrics_token="scrape-me"))
    client = TestClient(app)
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    scraped = client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert 'hallwatch_camera_up{camera="cam01"} 0' in scraped.text
    assert "# TYPE hallwatch_camera_reconnects_total counter" in scraped.text
    login(client, store)
    assert client.get("/metrics").status_code == 200


def test_metrics_render_counters_and_escapes_labels() -> None:
    from console.metrics import render

    text = "\n".join(render({'cam"1': {"online": True, "reconnects": 3, "fps": 25.0,
                                        "analysis": {"frames_sampled": 7, "inferences": 5,
                                                     "inferences_skipped": 2},
                                        "dropped": {"analysis": 2, "recorder": 0}}}))  # fmt: skip
    assert 'hallwatch_camera_up{camera="cam\\"1"} 1' in text
    assert 'hallwatch_camera_reconnects_total{camera="cam\\"1"} 3.0' in text
    assert 'hallwatch_analysis_frames_sampled_total{camera="cam\\"1"} 7.0' in text
    assert 'hallwatch_analysis_inferences_total{camera="cam\\"1"} 5.0' in text
    assert 'hallwatch_analysis_inferences_skipped_total{camera="cam\\"1"} 2.0' in text
    assert 'hallwatch_consumer_dropped_total{camera="cam\\"1",consumer="analysis"} 2.0' in text
    assert 'hallwatch_camera_bitrate_bits_per_second{camera="cam\\"1"} NaN' in text


def all_routes(routes: Sequence[Any]) -> Iterator[APIRoute]:
    """The app's API routes, through included routers (FastAPI may wrap those)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from all_routes(route.original_router.routes)


def test_every_route_of_the_app_needs_a_login_or_a_source_key(
    store: Store, live: FixedLive
) -> None:
    """All routers, not only the main API: a route is public only if listed, the intake
    routes take a source system's key instead of a login."""
    app = create_app(SITE, store, live)
    client = TestClient(app)
    checked = 0
    for route in all_routes(app.routes):
        if route.path in PUBLIC:
            continue
        path = re.sub(r"\{[^}]+\}", "1", route.path.replace("{camera_id}", "cam01"))
        for method in route.methods:
            response = client.request(method, path)
            expected = 503 if route.path.startswith("/api/intake/") else 401  # no case store
            assert response.status_code in (expected, 401), (method, path, response.status_code)
            checked += 1
    assert checked >= 20


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/events/1/verdict", '{"verdict": "confirmed", "note": NaN}'),  # NaN: not JSON
        ("/api/events/1/verdict", '{"verdict": "\\ud800", "note": ""}'),  # a lone surrogate
        ("/api/users", '{"username": "\\ud800x", "role": "\\udfff"}'),
    ],
)
def test_malformed_input_that_cannot_be_echoed_still_gets_field_level_422(
    client: TestClient, store: Store, path: str, body: str
) -> None:
    password = ensure_user(store, "boss", Role.ADMIN)
    assert log_in(client, "boss", password).status_code == 200
    method = "PUT" if path.endswith("verdict") else "POST"
    response = client.request(
        method, path, content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    problems = response.json()["detail"]
    assert problems and all("loc" in p and "msg" in p and "input" not in p for p in problems)
