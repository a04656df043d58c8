"""Playback, the case page and dashboards in a real headless Chromium against `hallwatch demo`
(two cameras recorded in 10 s segments, synthetic approval cases)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import console_browser, login, new_page, screenshot
from tests.support.demo import demo

PLAYING = (
    "() => { const v = document.querySelector('#playback-video');"
    " return v && !v.paused && v.currentTime > 1.5; }"
)


def check_playback(page: Any, expect: Any, base: str) -> None:
    page.goto(f"{base}/#/playback/?camera=cam01")
    closed = page.locator("#playback-timeline rect.segment:not(.open)")
    expect(closed.first).to_be_attached(timeout=60_000)  # a 10 s segment has closed
    page.locator("#playback-timeline").focus()
    for _ in range(4):  # day -> 6 h -> 2 h -> 1 h -> 15 min
        page.keyboard.press("+")
    expect(page.locator("#playback-span")).to_contain_text("显示范围")
    closed.last.click()
    page.wait_for_function(PLAYING, timeout=20_000)
    before = page.evaluate("document.querySelector('#playback-video').currentTime")
    page.wait_for_timeout(1500)
    after = page.evaluate("document.querySelector('#playback-video').currentTime")
    assert after > before or page.evaluate("document.querySelector('#playback-video').dataset"
                                           ".segment") is not None  # fmt: skip
    expect(page.locator("#playback-status")).to_contain_text("正在播放")
    cursor = page.locator("#playback-cursor")
    x0 = float(cursor.get_attribute("x1") or 0)
    page.keyboard.press("ArrowLeft")
    assert float(cursor.get_attribute("x1") or 0) < x0  # 10 s back
    page.keyboard.press("[")  # a range of a minute from the cursor
    expect(page.locator("#playback-download")).to_be_enabled()
    screenshot(page, "playback")
    page.click("#playback-download")
    expect(page.locator("#playback-export li a").first).to_be_visible(timeout=60_000)


def check_case(page: Any, expect: Any, base: str) -> None:
    page.goto(f"{base}/#/cases/?window=W01")
    link = page.locator("#cases-table a.case-link").first
    expect(link).to_be_visible(timeout=30_000)
    expect(page.locator("#cases-page")).to_contain_text("共")
    link.click()
    expect(page.locator("#case-clock-text")).to_contain_text("承诺时限")
    expect(page.locator("#case-clock-text")).to_contain_text("个工作日")
    expect(page.locator("#case-clock-text")).to_contain_text(re.compile("剩余|已超期"))
    assert page.locator("#case-timeline li").count() >= 2  # accepted and at least one more
    play = page.locator("#case-timeline a.play-link", has_text="播放受理时录像")
    expect(play).to_be_visible()
    screenshot(page, "case")
    camera, when = play.get_attribute("data-camera"), play.get_attribute("data-t")
    play.click()
    page.wait_for_url(re.compile(re.escape(f"#/playback/?camera={camera}&t={when}") + "$"))
    expect(page.locator("#playback-timeline")).to_be_visible()
    day = page.evaluate(
        "(t) => { const d = new Date(t * 1000); return d.getFullYear() + '-' +"
        " String(d.getMonth() + 1).padStart(2, '0') + '-' + String(d.getDate()).padStart(2, '0'); }",
        int(when or 0),
    )
    expect(page.locator("#playback-day")).to_have_value(day)
    expect(page.locator("#playback-camera")).to_have_value(camera or "")


def check_dashboard(page: Any, expect: Any, base: str) -> None:
    page.goto(f"{base}/#/dashboard")
    for chart in ("chart-vacancy", "chart-queue", "chart-waits", "chart-cases", "chart-cards"):
        expect(page.locator(f"#{chart} svg")).to_be_visible(timeout=30_000)
    bars = page.locator("#chart-cases rect.bar")
    values = [float(v or 0) for v in bars.evaluate_all("rs => rs.map(r => r.dataset.value)")]
    assert values and max(values) > 0  # the demo's open cases
    assert page.locator("#chart-vacancy rect.bar").count() == 2  # W01 and W02
    assert page.locator("#chart-waits rect.bar").count() == 7  # the wait buckets
    page.click("button[data-days='30']")
    expect(page.locator("#chart-vacancy-day rect.bar")).to_have_count(30)
    expect(page.locator("#dashboard-period")).to_contain_text("统计期间")
    screenshot(page, "dashboard")
    page.click("#lang-toggle")
    expect(page.locator("#chart-vacancy figcaption")).to_have_text("Vacancy per window")
    page.click("#lang-toggle")


@pytest.mark.slow
def test_playback_case_page_and_dashboards(tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    with demo(tmp_path / "data", tmp_path / "demo.log") as (base, password), \
            console_browser() as browser:  # fmt: skip
        page = new_page(browser)
        login(page, base, "admin", password)
        check_dashboard(page, sync_api.expect, base)
        check_case(page, sync_api.expect, base)
        check_playback(page, sync_api.expect, base)
        laptop = new_page(browser, width=1366, height=768)
        login(laptop, base, "admin", password)
        laptop.goto(f"{base}/#/playback/?camera=cam02")
        sync_api.expect(laptop.locator("#playback-timeline")).to_be_visible()
        box = laptop.locator("#playback-timeline").bounding_box()
        assert box is not None and box["width"] <= 1366
