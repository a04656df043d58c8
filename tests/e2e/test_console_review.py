"""Alarm feed and inspector review in a real headless Chromium against the demo console:
a pushed alarm is acknowledged, its clip opens and closes with Esc, then the review view plays
the event's clip (frame step included), takes a verdict with a note and exports the evidence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import console_browser, login, new_page, screenshot
from tests.support.demo import demo

ALARM_TIMEOUT_MS = 60_000
# the clip is cut once the event has ended, its 10 s post-roll is recorded and 5 s have settled;
# a vacancy in the demo footage lasts up to about a minute
CLIP_TIMEOUT_MS = 150_000


def _pushed_alarm(page: Any, expect: Any) -> Any:
    """The first alarm that reaches the feed after it loaded (over the event stream)."""
    page.wait_for_selector("#events")
    initial = page.eval_on_selector_all(
        "#events li[data-event]", "els => els.map(e => e.dataset.event)"
    )
    selector = "#events li[data-event]" + "".join(f':not([data-event="{i}"])' for i in initial)
    first = page.locator(selector).first
    expect(first).to_be_visible(timeout=ALARM_TIMEOUT_MS)
    return page.locator(f'#events li[data-event="{first.get_attribute("data-event")}"]')


def _acknowledge(page: Any, expect: Any, alarm: Any) -> None:
    expect(alarm).to_have_attribute("data-severity", "major")  # counter_vacant
    alarm.locator("button.ack").click()
    expect(alarm.locator(".acked")).to_contain_text("已确认 admin")
    page.check("#alarms-unacked")  # acknowledged alarms leave the filtered feed
    expect(alarm).to_have_count(0)
    page.uncheck("#alarms-unacked")


def _clip_dialog_closes_with_escape(page: Any, expect: Any, event_id: str) -> None:
    page.locator(f'#events li[data-event="{event_id}"] .alarm-open').click()
    dialog = page.locator("dialog#alarm-clip")
    expect(dialog).to_be_visible()
    expect(dialog.locator("video")).to_have_count(1)
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)


def _clip_plays_and_steps(page: Any, expect: Any) -> None:
    video = page.locator("#review-media video")
    expect(video).to_have_count(1, timeout=CLIP_TIMEOUT_MS)
    page.wait_for_function(
        "() => { const v = document.querySelector('#review-media video');"
        " return v && v.readyState >= 2 && v.currentTime > 0; }",
        timeout=30_000,
    )
    page.locator("#review-media .player-play").click()  # pause
    page.wait_for_function("() => document.querySelector('#review-media video').paused")
    before = page.eval_on_selector("#review-media video", "v => v.currentTime")
    fps = float(page.get_attribute("#review-media .player", "data-fps") or 25)
    page.locator("#review-media .player-forward").click()
    page.wait_for_function(
        f"() => document.querySelector('#review-media video').currentTime > {before}"
    )
    after = page.eval_on_selector("#review-media video", "v => v.currentTime")
    assert after - before == pytest.approx(1 / fps, abs=1.5 / fps)
    page.select_option("#review-media .player-speed", "2")
    assert page.eval_on_selector("#review-media video", "v => v.playbackRate") == 2


def _keyboard_moves_through_the_queue(page: Any, expect: Any, event_id: str) -> None:
    page.locator(f'#review-list li[data-event="{event_id}"] button').focus()
    selected = page.locator("#review-list li.selected")
    page.keyboard.press("j")
    expect(selected).not_to_have_attribute("data-event", event_id)
    below = selected.get_attribute("data-event")
    page.keyboard.press("Enter")
    expect(page.locator("#review-title")).to_contain_text(f"#{below}")
    page.keyboard.press("k")
    expect(selected).to_have_attribute("data-event", event_id)
    page.keyboard.press("Enter")
    expect(page.locator("#review-title")).to_contain_text(f"#{event_id}")


@pytest.mark.slow
def test_alarm_is_acknowledged_reviewed_and_exported(tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    expect = sync_api.expect
    with demo(tmp_path / "data", tmp_path / "demo.log") as (base, password), \
            console_browser() as browser:  # fmt: skip
        page = new_page(browser)
        login(page, base, "admin", password)
        page.wait_for_url(f"{base}/#/wall")
        alarm = _pushed_alarm(page, expect)
        expect(alarm).to_contain_text("窗口空岗")
        event_id = alarm.get_attribute("data-event")
        assert event_id is not None
        _acknowledge(page, expect, alarm)
        screenshot(page, "alarm-feed")
        _clip_dialog_closes_with_escape(page, expect, event_id)

        page.click("#nav-review")
        item = page.locator(f'#review-list li[data-event="{event_id}"]')
        expect(item).to_be_visible()
        expect(item).to_contain_text("✓")  # acknowledged
        item.locator("button").click()
        expect(page.locator("#review-title")).to_contain_text(f"#{event_id}")
        expect(page.locator("#review-detail")).to_contain_text("admin")  # who acknowledged
        _clip_plays_and_steps(page, expect)

        page.fill("#review-note", "人员离岗约一分钟，已核实")
        page.click('button[data-verdict="confirmed"]')
        expect(page.locator("#review-status")).to_contain_text("已保存复核结论")
        expect(page.locator("#review-history")).to_contain_text("人员离岗约一分钟，已核实")
        expect(item).to_contain_text("属实")

        page.click("#review-export")
        files = page.locator("#review-export-files a")
        expect(files.first).to_be_visible(timeout=60_000)
        names = files.all_inner_texts()
        assert {"video.mp4", "manifest.json", "manifest.sig"} <= set(names)
        screenshot(page, "review")
        _keyboard_moves_through_the_queue(page, expect, event_id)
        page.set_viewport_size({"width": 1366, "height": 768})  # a laptop
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 1366
        expect(page.locator("#review-media video")).to_be_visible()
        screenshot(page, "review-laptop")
        verdict_filter = page.locator("#review-verdict option:checked")
        expect(verdict_filter).to_have_text("未复核")
        page.click("#lang-toggle")  # the filters' choices follow the language at once
        expect(verdict_filter).to_have_text("Unreviewed")
        expect(page.locator("#review-type option").first).to_have_text("All")
