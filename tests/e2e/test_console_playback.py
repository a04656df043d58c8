"""Playback, the case page and dashboards in a real headless Chromium against `hallwatch demo`
(two cameras recorded in 10 s segments, synthetic approval cases). Playback's days are the
site's (Asia/Shanghai in the demo), also in a browser whose own zone is America/New_York."""

from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest

from hallwatch.config import load_site
from tests.support.browser import console_browser, login, new_page, screenshot
from tests.support.demo import demo

BROWSER_ZONE = "America/New_York"
# (date, zone): days the clocks change (23 h, 25 h, a skipped midnight, half an hour) and not
DAYS = [
    ("2024-03-10", "America/New_York"), ("2024-11-03", "America/New_York"),
    ("2024-09-08", "America/Santiago"), ("2024-04-06", "America/Santiago"),
    ("2024-10-06", "Australia/Lord_Howe"), ("2024-03-10", "Asia/Shanghai"),
    ("2024-06-01", "Asia/Kolkata"),
]  # fmt: skip

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


def check_case(page: Any, expect: Any, base: str, site_zone: str) -> None:
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
    day = dt.datetime.fromtimestamp(int(when or 0), ZoneInfo(site_zone)).date()
    expect(page.locator("#playback-day")).to_have_value(day.isoformat())  # the site's date
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


def day_bounds(day: dt.date, zone: str) -> list[float]:
    """[start, end) of a calendar day in `zone` as unix seconds (zoneinfo, the reference)."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=ZoneInfo(zone))
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=ZoneInfo(zone))
    return [start.timestamp(), end.timestamp()]


def overview_bounds(request: Any) -> list[float]:
    query = parse_qs(urlsplit(request.url).query)
    return [float(query["from"][0]), float(query["to"][0])]


def is_overview(request: Any) -> bool:
    return "/api/recordings/overview" in request.url


def check_site_day(browser: Any, expect: Any, base: str, password: str, site_zone: str) -> None:
    """In a browser whose zone is not the site's, the day picker, the fetched day and the ticks
    are the site's; day bounds agree with zoneinfo on days the clocks change."""
    context = browser.new_context(
        locale="zh-CN", timezone_id=BROWSER_ZONE, viewport={"width": 1920, "height": 1080}
    )
    page = context.new_page()
    assert page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone") == BROWSER_ZONE
    login(page, base, "admin", password)
    when = int(time.time()) - 5
    with page.expect_request(is_overview) as first:
        page.goto(f"{base}/#/playback/?camera=cam01&t={when}")
    day = dt.datetime.fromtimestamp(when, ZoneInfo(site_zone)).date()
    assert overview_bounds(first.value) == day_bounds(day, site_zone)
    expect(page.locator("#playback-day")).to_have_value(day.isoformat())
    expect(page.locator("#playback-span")).to_contain_text("00:00–00:00")  # the whole site day
    ticks = page.locator("#playback-timeline text.tick").all_text_contents()
    assert ticks[:3] == ["00:00", "02:00", "04:00"] and len(ticks) == 13
    # the segments recorded so far lie in that day, under the cursor's time
    expect(page.locator("#playback-timeline rect.segment").first).to_be_attached()
    screenshot(page, "playback-site-day")

    other = dt.date(2024, 3, 10)  # New York's clocks change that day, Shanghai's do not
    with page.expect_request(is_overview) as picked:
        page.fill("#playback-day", other.isoformat())
    assert overview_bounds(picked.value) == day_bounds(other, site_zone)
    nine = dt.datetime.combine(other, dt.time(9), tzinfo=ZoneInfo(site_zone)).timestamp()
    page.wait_for_url(re.compile(rf"&t={int(nine)}$"))  # the cursor at 09:00 site time
    expect(page.locator("#playback-cursor")).to_be_attached()
    found = page.evaluate(
        "async (days) => { const m = await import('/static/js/views/playback.js');"
        " return days.map(([d, z]) => m.dayBounds(d, z)); }",
        [list(item) for item in DAYS],
    )
    expected = [day_bounds(dt.date.fromisoformat(d), z) for d, z in DAYS]
    assert found == expected
    assert [round((end - start) / 3600, 1) for start, end in expected] == [
        23,
        25,
        23,
        25,
        23.5,
        24,
        24,
    ]  # the table covers what it claims
    context.close()


@pytest.mark.slow
def test_playback_case_page_and_dashboards(tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    with demo(tmp_path / "data", tmp_path / "demo.log") as (base, password), \
            console_browser() as browser:  # fmt: skip
        site_zone = load_site(tmp_path / "data" / "cameras.yaml").schedule.timezone
        page = new_page(browser)
        login(page, base, "admin", password)
        check_dashboard(page, sync_api.expect, base)
        check_case(page, sync_api.expect, base, site_zone)
        check_playback(page, sync_api.expect, base)
        check_site_day(browser, sync_api.expect, base, password, site_zone)
        laptop = new_page(browser, width=1366, height=768)
        login(laptop, base, "admin", password)
        laptop.goto(f"{base}/#/playback/?camera=cam02")
        sync_api.expect(laptop.locator("#playback-timeline")).to_be_visible()
        box = laptop.locator("#playback-timeline").bounding_box()
        assert box is not None and box["width"] <= 1366
