"""Live view signalling: roles, malformed offers, unknown cameras, unavailable plans, audit;
and a Python aiortc peer receiving H.264 over WebRTC from the real route, not re-encoded."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiortc.codecs.h264 import H264Encoder
from fastapi.testclient import TestClient

from console.app import create_app
from console.auth import Role, ensure_user
from hallwatch.config import Site
from hallwatch.store import Store
from tests.console.live.rig import logged_in, readers, receive, running
from tests.console.test_api import FixedLive
from tests.support.clips import make_clip
from tests.support.rtsp import RtspServer, require_rtsp_server

PASSWORD = "live-wall-password-1"
OFFER = {"sdp": "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n", "type": "offer"}


def site(url: str = "cam.mp4", sub_url: str | None = None) -> Site:
    camera = {"id": "cam01", "name": "一号", "url": url, "hall": "H1"}
    if sub_url is not None:
        camera["sub_url"] = sub_url
    return Site.model_validate(
        {"name": "t", "halls": [{"id": "H1", "name": "一楼"}, {"id": "H2", "name": "二楼"}],
         "cameras": [camera]}
    )  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "hw.db")
    for name, role in (("op", Role.OPERATOR), ("insp", Role.INSPECTOR), ("adm", Role.ADMIN)):
        ensure_user(store, name, role, PASSWORD)
    yield store
    store.close()


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(site(), store, FixedLive())) as client:  # no video at all
        yield client


def test_live_routes_need_a_session_and_the_operator_role(client: TestClient) -> None:
    assert client.get("/api/live/cam01").status_code == 401
    assert client.post("/api/live/cam01/offer", json=OFFER).status_code == 401
    assert client.delete("/api/live/sessions/x").status_code == 401
    assert client.get("/api/live/sessions").status_code == 401
    logged_in(client, "insp", PASSWORD)
    assert client.get("/api/live/cam01").status_code == 403
    assert client.post("/api/live/cam01/offer", json=OFFER).status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "offer"}, "sdp"),
        ({"sdp": "", "type": "offer"}, "sdp"),
        ({"sdp": "v=0", "type": "answer"}, "type"),
        ({"sdp": "v=0", "type": "offer", "extra": 1}, "extra"),
        ({"sdp": "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n", "type": "offer"}, "sdp"),
    ],
)
def test_malformed_offers_get_field_details(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    logged_in(client, "op", PASSWORD)
    response = client.post("/api/live/cam01/offer", json=body)
    assert response.status_code == 422, response.text
    assert any(problem["loc"][-1] == field for problem in response.json()["detail"])


def test_unknown_camera_and_session_are_404(client: TestClient) -> None:
    logged_in(client, "op", PASSWORD)
    assert client.get("/api/live/nope").status_code == 404
    assert client.post("/api/live/nope/offer", json=OFFER).status_code == 404
    assert client.delete("/api/live/sessions/nope").status_code == 404
    assert client.get("/api/live/sessions").json() == []


def test_camera_outside_the_users_halls_is_403(client: TestClient, store: Store) -> None:
    ensure_user(store, "op2", Role.OPERATOR, PASSWORD)
    with store.transaction() as conn:
        conn.execute("UPDATE users SET halls = ? WHERE username = ?", ('["H2"]', "op2"))
    logged_in(client, "op2", PASSWORD)
    assert client.get("/api/live/cam01").status_code == 403


def test_camera_without_video_is_unavailable_with_a_reason(client: TestClient) -> None:
    logged_in(client, "op", PASSWORD)
    plan = client.get("/api/live/cam01").json()
    assert plan["available"] is False and plan["reason"] == "offline"
    assert plan["message"]["zh"].startswith("摄像机暂无视频")
    response = client.post("/api/live/cam01/offer", json=OFFER)
    assert response.status_code == 409
    assert response.json()["detail"]["reason"] == "offline"


def test_h265_main_without_sub_stream_says_why(store: Store, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "hevc.mp4", seconds=2, fps=10, codec="libx265")
    with readers({"cam01": {"main": str(clip)}}, tmp_path) as source, \
            TestClient(create_app(site(str(clip)), store, source)) as client:  # fmt: skip
        logged_in(client, "op", PASSWORD)
        plan = client.get("/api/live/cam01").json()
        assert plan["reason"] == "codec_no_sub" and plan["codec"] == "hevc"
        assert "H.265" in plan["message"]["zh"] and "H.264" in plan["message"]["en"]


def test_h265_main_plays_its_h264_sub_stream(store: Store, tmp_path: Path) -> None:
    main = make_clip(tmp_path / "hevc.mp4", seconds=2, fps=10, codec="libx265")
    sub = make_clip(tmp_path / "sub.mp4", seconds=2, fps=10, size=(320, 180))
    urls = {"cam01": {"main": str(main), "sub": str(sub)}}
    with (
        readers(urls, tmp_path) as source,
        running(create_app(site(str(main), str(sub)), store, source)) as base,
    ):
        got = asyncio.run(receive(base, "op", PASSWORD, "cam01", frames=5))
    assert got.plan["stream"] == "sub" and got.sizes == {(320, 180)}


class Packer:
    """Counts what aiortc's H.264 encoder is asked to do: pack packets or encode frames."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.packed = 0
        self.encoded = 0
        pack, encode = H264Encoder.pack, H264Encoder.encode

        def counted_pack(encoder: H264Encoder, packet: Any) -> Any:
            self.packed += 1
            return pack(encoder, packet)

        def counted_encode(encoder: H264Encoder, *args: Any, **kwargs: Any) -> Any:
            self.encoded += 1
            return encode(encoder, *args, **kwargs)

        monkeypatch.setattr(H264Encoder, "pack", counted_pack)
        monkeypatch.setattr(H264Encoder, "encode", counted_encode)


@pytest.mark.slow
def test_peer_receives_rtsp_h264_passed_through_and_every_view_is_audited(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_rtsp_server()
    packer = Packer(monkeypatch)
    clip = make_clip(tmp_path / "cam.mp4", seconds=6, fps=25, size=(640, 360), gop=25)
    with RtspServer({"/cam": clip}) as server:
        url = server.url("/cam")
        with readers({"cam01": {"main": url}}, tmp_path) as source:
            app = create_app(site(url), store, source)
            with running(app) as base:
                first = asyncio.run(receive(base, "op", PASSWORD, "cam01", frames=40))
                second = asyncio.run(receive(base, "adm", PASSWORD, "cam01", frames=10))
                assert app.state.live_hub.sessions == {}
    assert packer.packed >= 50 and packer.encoded == 0  # passed through, never re-encoded
    for got in (first, second):
        assert got.plan["stream"] == "main" and got.sizes == {(640, 360)}
        start = got.counters[0]  # the loop restarts at 0 after the clip's last frame
        assert got.counters == [(start + i) % 150 for i in range(len(got.counters))]
    assert second.first_frame_s is not None and second.first_frame_s < 1.5
    audit = [e for e in store.audit_entries(50) if e["action"].startswith("live_view")]
    ends = [e for e in audit if e["action"] == "live_view_end"]
    assert {e["details"]["session"] for e in ends} == {first.session_id, second.session_id}
    for end in ends:
        details = end["details"]
        assert details["to"] >= details["from"] and details["seconds"] >= 0
    assert {(e["username"], e["target"]) for e in audit} == {("op", "cam01"), ("adm", "cam01")}
