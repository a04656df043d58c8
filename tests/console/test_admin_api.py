"""Admin config API: edits reach cameras.yaml with its comments, check-config's located problems
come back as 422s, a stale version gets 409, only admins may edit, every change is audited,
and a zone change reaches the running analysis (a camera URL change waits for a restart)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from analyzers.detections import Detections
from console.app import ConsoleSettings, create_app
from console.auth import Role, ensure_user
from hallwatch.analysis_worker import LocalEngine
from hallwatch.config import Site, load_site
from hallwatch.runtime import Runtime
from hallwatch.store import Store
from tests.support.console_client import log_in

SECRET = "TopSecret9"
CONFIG = f"""\
# test site
name: 测试中心
cameras:
  - id: cam01
    name: 一号
    # the camera's own account
    url: rtsp://admin:{SECRET}@192.0.2.1/s
  - id: cam02
    name: 二号
    url: missing.mp4
windows:
  - id: W01
    name: 1号窗口
    department: 税务局
    camera: cam01
    staff_zone: [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]   # the counter
schedule:
  hours: {{start: "09:00", end: "17:30"}}
thresholds:
  absence_delay_s: 60   # one minute
recording: {{enabled: false}}
"""


class NoDetector:
    def detect(self, image: np.ndarray) -> Detections:
        raise AssertionError("not used")

    def detect_batch(self, images: object) -> list[Detections]:
        raise AssertionError("not used")


class Setup:
    def __init__(self, tmp_path: Path) -> None:
        self.path = tmp_path / "cameras.yaml"
        self.path.write_text(CONFIG, encoding="utf-8")
        self.store = Store(tmp_path / "hw.db")
        site = load_site(self.path)
        self.engines: list[Site] = []
        self.runtime = Runtime(
            site, self.path, self.store, LocalEngine({}, NoDetector(), 8),
            engine_factory=self.engine,
        )  # fmt: skip
        settings = ConsoleSettings(config_path=self.path)
        self.app = create_app(site, self.store, self.runtime, settings)

    def engine(self, site: Site) -> LocalEngine:
        self.engines.append(site)
        return LocalEngine({}, NoDetector(), 8)

    def client(self, role: Role = Role.ADMIN) -> TestClient:
        client = TestClient(self.app)
        ensure_user(self.store, role.value, role, "pw-12345678")
        assert log_in(client, role.value, "pw-12345678").status_code == 200
        return client

    def text(self) -> str:
        return self.path.read_text(encoding="utf-8")


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    setup = Setup(tmp_path)
    yield setup
    setup.store.close()


@pytest.fixture
def admin(setup: Setup) -> TestClient:
    return setup.client()


def version(client: TestClient) -> str:
    answer = client.get("/api/admin/config")
    assert answer.status_code == 200, answer.text
    value: str = answer.json()["version"]
    return value


def config_changes(store: Store) -> list[dict[str, Any]]:
    return [e for e in store.audit_entries() if e["action"] == "config_change"]


def test_config_read_redacts_camera_passwords(admin: TestClient) -> None:
    answer = admin.get("/api/admin/config")
    assert answer.status_code == 200
    data = answer.json()
    assert SECRET not in answer.text
    assert data["site"]["cameras"][0]["url"] == "rtsp://***@192.0.2.1/s"
    assert data["running"] is True and len(data["version"]) == 64


def test_zone_edit_is_written_with_comments_applied_live_and_audited(
    setup: Setup, admin: TestClient
) -> None:
    zone = [[0.2, 0.1], [0.6, 0.1], [0.6, 0.6], [0.2, 0.6]]
    answer = admin.patch(
        "/api/admin/windows/W01", json={"version": version(admin), "staff_zone": zone}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["changed"] == ["staff_zone"]
    assert (body["applied"], body["restart_required"], body["reasons"]) == (True, False, [])
    text = setup.text()
    (line,) = [line for line in text.splitlines() if "staff_zone" in line]
    assert line.startswith("    staff_zone: [[0.2, 0.1], [0.6, 0.1], [0.6, 0.6], [0.2, 0.6]]")
    assert line.endswith(" # the counter")  # the comment stays on its line
    assert "# the camera's own account" in text and "# one minute" in text
    assert body["version"] == version(admin)
    site = admin.get("/api/admin/config").json()["site"]
    assert site["windows"][0]["staff_zone"] == zone
    # the running analysis got a new engine built from the edited site, the console its site
    assert [s.windows[0].staff_zone for s in setup.engines] == [[tuple(p) for p in zone]]
    assert setup.runtime.site.windows[0].staff_zone == [tuple(p) for p in zone]
    assert setup.app.state.site.windows[0].staff_zone == [tuple(p) for p in zone]
    (entry,) = config_changes(setup.store)
    assert (entry["username"], entry["target"]) == ("admin", "windows/W01")
    assert entry["details"]["section"] == "windows" and entry["details"]["id"] == "W01"
    assert entry["details"]["changed"] == ["staff_zone"]


def test_invalid_edit_gets_located_422_and_writes_nothing(setup: Setup, admin: TestClient) -> None:
    answer = admin.patch(
        "/api/admin/windows/W01",
        json={"version": version(admin), "staff_zone": [[0.1, 0.1], [0.2, 0.2]]},
    )
    assert answer.status_code == 422
    (found,) = answer.json()["detail"]
    assert found["loc"] == ["body", "staff_zone"]
    assert found["msg"] == "a polygon needs at least 3 points, got 2"
    assert (found["type"], found["ctx"]) == ("config_invalid", {})  # our own check: English
    assert (found["file"], found["key"]) == ("cameras.yaml", "windows[0].staff_zone")
    assert (
        found["line"]
        == CONFIG.splitlines().index(
            "    staff_zone: [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]   # the counter"
        )
        + 1
    )
    assert setup.text() == CONFIG and config_changes(setup.store) == []


def test_malformed_bodies_get_field_level_422(admin: TestClient) -> None:
    current = version(admin)
    cases: list[tuple[str, dict[str, Any], list[Any]]] = [
        ("/api/admin/windows/W01", {"version": current, "staff_zone": [[1.5, 0], [0, 0], [0, 1]]},
         ["body", "staff_zone", 0, 0]),
        ("/api/admin/windows/W01", {"version": current, "colour": "red"}, ["body", "colour"]),
        ("/api/admin/windows/W01", {"staff_on_duty": 2}, ["body", "version"]),
        ("/api/admin/schedule", {"version": current, "hours": {"start": "9", "end": "17:00"}},
         ["body", "hours", "start"]),
        ("/api/admin/thresholds", {"version": current, "values": {"nope": 1}},
         ["body", "values.nope"]),
    ]  # fmt: skip
    for path, body, loc in cases:
        answer = admin.patch(path, json=body)
        assert answer.status_code == 422, (path, body)
        assert loc in [problem["loc"] for problem in answer.json()["detail"]], answer.text


def test_stale_version_gets_409(setup: Setup, admin: TestClient) -> None:
    old = version(admin)
    first = admin.patch("/api/admin/windows/W01", json={"version": old, "name": "一号窗口"})
    assert first.status_code == 200
    second = admin.patch("/api/admin/windows/W01", json={"version": old, "name": "二号窗口"})
    assert second.status_code == 409
    assert "name: 一号窗口" in setup.text()
    gone = admin.delete("/api/admin/windows/W01", params={"version": old})
    assert gone.status_code == 409


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.INSPECTOR, Role.AUDITOR])
def test_only_admins_edit(setup: Setup, role: Role) -> None:
    client = setup.client(role)
    assert client.get("/api/admin/config").status_code == 403
    patch = client.patch("/api/admin/windows/W01", json={"version": "0" * 64, "name": "x"})
    assert patch.status_code == 403
    assert TestClient(setup.app).get("/api/admin/config").status_code == 401
    assert setup.text() == CONFIG


def test_camera_url_sent_back_redacted_keeps_password(setup: Setup, admin: TestClient) -> None:
    camera = admin.get("/api/admin/config").json()["site"]["cameras"][0]
    answer = admin.patch(
        "/api/admin/cameras/cam01",
        json={"version": version(admin), "url": camera["url"], "name": "一号机"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["changed"] == ["name"]
    assert f"url: rtsp://admin:{SECRET}@192.0.2.1/s" in setup.text()
    changed = admin.patch(
        "/api/admin/cameras/cam01",
        json={"version": version(admin), "url": "rtsp://***@192.0.2.1/other"},
    )
    assert changed.status_code == 200
    assert f"url: rtsp://admin:{SECRET}@192.0.2.1/other" in setup.text()
    assert SECRET not in changed.text and SECRET not in str(setup.store.audit_entries())
    missing = admin.post(
        "/api/admin/cameras",
        json={"version": version(admin), "id": "cam03", "name": "三", "url": "rtsp://***@h/s"},
    )
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body", "url"]


def test_camera_stream_change_waits_for_restart(setup: Setup, admin: TestClient) -> None:
    running = setup.app.state.site
    answer = admin.patch(
        "/api/admin/cameras/cam02", json={"version": version(admin), "url": "other.mp4"}
    )
    assert answer.status_code == 200
    body = answer.json()
    assert (body["applied"], body["restart_required"]) == (False, True)
    assert body["reasons"] == [{"code": "camera_stream", "target": "cam02"}]
    assert setup.engines == [] and setup.app.state.site is running
    assert admin.get("/api/admin/config").json()["running"] is False
    (entry,) = config_changes(setup.store)
    assert entry["details"]["restart_required"] is True


def test_add_and_remove_items(setup: Setup, admin: TestClient) -> None:
    window = {"id": "W02", "name": "2号窗口", "department": "公安", "camera": "cam02",
              "staff_zone": [[0, 0.5], [0.5, 0.5], [0.5, 1]]}  # fmt: skip
    added = admin.post("/api/admin/windows", json={"version": version(admin), **window})
    assert added.status_code == 201, added.text
    assert "  - id: W02\n    name: 2号窗口\n" in setup.text()
    queue = {"id": "Q1", "name": "取号", "camera": "cam02", "zone": [[0, 0], [1, 0], [1, 1]]}
    assert (
        admin.post("/api/admin/queues", json={"version": version(admin), **queue}).status_code
        == 201
    )
    blocked = admin.delete("/api/admin/cameras/cam02", params={"version": version(admin)})
    assert blocked.status_code == 422
    assert {p["key"] for p in blocked.json()["detail"]} == {"windows[1].camera", "queues[0].camera"}
    for path in ("/api/admin/windows/W02", "/api/admin/queues/Q1", "/api/admin/cameras/cam02"):
        assert admin.delete(path, params={"version": version(admin)}).status_code == 200
    assert setup.text().startswith("# test site\n")
    assert "cam02" not in setup.text()
    missing = admin.delete("/api/admin/windows/W09", params={"version": version(admin)})
    assert missing.status_code == 404
    assert [e["target"] for e in config_changes(setup.store)] == [
        "cameras/cam02", "queues/Q1", "windows/W02", "queues/Q1", "windows/W02",
    ]  # fmt: skip


def test_schedule_and_thresholds(setup: Setup, admin: TestClient) -> None:
    answer = admin.patch(
        "/api/admin/schedule",
        json={"version": version(admin), "hours": {"start": "08:30", "end": "17:30"},
              "lunch_break": None, "holidays": ["2030-10-01"], "timezone": "Asia/Shanghai"},
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert answer.json()["reasons"] == [{"code": "case_calendar", "target": ""}]
    text = setup.text()
    assert '  hours: {start: "08:30", end: "17:30"}' in text and "  lunch_break: null" in text
    assert "  timezone: Asia/Shanghai" in text and "  holidays: [2030-10-01]" in text
    assert setup.runtime.site.schedule.lunch_break is None  # the analysis runs with it
    bad = admin.patch(
        "/api/admin/schedule",
        json={"version": version(admin), "lunch_break": {"start": "07:00", "end": "08:00"}},
    )
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["msg"] == "lunch_break must lie within the service hours"
    over = admin.patch(
        "/api/admin/thresholds",
        json={"version": version(admin), "values": {"absence_delay_s": 99999}},
    )
    assert over.status_code == 422
    (found,) = over.json()["detail"]
    assert found["msg"] == "Input should be less than or equal to 3600"
    # pydantic's type and values: the console words them in the reader's language
    assert (found["type"], found["ctx"]) == ("less_than_equal", {"le": "3600"})
    assert found["key"] == "thresholds.absence_delay_s"
    assert found["loc"] == ["body", "absence_delay_s"]
    limits = admin.patch(
        "/api/admin/thresholds", json={"version": version(admin), "values": {"absence_delay_s": 90}}
    )
    assert limits.status_code == 200
    assert "  absence_delay_s: 90   # one minute" in setup.text()
    assert setup.runtime.site.thresholds.absence_delay_s == 90


def test_history_lists_backups(admin: TestClient) -> None:
    assert admin.get("/api/admin/config/history").json() == []
    admin.patch("/api/admin/windows/W01", json={"version": version(admin), "name": "一号"})
    (backup,) = admin.get("/api/admin/config/history").json()
    assert backup["name"].startswith("cameras.yaml.bak-") and backup["size"] == len(CONFIG.encode())


def test_without_config_path_editing_is_unavailable(setup: Setup) -> None:
    setup.app.state.settings = ConsoleSettings()
    assert setup.client().get("/api/admin/config").status_code == 404


def test_odd_inputs_get_4xx_not_5xx(setup: Setup, admin: TestClient) -> None:
    current = version(admin)
    bodies: list[tuple[str, str]] = [
        ("/api/admin/cameras/cam01", f'{{"version": "{current}", "url": "rtsp://***@[::1/s"}}'),
        ("/api/admin/thresholds", f'{{"version": "{current}", "values": {{"absence_delay_s": NaN}}}}'),
    ]  # fmt: skip
    for path, text in bodies:
        answer = admin.patch(path, content=text, headers={"Content-Type": "application/json"})
        assert answer.status_code == 422, (path, answer.text)
    assert setup.text() == CONFIG


def test_threshold_fields_come_from_the_model() -> None:
    from console.admin import threshold_fields

    fields = threshold_fields()
    assert fields["queue_max_wait_s"] == {
        "unit": "s",
        "default": 900.0,
        "integer": False,
        "gt": 0,
        "le": 86400,
    }
    assert fields["queue_max_length"] == {
        "unit": "persons",
        "default": 5,
        "integer": True,
        "ge": 1,
        "le": 100,
    }
