"""The relay in the product: `hallwatch serve` with relay: push, gb28181 and upload configured.

One RTSP camera (GStreamer test server) is read once; its stream is pushed by RTMP into ffmpeg,
the cascade registers with sipp playing the upper platform, and an event stored in the site's
store reaches the platform as a GB alarm and the provincial webhook as a message. The console's
relay API and view show it all, and never a secret.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from hallwatch.events import Event
from hallwatch.store import Store
from tests.relay.test_gb_ps import require_ffmpeg
from tests.support.browser import console_browser, login, new_page, screenshot
from tests.support.clips import make_clip
from tests.support.console_client import log_in
from tests.support.demo import serve
from tests.support.net import free_port
from tests.support.rtsp import RtspServer, require_rtsp_server
from tests.support.sipp import Sipp, require_sipp
from tests.support.wait import wait_until

SERVER_ID, PLATFORM_ID = "34020000002000000001", "34020000002000000002"
CHANNEL_ID = "34020000001320000001"
GB_PASSWORD, UPLOAD_KEY, PUSH_PASSWORD = "gbS3cret", "upL0adKey", "pushPa55"


class Webhook:
    """The provincial platform's JSON webhook: checks the bearer key, keeps the messages."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Authorization") != f"Bearer {UPLOAD_KEY}":
                    self.send_response(401)
                else:
                    outer.messages.extend(json.loads(body)["messages"])
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alarms"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def rtmp_receiver(out: Path) -> Iterator[int]:
    """ffmpeg as the upstream RTMP server, copying what is published into `out`."""
    require_ffmpeg()
    port = free_port()
    proc = subprocess.Popen(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-listen", "1",
         "-i", f"rtmp://127.0.0.1:{port}/live/cam01", "-c", "copy", "-f", "flv", str(out)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def config(path: Path, rtsp: str, rtmp_port: int, sip_port: int, webhook: str) -> Path:
    path.write_text(textwrap.dedent(f"""\
        name: 联网测试中心
        cameras:
          - id: cam01
            name: 一号窗口摄像机
            url: {rtsp}
        recording:
          enabled: false
        relay:
          push:
            - camera: cam01
              url: rtmp://pusher:{PUSH_PASSWORD}@127.0.0.1:{rtmp_port}/live/cam01
          gb28181:
            server_id: "{SERVER_ID}"
            server_domain: "{SERVER_ID[:10]}"
            server_ip: 127.0.0.1
            server_port: {sip_port}
            platform_id: "{PLATFORM_ID}"
            password: {GB_PASSWORD}
            local_port: 0
            keepalive_interval_s: 2
            channels:
              - {{camera: cam01, channel_id: "{CHANNEL_ID}"}}
          upload:
            url: {webhook}
            key: {UPLOAD_KEY}
        """), encoding="utf-8")  # fmt: skip
    return path


def probe(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries",
         "stream=codec_name,width,height", "-of", "json", str(path)],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout  # fmt: skip
    streams: list[dict[str, Any]] = json.loads(out)["streams"]
    return streams[0]


@pytest.mark.slow
def test_serve_relays_stream_registration_alarm_and_upload(tmp_path: Path) -> None:
    require_rtsp_server()
    require_sipp()
    clip = make_clip(tmp_path / "cam.mp4", seconds=6, fps=10, size=(640, 360), gop=10)
    webhook = Webhook()
    sipp = Sipp("registrar.xml", tmp_path,
                variables={"user": PLATFORM_ID, "pass": GB_PASSWORD, "keepalive": "answer"},
                keys={"server_domain": SERVER_ID[:10], "expires": "3600"})  # fmt: skip
    pushed = tmp_path / "pushed.flv"
    with RtspServer({"/cam": clip}) as rtsp, rtmp_receiver(pushed) as rtmp_port, sipp:
        site = config(tmp_path / "cameras.yaml", rtsp.url("/cam"), rtmp_port, sipp.port,
                      webhook.url)  # fmt: skip
        data = tmp_path / "data"
        with serve(site, data, tmp_path / "serve.log") as (base, password), \
                httpx.Client(base_url=base) as client:  # fmt: skip
            assert log_in(client, "admin", password).is_success

            def relay() -> dict[str, Any]:
                answer: dict[str, Any] = client.get("/api/relay").json()
                return answer

            status = wait_until(
                lambda: (s := relay())["gb28181"]["state"] == "registered"
                and s["push"][0]["state"] == "pushing" and s["push"][0]["packets"] > 20 and s,
                40, "registered and pushing",
            )  # fmt: skip
            shown = json.dumps(status)
            for secret in (GB_PASSWORD, UPLOAD_KEY, PUSH_PASSWORD):
                assert secret not in shown
            assert status["push"][0]["url"].startswith("rtmp://***@127.0.0.1")

            store = Store(data / "hallwatch.db")  # a second writer, as the analysis is
            event = store.add_event(Event(type="counter_vacant", camera="cam01", window=None,
                                          start=1_700_000_000.0, detected_at=1_700_000_060.0))  # fmt: skip
            store.close()
            wait_until(lambda: any(m["id"] == event.id for m in webhook.messages), 20,
                       "the event at the webhook")  # fmt: skip
            wait_until(lambda: "MESSAGE Alarm" in sipp.logs(), 20, "a GB alarm at sipp")
            wait_until(lambda: relay()["upload"]["pending"] == 0, 20, "the outbox empty")
            status = relay()
            assert status["gb28181"]["alarms"]["sent"] >= 1
            assert status["gb28181"]["keepalives"]["sent"] >= 1
            assert status["upload"]["delivered_total"] >= 1
            assert client.get("/api/relay/outbox", params={"state": "failed"}).json() == {
                "items": []
            }
            assert client.post("/api/relay/outbox/retry").json() == {"rescheduled": 0}

            with console_browser() as browser:
                page = new_page(browser)
                login(page, base, "admin", password)
                page.goto(f"{base}/#/relay")
                page.wait_for_selector("#relay-gb [data-state=registered]")
                page.wait_for_selector("#relay-push-table [data-state=pushing]")
                assert "推流中" in page.inner_text("#relay-push")
                assert GB_PASSWORD not in page.content()
                screenshot(page, "relay")
        # `serve` stopped: the cascade unregistered (Expires: 0) on its way out
    webhook.close()
    got = probe(pushed)
    assert (got["codec_name"], got["width"], got["height"]) == ("h264", 640, 360)
