"""The live wall in real headless Chromium: a real RTSP camera (H.264 without B-frames) plays
over WebRTC, passed through by the console; framesDecoded grows; the first frame comes within
1.5 s of the offer; an H.265 camera without a sub-stream falls back to snapshots, saying why."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.support.browser import console_browser, login, new_page, screenshot
from tests.support.clips import make_clip
from tests.support.demo import serve
from tests.support.rtsp import RtspServer, require_rtsp_server

GROWTH = """async (camera) => {
  const pc = window.hwLive.pcs[camera];
  const frames = async () => {
    let n = 0;
    (await pc.getStats()).forEach((r) => {
      if (r.type === "inbound-rtp" && r.kind === "video") n = r.framesDecoded || 0;
    });
    return n;
  };
  const before = await frames();
  await new Promise((resolve) => setTimeout(resolve, 2000));
  return [before, await frames(), window.hwLive.pcs[camera] === pc];
}"""

FIRST_FRAME = """() => { const t = window.hwLive && window.hwLive.timings.cam01;
  return Boolean(t && t.first_frame_ms !== null && window.hwLive.pcs.cam01); }"""


def config(path: Path, h264: str, hevc: str) -> Path:
    path.write_text(textwrap.dedent(f"""\
        name: 直播测试中心
        cameras:
          - id: cam01
            name: 一号摄像机
            url: {h264}
          - id: cam02
            name: 二号摄像机
            url: {hevc}
        windows:
          - id: W01
            name: 1号窗口
            department: 税务局
            camera: cam01
            staff_zone: [[0.1, 0.5], [0.5, 0.5], [0.5, 0.95], [0.1, 0.95]]
        recording:
          enabled: false
        """), encoding="utf-8")  # fmt: skip
    return path


@pytest.mark.slow
def test_wall_plays_rtsp_camera_over_webrtc(tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    require_rtsp_server()
    h264 = make_clip(tmp_path / "h264.mp4", seconds=8, fps=25, size=(640, 360), gop=25)
    hevc = make_clip(tmp_path / "hevc.mp4", seconds=4, fps=10, codec="libx265")
    with RtspServer({"/cam": h264, "/hevc": hevc}) as rtsp:
        site = config(tmp_path / "cameras.yaml", rtsp.url("/cam"), rtsp.url("/hevc"))
        with serve(site, tmp_path / "data", tmp_path / "serve.log") as (base, password), \
                console_browser() as browser:  # fmt: skip
            page = new_page(browser)
            login(page, base, "admin", password)
            page.wait_for_url(f"{base}/#/wall")
            page.wait_for_function(FIRST_FRAME, timeout=30_000)
            before, after, same = page.evaluate(GROWTH, "cam01")  # one connection, 2 s apart
            timings = page.evaluate("window.hwLive.timings")
            assert same and after >= before + 25, (before, after, same, timings)  # ~25 fps
            first_ms = page.evaluate("window.hwLive.timings.cam01.first_frame_ms")
            print(f"first frame {first_ms:.0f} ms after the offer")
            assert first_ms is not None and first_ms < 1500
            tile = page.locator("#tile-cam01")
            sync_api.expect(tile.locator(".badge")).to_have_text("实时")
            sync_api.expect(tile.locator("svg polygon")).to_have_count(1)
            sync_api.expect(tile.locator(".pill.ok")).to_have_text("在线")
            fallback = page.locator("#tile-cam02 .badge.fallback")
            sync_api.expect(fallback).to_contain_text("H.265", timeout=20_000)
            sync_api.expect(page.locator("#tile-cam02 img[data-camera=cam02]")).to_be_visible()
            screenshot(page, "wall-live")
            page.keyboard.press("1")  # one tile per page: two pages
            sync_api.expect(page.locator("#wall-page")).to_have_text("第 1 / 2 页")
            page.keyboard.press("PageDown")
            sync_api.expect(page.locator("#tile-cam02")).to_be_visible()
            page.keyboard.press("4")
            page.locator("#tile-cam01").dblclick()  # single view of one camera
            sync_api.expect(page.locator("#cameras .tile")).to_have_count(1)
            page.keyboard.press("Escape")
            sync_api.expect(page.locator("#cameras .tile")).to_have_count(2)
            page.click("#lang-toggle")
            sync_api.expect(page.locator("#tile-cam02 .badge.fallback")).to_contain_text(
                "No live video"
            )
