"""The admin view in a real headless Chromium against `hallwatch demo`, writing the demo's copy of
cameras.yaml in its data dir: the zone editor moves and adds a vertex of W01's staff zone; the
threshold form (checked against the pydantic model) refuses an out-of-range value beside its
field and saves good ones; a hall queue is drawn on the snapshot, saved and deleted; a tender-
site zone with restricted hours is added to a new tender-site camera. Comments stay intact."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from hallwatch.config import Thresholds, load_site
from tests.support.browser import console_browser, login, new_page, screenshot
from tests.support.demo import demo

PACKAGE_DEMO = Path(str(resources.files("hallwatch") / "demo" / "demo.yaml"))


def vertex_centre(page: Any, index: int) -> tuple[float, float]:
    box = page.locator(f"#zone-svg circle.vertex[data-index='{index}']").bounding_box()
    assert box is not None
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


@pytest.mark.slow
def test_admin_moves_and_adds_a_vertex_of_a_staff_zone(tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    package_text = PACKAGE_DEMO.read_text(encoding="utf-8")
    data = tmp_path / "data"
    with demo(data, tmp_path / "demo.log") as (base, password), console_browser() as browser:
        config = data / "cameras.yaml"
        before = config.read_text(encoding="utf-8")
        assert before == package_text  # the demo runs from its own copy
        page = new_page(browser, width=1366, height=768)  # a laptop
        login(page, base, "admin", password)
        page.goto(f"{base}/#/admin/zones")
        sync_api.expect(page.locator("#zone-camera")).to_have_value("cam01")
        layer = page.locator("button[data-layer='W01:staff_zone']")
        sync_api.expect(layer).to_have_attribute("aria-selected", "true")
        page.wait_for_function(  # the current analysis frame behind the zones
            "() => { const i = document.getElementById('zone-snapshot');"
            " return i && i.complete && i.naturalWidth > 0; }",
            timeout=30_000,
        )
        sync_api.expect(page.locator("#zone-svg circle.vertex")).to_have_count(4)
        svg = page.locator("#zone-svg").bounding_box()
        assert svg is not None
        # drag vertex 0 (0.35, 0.6) to (0.3, 0.55)
        x, y = vertex_centre(page, 0)
        page.mouse.move(x, y)
        page.mouse.down()
        target = (svg["x"] + 0.3 * svg["width"], svg["y"] + 0.55 * svg["height"])
        page.mouse.move(*target, steps=5)
        page.mouse.up()
        # a new vertex after the selected one, between (0.3, 0.55) and (0.8, 0.6)
        page.mouse.click(svg["x"] + 0.55 * svg["width"], svg["y"] + 0.5 * svg["height"])
        sync_api.expect(page.locator("#zone-svg circle.vertex")).to_have_count(5)
        sync_api.expect(layer).to_contain_text("未保存")
        # keyboard: the new vertex is selected; nudge it right, then undo the nudge
        page.locator("#zone-svg").press("ArrowRight")
        page.locator("#zone-svg").press("Control+z")
        screenshot(page, "zone-editor")
        page.click("#zone-save")
        message = page.locator("#admin-message")
        sync_api.expect(message).to_contain_text("已保存", timeout=30_000)
        sync_api.expect(layer).not_to_contain_text("未保存")

        after = config.read_text(encoding="utf-8")
        zone = load_site(config).window_by_id("W01")
        assert zone is not None
        points = zone.staff_zone
        assert len(points) == 5
        assert points[0] == pytest.approx((0.3, 0.55), abs=0.01)
        assert points[1] == pytest.approx((0.55, 0.5), abs=0.01)
        assert points[2:] == [(0.8, 0.6), (0.8, 0.98), (0.35, 0.98)]
        comments = [line for line in before.splitlines() if line.lstrip().startswith("#")]
        assert comments and all(comment in after.splitlines() for comment in comments)
        changed = [line for line in after.splitlines() if line not in before.splitlines()]
        assert len(changed) == 1 and re.match(r"^    staff_zone: \[\[0\.3", changed[0])
        assert PACKAGE_DEMO.read_text(encoding="utf-8") == package_text

        answer = page.request.get(f"{base}/api/admin/config")
        assert answer.ok
        window = next(w for w in answer.json()["site"]["windows"] if w["id"] == "W01")
        assert [tuple(p) for p in window["staff_zone"]] == points

        # the schedule form shows check-config's refusal next to the lunch break
        page.click("#admin-tab-schedule")
        lunch = page.locator("#schedule-form fieldset").nth(2)
        lunch.locator("input[type=checkbox]").check()
        lunch.locator("input[type=time]").first.fill("23:59")
        page.click("#schedule-form button[type=submit]")
        sync_api.expect(lunch.locator(".field-error[data-field=lunch_break]")).to_have_text(
            "end 13:30 must be after start 23:59"
        )
        sync_api.expect(message).to_contain_text("cameras.yaml:")  # file:line: key: reason
        screenshot(page, "admin-schedule")
        assert config.read_text(encoding="utf-8") == after
        page.click("#lang-toggle")
        sync_api.expect(page.locator("#admin-tab-zones")).to_have_text("Zone editor")

        # a year without a known holiday calendar (the demo itself has none: it serves every
        # day): the server's answer, with one such year, is worded in the reader's language
        def one_gap(route: Any) -> None:
            answer = route.fetch()
            route.fulfill(response=answer, json={**answer.json(), "calendar_gaps": [2031]})

        page.route("**/api/site", one_gap)
        page.reload()
        notice = page.locator("#notices .notice")
        sync_api.expect(notice).to_have_text(
            re.compile(r"^2031 holiday calendar not yet published")
        )
        page.click("#lang-toggle")
        sync_api.expect(notice).to_contain_text("2031 年节假日安排尚未发布")
        sync_api.expect(notice).to_contain_text("列出 2031 年的节假日和调休上班日")


def comment_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.lstrip().startswith("#")]


def bounds(name: str) -> dict[str, float]:
    """A threshold's ge / gt / le bounds from the pydantic model."""
    found: dict[str, float] = {}
    for item in Thresholds.model_fields[name].metadata:
        for key in ("ge", "gt", "le"):
            if getattr(item, key, None) is not None:
                found[key] = float(getattr(item, key))
    return found


def draw(page: Any, svg_id: str, points: list[tuple[float, float]]) -> None:
    """Click each (x, y), relative to the drawing, on the zone editor `svg_id`."""
    page.locator(f"#{svg_id}").scroll_into_view_if_needed()
    box = page.locator(f"#{svg_id}").bounding_box()
    assert box is not None
    for x, y in points:
        page.mouse.click(box["x"] + x * box["width"], box["y"] + y * box["height"])


def check_thresholds(page: Any, expect: Any, config: Path) -> str:
    """The form mirrors Thresholds; a bad value is refused beside its field; good ones saved."""
    before = config.read_text(encoding="utf-8")
    current = load_site(config).thresholds
    page.click("#admin-tab-thresholds")
    form = page.locator("#thresholds-form")
    assert form.locator("input[type=number]").count() == len(Thresholds.model_fields)
    for name, info in Thresholds.model_fields.items():
        field = form.locator(f"input[name={name}]")
        expect(field).to_have_value(f"{getattr(current, name):g}")
        limits = bounds(name)
        assert float(field.get_attribute("min") or "nan") == limits.get("ge", limits.get("gt"))
        assert float(field.get_attribute("max") or "nan") == limits["le"]
        assert (field.get_attribute("data-gt") is not None) == ("gt" in limits), name
        help_text = form.locator(f"#admin-th-{name}-help")
        expect(help_text).to_contain_text(f"默认 {info.default:g}")
        expect(help_text).to_contain_text("秒" if name.endswith("_s") else "人")
    message = page.locator("#admin-message")
    form.locator("input[name=absence_delay_s]").fill("99999")
    form.locator("button[type=submit]").click()
    error = form.locator(".field-error[data-field=absence_delay_s]")
    expect(error).to_have_text("应不大于 3600")  # pydantic's less_than_equal, in Chinese
    expect(message).to_contain_text(
        re.compile(r"cameras\.yaml:\d+: thresholds\.absence_delay_s: 应不大于 3600")
    )
    screenshot(page, "admin-thresholds-error")
    assert config.read_text(encoding="utf-8") == before
    form.locator("input[name=absence_delay_s]").fill("90")
    form.locator("input[name=queue_max_length]").fill("7")
    form.locator("button[type=submit]").click()
    # thresholds apply to the running analysis (it restarts: allow for a slow machine)
    expect(message).to_contain_text("已保存并已生效", timeout=30_000)
    expect(error).to_be_empty()
    after = config.read_text(encoding="utf-8")
    changed = [line for line in after.splitlines() if line not in before.splitlines()]
    assert changed == ["  absence_delay_s: 90", "  queue_max_length: 7"]
    assert comment_lines(after) == comment_lines(before)
    form.locator("button[type=submit]").click()
    expect(message).to_have_text("没有更改")
    return after


def check_queue(page: Any, expect: Any, config: Path) -> None:
    """A hall queue drawn on cam01's snapshot is saved, then deleted again."""
    before = config.read_text(encoding="utf-8")
    message = page.locator("#admin-message")
    page.click("#admin-tab-queues")
    page.click("#add-queue")
    form = page.locator("#queue-form")
    form.locator("input[name=id]").fill("Q1")
    form.locator("input[name=name]").fill("取号机排队")
    expect(form.locator("select[name=camera]")).to_have_value("cam01")
    form.locator("input[name=max_length]").fill("8")
    expect(page.locator("#form-zone-svg polygon[data-layer='W01:staff_zone']")).to_have_count(1)
    page.wait_for_function(  # the snapshot sets the drawing's aspect ratio
        "() => { const i = document.getElementById('form-zone-snapshot');"
        " return i && i.complete && i.naturalWidth > 0; }",
        timeout=30_000,
    )
    corners = [(0.1, 0.1), (0.4, 0.1), (0.4, 0.4), (0.1, 0.4)]
    draw(page, "form-zone-svg", corners)
    vertices = page.locator("#form-zone-svg circle.vertex")
    expect(vertices).to_have_count(4)
    page.locator("#form-zone-svg").press("Enter")  # keyboard: a vertex halfway to the first
    expect(vertices).to_have_count(5)
    page.locator("#form-zone-svg").press("Delete")
    expect(vertices).to_have_count(4)
    screenshot(page, "admin-queue")
    form.locator("button[type=submit]").click()
    expect(message).to_contain_text("已保存", timeout=30_000)
    expect(page.locator("#queue-table tr[data-queue=Q1]")).to_contain_text("取号机排队")
    (queue,) = load_site(config).queues
    assert (queue.id, queue.camera, queue.max_length, queue.max_wait_s) == ("Q1", "cam01", 8, None)
    assert [c for p in queue.zone for c in p] == pytest.approx(
        [c for p in corners for c in p], abs=0.01
    )
    assert comment_lines(config.read_text(encoding="utf-8")) == comment_lines(before)

    page.click("#queue-table button[data-delete=Q1]")  # the confirm dialog is accepted
    expect(page.locator("#queue-table tr[data-queue=Q1]")).to_have_count(0, timeout=30_000)
    expect(message).to_contain_text("已保存")
    assert load_site(config).queues == []
    assert "Q1" not in config.read_text(encoding="utf-8")


def check_site_zone(page: Any, expect: Any, config: Path) -> None:
    """A tender-site camera, then a zone on it with restricted hours and a person limit."""
    message = page.locator("#admin-message")
    page.click("#admin-tab-site_zones")
    expect(page.locator("#add-site-zone")).to_be_disabled()  # no tender-site camera yet
    expect(page.locator("#admin-no-tender")).to_be_visible()
    page.click("#admin-tab-cameras")
    page.click("#add-camera")
    camera = page.locator("#camera-form")
    camera.locator("input[name=id]").fill("cam03")
    camera.locator("input[name=name]").fill("评标室摄像机")
    camera.locator("input[name=url]").fill("one-by-one-person-detection.mp4")
    camera.locator("select[name=kind]").select_option("tender_site")
    camera.locator("button[type=submit]").click()
    expect(message).to_contain_text("需重启服务", timeout=30_000)  # a new camera needs a restart

    page.click("#admin-tab-site_zones")
    page.click("#add-site-zone")
    form = page.locator("#site-zone-form")
    expect(form.locator("select[name=camera]")).to_have_value("cam03")
    form.locator("input[name=id]").fill("Z1")
    form.locator("input[name=name]").fill("评标室")
    corners = [(0.2, 0.2), (0.8, 0.2), (0.8, 0.9), (0.2, 0.9)]
    draw(page, "form-zone-svg", corners)
    form.locator("button[type=submit]").click()  # no rule yet: refused, beside the form
    expect(form.locator(".field-error[data-field=cameras]")).to_have_text(
        "a zone needs restricted_hours, max_persons or both"
    )
    form.locator("#add-range").click()
    hours = form.locator(".admin-range input[type=time]")
    expect(hours).to_have_count(2)
    hours.nth(0).fill("19:00")
    hours.nth(1).fill("07:30")
    form.locator("input[name=max_persons]").fill("3")
    screenshot(page, "admin-site-zone")
    form.locator("button[type=submit]").click()
    expect(message).to_contain_text("已保存", timeout=30_000)
    expect(page.locator("#site-zone-table tr[data-zone='cam03/Z1']")).to_contain_text("19:00–07:30")
    site = load_site(config)
    added = next(c for c in site.cameras if c.id == "cam03")
    (zone,) = added.zones
    assert (zone.id, zone.name, zone.max_persons) == ("Z1", "评标室", 3)
    assert [(f"{r.start:%H:%M}", f"{r.end:%H:%M}") for r in zone.restricted_hours] == [
        ("19:00", "07:30")
    ]
    assert [c for p in zone.zone for c in p] == pytest.approx(
        [c for p in corners for c in p], abs=0.01
    )


@pytest.mark.slow
def test_admin_edits_thresholds_queues_and_site_zones(tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    data = tmp_path / "data"
    with demo(data, tmp_path / "demo.log") as (base, password), console_browser() as browser:
        config = data / "cameras.yaml"
        before = config.read_text(encoding="utf-8")
        page = new_page(browser, width=1366, height=768)
        page.on("dialog", lambda dialog: dialog.accept())
        login(page, base, "admin", password)
        page.goto(f"{base}/#/admin/cameras")
        sync_api.expect(page.locator("#admin-tab-thresholds")).to_have_text("告警阈值")
        check_thresholds(page, sync_api.expect, config)
        check_queue(page, sync_api.expect, config)
        check_site_zone(page, sync_api.expect, config)
        assert comment_lines(config.read_text(encoding="utf-8")) == comment_lines(before)
        page.click("#lang-toggle")
        sync_api.expect(page.locator("#admin-tab-site_zones")).to_have_text("Tender-site zones")
        sync_api.expect(page.locator("#site-zone-table th").first).to_have_text("Camera")
