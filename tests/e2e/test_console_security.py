"""Roles, users, login throttling and the audit log in a real headless Chromium against the demo.

The admin creates an operator, an inspector and an auditor in the users view; the operator sees
only its menu entries and gets 403 from the other roles' APIs; five wrong passwords lock the
inspector's login; the auditor finds all of it in the audit view.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import console_browser, login, new_page, screenshot
from tests.support.demo import demo

INSPECTOR_PASSWORD = "inspector-pass-1"
AUDITOR_PASSWORD = "auditor-pass-1"
FORBIDDEN_FOR_OPERATOR = ["/api/users", "/api/audit", "/api/review", "/api/admin/config",
                          "/api/scores"]  # fmt: skip


def create_user(page: Any, expect: Any, name: str, role: str, password: str = "") -> str:
    """Fill the users view's form; the password shown once when none was given."""
    page.fill("#users-new-name", name)
    page.select_option("#users-new-role", role)
    page.fill("#users-new-password-input", password)
    page.click("#users-new button[type=submit]")
    expect(page.locator(f"tr[data-user='{name}']")).to_be_visible()
    if password:
        return password
    shown = page.locator("#users-new-password")
    expect(shown).to_be_visible()
    return str(shown.inner_text()).strip()


def status_of(page: Any, path: str, method: str = "GET") -> int:
    return int(page.evaluate(
        "async ([p, m]) => (await fetch(p, {method: m, headers: {'X-CSRF-Token':"
        " (document.cookie.match(/hw_csrf=([^;]+)/) || [])[1] || ''}})).status", [path, method],
    ))  # fmt: skip


@pytest.mark.slow
def test_roles_users_lockout_and_audit(tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    expect = sync_api.expect
    with demo(tmp_path / "data", tmp_path / "demo.log") as (base, password), \
            console_browser() as browser:  # fmt: skip
        admin = new_page(browser, width=1366, height=768)
        login(admin, base, "admin", password)
        admin.goto(f"{base}/#/users")
        expect(admin.locator("main h2")).to_have_text("用户管理")
        operator_password = create_user(admin, expect, "op1", "operator")
        create_user(admin, expect, "insp1", "inspector", INSPECTOR_PASSWORD)
        create_user(admin, expect, "aud1", "auditor", AUDITOR_PASSWORD)
        expect(admin.locator("tr[data-user='op1'] .pill")).to_have_text("启用")
        screenshot(admin, "users")

        operator = new_page(browser)
        login(operator, base, "op1", operator_password)
        operator.wait_for_url(f"{base}/#/wall")
        expect(operator.locator("#nav-wall")).to_be_visible()
        for view in ("review", "admin", "users", "audit"):
            expect(operator.locator(f"#nav-{view}")).to_have_count(0)
        for path in FORBIDDEN_FOR_OPERATOR:
            assert status_of(operator, path) == 403, path
        assert status_of(operator, "/api/users/op1", "DELETE") == 403
        assert status_of(operator, "/api/cameras") == 200
        operator.goto(f"{base}/#/users")  # not in its menu: the router sends it to its own view
        operator.wait_for_url(f"{base}/#/wall")

        intruder = new_page(browser)
        intruder.goto(f"{base}/login")
        for _ in range(5):
            intruder.fill("#username", "insp1")
            intruder.fill("#password", "not-the-password")
            intruder.click("button[type=submit]")
            expect(intruder.locator("#login-error")).not_to_be_empty()
        expect(intruder.locator("#login-error")).to_contain_text("登录失败次数过多")
        intruder.fill("#password", INSPECTOR_PASSWORD)  # the right one is refused while locked
        intruder.click("button[type=submit]")
        expect(intruder.locator("#login-error")).to_contain_text("秒后再试")
        assert intruder.url == f"{base}/login"

        auditor = new_page(browser)
        login(auditor, base, "aud1", AUDITOR_PASSWORD)
        expect(auditor.locator("#nav-audit")).to_be_visible()
        expect(auditor.locator("#nav-wall")).to_have_count(0)
        auditor.click("#nav-audit")
        rows = auditor.locator("#audit-rows tr")
        expect(rows.first).to_be_visible()
        auditor.fill("#audit-action", "login")
        auditor.click("#audit-search")
        expect(auditor.locator("#audit-rows tr[data-action='login']").first).to_be_visible()
        users = auditor.locator("#audit-rows tr[data-action='login'] td:nth-child(2)")
        expect(users).to_contain_text(["aud1", "op1", "admin"])
        auditor.fill("#audit-action", "login_locked")
        auditor.click("#audit-search")
        expect(auditor.locator("#audit-rows tr[data-action='login_locked']")).to_have_count(2)
        expect(auditor.locator("#audit-rows tr").first).to_contain_text("insp1")
        auditor.fill("#audit-action", "")
        auditor.click("#audit-search")
        expect(auditor.locator("#audit-rows tr[data-action='user_created']")).to_have_count(3)
        screenshot(auditor, "audit")
        href = auditor.locator("#audit-csv").get_attribute("href")
        assert href == "/api/audit.csv"
        assert status_of(auditor, "/api/users") == 403
        auditor.click("#lang-toggle")
        expect(auditor.locator("main h2")).to_have_text("Audit log")

        # the admin resets the operator's password: shown once, the operator's session ends
        admin.once("dialog", lambda dialog: dialog.accept())
        admin.click("#users-secret button")  # closes the password shown at creation
        expect(admin.locator("#users-secret")).to_be_hidden()
        admin.click("#users-reset-op1")
        expect(admin.locator("#users-secret")).to_be_visible()
        new_password = admin.locator("#users-new-password").inner_text().strip()
        assert new_password and new_password != operator_password
        assert status_of(operator, "/api/me") == 401
        expect(admin.locator("#users-toggle-admin")).to_be_disabled()  # not yourself
