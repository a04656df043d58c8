"""The demo end to end: real clip → reader → detector → vacancy events → store → console."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.support.demo import demo
from tests.support.wait import wait_until


@pytest.mark.slow
def test_demo_produces_vacancy_events_and_keeps_them(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with (
        demo(data_dir, tmp_path / "demo1.log") as (base, password),
        httpx.Client(base_url=base, timeout=10) as http,
    ):
        assert http.get("/api/cameras").status_code == 401
        assert http.post("/api/login", json={"username": "admin", "password": password}).is_success
        cameras = http.get("/api/cameras").json()
        assert [c["id"] for c in cameras] == ["cam01", "cam02"]
        wait_until(lambda: all(c["status"]["online"] for c in http.get("/api/cameras").json()),
                     30, "both cameras online")  # fmt: skip
        snapshot = http.get("/api/cameras/cam01/snapshot.jpg")
        assert snapshot.status_code == 200 and snapshot.content[:2] == b"\xff\xd8"
        # the clip starts with an empty room for 6 s: an absence of 3 s opens an event,
        # the first visitor closes it
        closed = wait_until(
                lambda: [e for e in http.get("/api/events").json()["items"]
                         if e["type"] == "counter_vacant" and e["end"] is not None],
                60, "a closed counter_vacant event",
            )  # fmt: skip
        event = closed[-1]
        assert event["window"] in {"W01", "W02"}
        assert 3.0 <= event["end"] - event["start"] <= 15.0
        status = http.get("/api/cameras/cam01").json()["status"]
        assert status["analysis"]["decode_plan"] == "keyframes" and status["reconnects"] == 0
        assert status["codec"] == "h264" and status["fps"] > 5 and status["bitrate_bps"] > 0
        before = http.get("/api/events").json()["total"]
        now = time.time()
        timeline = http.get("/api/recordings", params={"camera": "cam01", "from": now - 600,
                                                       "to": now + 60}).json()  # fmt: skip
        assert timeline["segments"], timeline  # recording from the start
        assert status["recording"]["errors"] == 0
    # restart: every event is still there
    with (
        demo(data_dir, tmp_path / "demo2.log") as (base, password),
        httpx.Client(base_url=base, timeout=10) as http,
    ):
        http.post("/api/login", json={"username": "admin", "password": password})
        after = http.get("/api/events", params={"limit": 500}).json()
        assert after["total"] >= before
        ids = {e["id"] for e in after["items"]}
        assert event["id"] in ids
        assert all(e["end"] is not None for e in after["items"] if e["id"] <= event["id"])
