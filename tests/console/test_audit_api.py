"""Audit log API: auditors read it filtered and paged, newest first; the CSV export is audited."""

from __future__ import annotations

import csv
import io
import json

import pytest
from fastapi.testclient import TestClient

from console.app import create_app
from console.audit import AuditFilter, audit_where
from console.auth import Role, ensure_user
from hallwatch.store import Store
from tests.console.test_api import SITE, FixedLive
from tests.support.console_client import log_in


def _at(
    store: Store, at: float, username: str, action: str, target: str, **details: object
) -> None:
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO audit (at, username, action, target, details) VALUES (?, ?, ?, ?, ?)",
            (at, username, action, target, json.dumps(details, ensure_ascii=False)),
        )


@pytest.fixture
def auditor(store: Store) -> TestClient:
    client = TestClient(create_app(SITE, store, FixedLive()))
    log_in(client, "aud", ensure_user(store, "aud", Role.AUDITOR))
    _at(store, 1000, "op", "live_view", "cam01", until=1100)
    _at(store, 2000, "insp", "playback", "cam01/1.mp4")
    _at(store, 3000, "insp", "export", "cam01 100%_x", note="证据")
    _at(store, 4000, "root", "config_changed", "cameras.yaml")
    return client


@pytest.mark.parametrize(
    ("filters", "where", "params"),
    [
        (AuditFilter(), "", []),
        (AuditFilter(user="a"), " WHERE username = ?", ["a"]),
        (AuditFilter(action="x", since=1, until=2),
         " WHERE action = ? AND at >= ? AND at < ?", ["x", 1, 2]),
        (AuditFilter(target="50%_a"), " WHERE target LIKE ? ESCAPE '\\'", ["%50\\%\\_a%"]),
    ],
)  # fmt: skip
def test_audit_where(filters: AuditFilter, where: str, params: list[object]) -> None:
    assert audit_where(filters) == (where, params)


def _page(client: TestClient, **params: object) -> tuple[list[str], int]:
    answer = client.get("/api/audit", params=params)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return [item["action"] for item in body["items"]], body["total"]


def test_newest_first_filters_and_paging(auditor: TestClient, store: Store) -> None:
    actions, total = _page(auditor, **{"to": 5000})
    assert actions == ["config_changed", "export", "playback", "live_view"] and total == 4
    assert _page(auditor, user="insp") == (["export", "playback"], 2)
    assert _page(auditor, action="live_view")[0] == ["live_view"]
    assert _page(auditor, target="100%_")[0] == ["export"]  # a part, % and _ taken literally
    assert _page(auditor, target="%")[0] == ["export"]
    assert _page(auditor, **{"from": 2000, "to": 4000}) == (["export", "playback"], 2)
    assert _page(auditor, **{"to": 5000, "limit": 2, "offset": 1}) == (
        ["export", "playback"], 4,
    )  # fmt: skip
    item = auditor.get("/api/audit", params={"action": "live_view"}).json()["items"][0]
    assert item["username"] == "op" and item["details"] == {"until": 1100}
    # reading the log is not itself logged
    assert [e["action"] for e in store.audit_entries()].count("login") == 1
    assert len(store.audit_entries(1000)) == 5


@pytest.mark.parametrize(
    ("params", "field"),
    [({"from": 10, "to": 5}, "to"), ({"limit": 0}, "limit"), ({"offset": -1}, "offset"),
     ({"from": "yesterday"}, "from")],
)  # fmt: skip
def test_malformed_queries_get_field_level_422(
    auditor: TestClient, params: dict[str, object], field: str
) -> None:
    answer = auditor.get("/api/audit", params=params)
    assert answer.status_code == 422
    assert any(p["loc"] == ["query", field] for p in answer.json()["detail"]), answer.text


def test_csv_export_is_audited(auditor: TestClient, store: Store) -> None:
    answer = auditor.get("/api/audit.csv", params={"user": "insp"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    text = answer.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert rows[0] == ["id", "at", "username", "action", "target", "details"]
    assert [row[3] for row in rows[1:]] == ["export", "playback"]
    assert json.loads(rows[1][5]) == {"note": "证据"}
    last = store.audit_entries(1)[0]
    assert (last["username"], last["action"]) == ("aud", "audit_exported")
    assert last["details"] == {"rows": 2, "filter_user": "insp"}


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.INSPECTOR])
def test_other_roles_cannot_read_the_log(store: Store, role: Role) -> None:
    client = TestClient(create_app(SITE, store, FixedLive()))
    log_in(client, "u", ensure_user(store, "u", role))
    assert client.get("/api/audit").status_code == 403
    assert client.get("/api/audit.csv").status_code == 403
    assert TestClient(client.app).get("/api/audit").status_code == 401


def test_admins_read_the_log_too(store: Store) -> None:
    client = TestClient(create_app(SITE, store, FixedLive()))
    log_in(client, "root", ensure_user(store, "root", Role.ADMIN))
    assert _page(client)[0] == ["login"]
