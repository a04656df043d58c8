"""The zone editor in a real headless Chromium against `hallwatch demo`: the admin drags a vertex
of W01's staff zone and adds one, saves, and cameras.yaml (the demo's copy in its data dir)
holds the new polygon with its comments intact; the API returns the same polygon."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from hallwatch.config import load_site
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
