"""The demo end to end: real clip → reader → detector → vacancy events → store → console."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import av
import httpx
import pytest

from tests.support.console_client import log_in
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
        assert log_in(http, "admin", password).is_success
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
        log_in(http, "admin", password)
        after = http.get("/api/events", params={"limit": 500}).json()
        assert after["total"] >= before
        ids = {e["id"] for e in after["items"]}
        assert event["id"] in ids
        assert all(e["end"] is not None for e in after["items"] if e["id"] <= event["id"])


@pytest.mark.slow
def test_demo_event_gets_a_clip_and_exports_verify(tmp_path: Path) -> None:
    """Runtime → recorder → clip maker → evidence export → `hallwatch verify-export`."""
    data_dir = tmp_path / "data"
    with (
        demo(data_dir, tmp_path / "demo.log") as (base, password),
        httpx.Client(base_url=base, timeout=30) as http,
    ):
        log_in(http, "admin", password)
        closed = wait_until(
            lambda: [e for e in http.get("/api/events", params={"camera": "cam01"}).json()["items"]
                     if e["end"] is not None],
            60, "a closed event on cam01",
        )  # fmt: skip
        event = closed[-1]
        # the clip is cut once the post-roll (10 s) is recorded
        clip = wait_until(
            lambda: (r := http.get(f"/api/events/{event['id']}/clip")).status_code == 200 and r,
            60, "the event's clip",
        )  # fmt: skip
        assert clip.headers["content-type"] == "video/mp4"
        (tmp_path / "clip.mp4").write_bytes(clip.content)
        with av.open(str(tmp_path / "clip.mp4")) as container:
            stream = container.streams.video[0]
            frames = sum(1 for _ in container.decode(stream))
        event_s = event["end"] - event["start"]
        # the demo started recording with the event, so there is no pre-roll; 10 s post-roll
        assert frames / 10 >= event_s + 8, (frames, event_s)
        created = http.post("/api/exports", json={"event_id": event["id"]})
        assert created.status_code == 201, created.text
        export = tmp_path / "export"
        export.mkdir()
        for file in created.json()["files"]:
            (export / file["name"]).write_bytes(http.get(file["url"]).content)
    key = data_dir / "site.key"
    verified = subprocess.run(
        [sys.executable, "-m", "hallwatch.cli", "verify-export", str(export), "--key", str(key)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "OK" in verified.stdout
    video = export / "video.mp4"
    video.write_bytes(video.read_bytes()[:-1] + b"\x00")  # one byte altered
    tampered = subprocess.run(
        [sys.executable, "-m", "hallwatch.cli", "verify-export", str(export), "--key", str(key)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert tampered.returncode == 1 and "video.mp4" in tampered.stdout
