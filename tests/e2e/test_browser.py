"""The console in a real headless Chromium: login, the wall, an alarm appears, language.

The demo's footage (a file camera, MP4 without B-frames) plays live over WebRTC, passed through
unchanged; the RTSP camera path and the fallbacks are tested in test_live_wall."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.browser import console_browser, new_page, screenshot
from tests.support.demo import demo


@pytest.mark.slow
def test_operator_sees_live_console_and_alarm(tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    with demo(tmp_path / "data", tmp_path / "demo.log") as (base, password), \
            console_browser() as browser:  # fmt: skip
        page = new_page(browser, width=1400, height=900)
        page.goto(f"{base}/")
        page.wait_for_url("**/login")  # not logged in: the page sends us to the login form
        page.fill("#username", "admin")
        page.fill("#password", "wrong")
        page.click("button[type=submit]")
        sync_api.expect(page.locator("#login-error")).to_have_text("用户名或密码错误")
        page.fill("#password", password)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/#/wall")
        sync_api.expect(page.locator("header h1")).to_contain_text("政务服务视频监察")
        sync_api.expect(page.locator("#site-name")).to_have_text("演示政务服务中心")
        page.wait_for_function(  # the demo file's frames decoded in the browser, live
            "() => { const v = document.querySelector('#tile-cam01 video');"
            " return v && !v.hidden && v.videoWidth === 768 && v.currentTime > 0; }",
            timeout=30_000,
        )
        sync_api.expect(page.locator("#tile-cam01 .badge")).to_have_text("实时")
        sync_api.expect(page.locator("#tile-cam01 svg polygon")).to_have_count(1)  # W01's zone
        sync_api.expect(page.locator("#tile-cam01 .pill.ok")).to_have_text("在线")
        alarm = page.locator("#events li[data-event]").first
        sync_api.expect(alarm).to_contain_text("窗口空岗", timeout=40_000)
        sync_api.expect(page.locator("#stream-state")).to_have_text("已连接")
        screenshot(page, "wall-demo-zh")
        page.click("#lang-toggle")
        sync_api.expect(page.locator("main h2").first).to_have_text("Live cameras")
        sync_api.expect(alarm).to_contain_text("Counter vacant")
