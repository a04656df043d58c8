"""The console in a real headless Chromium: login, live snapshot, an alarm appears, language."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.support.demo import demo

CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        reason = "Debian chromium is not installed (see .ci/apt-packages.txt)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@pytest.mark.slow
def test_operator_sees_live_console_and_alarm(tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = chromium()
    with demo(tmp_path / "data", tmp_path / "demo.log") as (base, password), \
            sync_api.sync_playwright() as playwright:  # fmt: skip
        browser = playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_FLAGS, headless=True
        )
        page = browser.new_page(locale="zh-CN", viewport={"width": 1400, "height": 900})
        page.goto(f"{base}/")
        page.wait_for_url("**/login")  # not logged in: the page sends us to the login form
        page.fill("#username", "admin")
        page.fill("#password", "wrong")
        page.click("button[type=submit]")
        sync_api.expect(page.locator("#login-error")).to_have_text("用户名或密码错误")
        page.fill("#password", password)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/")
        sync_api.expect(page.locator("header h1")).to_contain_text("政务服务视频监察")
        sync_api.expect(page.locator("#site-name")).to_have_text("演示政务服务中心")
        page.wait_for_function(
            "() => { const i = document.querySelector('img[data-camera=cam01]');"
            " return i && i.complete && i.naturalWidth === 768; }",
            timeout=30_000,
        )
        sync_api.expect(page.locator("#tile-cam01 .pill.ok")).to_have_text("在线")
        alarm = page.locator("#events li[data-event]").first
        sync_api.expect(alarm).to_contain_text("窗口空岗", timeout=40_000)
        sync_api.expect(page.locator("#stream-state")).to_have_text("已连接")
        page.screenshot(path=str(tmp_path / "console-zh.png"))
        page.click("#lang-toggle")
        sync_api.expect(page.locator("main h2").first).to_have_text("Live cameras")
        sync_api.expect(alarm).to_contain_text("Counter vacant")
        browser.close()
