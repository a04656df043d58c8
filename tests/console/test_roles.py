"""The role matrix: for every route of the console, which roles may use it.

A route that is not in MATRIX fails `test_every_route_has_a_role_decision`, so a new route
cannot ship without someone deciding who may call it. Admins pass every role check.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts
from fastapi.testclient import TestClient

from cases.ledger import CaseLedger
from cases.store import Sources, open_case_db
from cases.workdays import work_calendar
from console.app import CaseSetup, EvidenceSetup, create_app
from console.auth import Role, ensure_user
from hallwatch.config import Schedule
from hallwatch.config_cases import CasesSettings
from hallwatch.store import Store
from recordings.clips import ClipStore
from recordings.index import SegmentIndex
from tests.console.test_api import SITE, FixedLive
from tests.support.console_client import log_in

OPERATOR, INSPECTOR, AUDITOR = Role.OPERATOR.value, Role.INSPECTOR.value, Role.AUDITOR.value
ALL = frozenset({OPERATOR, INSPECTOR, AUDITOR})
WATCH = frozenset({OPERATOR, INSPECTOR})  # wall, events, recordings, cases
OPS = frozenset({OPERATOR})
INSPECT = frozenset({INSPECTOR})
AUDIT = frozenset({AUDITOR})
ADMIN: frozenset[str] = frozenset()  # admins only
PUBLIC = "public"  # no login needed
API_KEY = "api key"  # source systems: an API key, never a session

MATRIX: dict[tuple[str, str], frozenset[str] | str] = {
    ("GET", "/"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("GET", "/healthz"): PUBLIC,
    ("POST", "/api/login"): PUBLIC,
    ("POST", "/api/logout"): PUBLIC,
    ("GET", "/api/me"): ALL,
    ("GET", "/api/site"): ALL,
    ("GET", "/api/openapi.json"): ALL,
    ("GET", "/api/cameras"): WATCH,
    ("GET", "/api/cameras/{camera_id}"): WATCH,
    ("GET", "/api/cameras/{camera_id}/snapshot.jpg"): WATCH,
    ("GET", "/api/windows"): WATCH,
    ("GET", "/api/events"): WATCH,
    ("GET", "/api/events/stream"): WATCH,
    ("GET", "/api/recordings"): WATCH,
    ("GET", "/api/recordings/overview"): WATCH,
    ("GET", "/api/recordings/{segment_id}/video"): WATCH,
    ("GET", "/api/events/{event_id}/clip"): WATCH,
    ("POST", "/api/exports"): INSPECT,
    ("GET", "/api/exports"): INSPECT,
    ("GET", "/api/exports/{export_id}/{name}"): INSPECT,
    ("GET", "/metrics"): OPS,
    ("POST", "/api/intake/events"): API_KEY,
    ("POST", "/api/intake/file"): API_KEY,
    ("GET", "/api/cases"): WATCH,
    ("GET", "/api/cases/{case_id}"): WATCH,
    ("GET", "/api/cards"): WATCH,
    ("POST", "/api/cards/{card_id}/acknowledge"): INSPECT,
    ("GET", "/api/scores"): INSPECT,
    ("GET", "/api/scores.csv"): INSPECT,
    ("GET", "/api/live/sessions"): OPS,
    ("DELETE", "/api/live/sessions/{session_id}"): OPS,
    ("GET", "/api/live/{camera_id}"): OPS,
    ("POST", "/api/live/{camera_id}/offer"): OPS,
    ("POST", "/api/events/{event_id}/ack"): OPS,
    ("PUT", "/api/events/{event_id}/verdict"): INSPECT,
    ("GET", "/api/events/{event_id}/review"): INSPECT,
    ("GET", "/api/review"): INSPECT,
    ("GET", "/api/admin/config"): ADMIN,
    ("GET", "/api/admin/config/history"): ADMIN,
    ("POST", "/api/admin/cameras"): ADMIN,
    ("PATCH", "/api/admin/cameras/{camera_id}"): ADMIN,
    ("DELETE", "/api/admin/cameras/{camera_id}"): ADMIN,
    ("POST", "/api/admin/windows"): ADMIN,
    ("PATCH", "/api/admin/windows/{window_id}"): ADMIN,
    ("DELETE", "/api/admin/windows/{window_id}"): ADMIN,
    ("POST", "/api/admin/queues"): ADMIN,
    ("PATCH", "/api/admin/queues/{queue_id}"): ADMIN,
    ("DELETE", "/api/admin/queues/{queue_id}"): ADMIN,
    ("POST", "/api/admin/cameras/{camera_id}/zones"): ADMIN,
    ("PATCH", "/api/admin/cameras/{camera_id}/zones/{zone_id}"): ADMIN,
    ("DELETE", "/api/admin/cameras/{camera_id}/zones/{zone_id}"): ADMIN,
    ("PATCH", "/api/admin/schedule"): ADMIN,
    ("PATCH", "/api/admin/thresholds"): ADMIN,
    ("GET", "/api/users"): ADMIN,
    ("POST", "/api/users"): ADMIN,
    ("PATCH", "/api/users/{username}"): ADMIN,
    ("POST", "/api/users/{username}/password"): ADMIN,
    ("DELETE", "/api/users/{username}"): ADMIN,
    ("GET", "/api/audit"): AUDIT,
    ("GET", "/api/audit.csv"): AUDIT,
    ("GET", "/api/dashboard"): ALL,  # read-only statistics
    ("GET", "/api/relay"): OPS,  # the link's health
    ("GET", "/api/relay/outbox"): ADMIN,
    ("POST", "/api/relay/outbox/retry"): ADMIN,
}

# answers that never end (server-sent events) and the logout (it would end the test's session)
NOT_CALLED_WHEN_ALLOWED = {("GET", "/api/events/stream"), ("POST", "/api/logout")}


def full_app(folder: Path) -> tuple[FastAPI, Store]:
    """The console with a store, a recording index and a case ledger (SQLite), as served."""
    store = Store(folder / "hw.db")
    db = open_case_db(f"sqlite:///{folder / 'cases.db'}")
    Sources(db).add("sys")
    ledger = CaseLedger(db, work_calendar(Schedule()), CasesSettings())
    index = SegmentIndex(store, folder / "recordings")
    evidence = EvidenceSetup(ClipStore(store, folder / "clips"), folder / "exports", bytes(32))
    app = create_app(SITE, store, FixedLive(), recording_index=index, evidence_setup=evidence,
                     cases=CaseSetup(ledger, Sources(db)))  # fmt: skip
    return app, store


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    routes: set[tuple[str, str]] = set()
    for context in iter_route_contexts(app.router.routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            routes.update((method, context.path) for method in context.methods or ())
        elif isinstance(route, APIWebSocketRoute):
            routes.add(("WEBSOCKET", context.path))
    return routes


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    app, store = full_app(tmp_path_factory.mktemp("roles"))
    clients = {}
    for role in Role:
        client = TestClient(app)
        assert log_in(
            client, f"u_{role.value}", ensure_user(store, f"u_{role.value}", role)
        ).is_success
        clients[role.value] = client
    yield {"app": app, "clients": clients}
    store.close()


def test_every_route_has_a_role_decision(console: dict[str, Any]) -> None:
    routes = app_routes(console["app"])
    assert routes - set(MATRIX) == set(), "routes without a role decision in MATRIX"
    assert set(MATRIX) - routes == set(), "MATRIX lists routes the app does not have"


def _call(client: TestClient, method: str, path: str) -> int:
    concrete = re.sub(r"\{[^}]+\}", "x1", path)
    body = None if method in ("GET", "DELETE") else {}
    return client.request(method, concrete, json=body).status_code


@pytest.mark.parametrize(("method", "path"), sorted(MATRIX), ids=lambda v: str(v))
def test_role_matrix(console: dict[str, Any], method: str, path: str) -> None:
    decision = MATRIX[(method, path)]
    clients: dict[str, TestClient] = console["clients"]
    for role, client in clients.items():
        if decision == API_KEY:
            assert _call(client, method, path) == 401, role  # a session is not a key
            continue
        allowed = decision == PUBLIC or role == Role.ADMIN.value or role in decision
        if allowed and (method, path) in NOT_CALLED_WHEN_ALLOWED:
            continue
        code = _call(client, method, path)
        if allowed:
            assert code not in (401, 403), (role, method, path, code)
        else:
            assert code == 403, (role, method, path, code)


def test_no_session_no_answer(console: dict[str, Any]) -> None:
    anonymous = TestClient(console["app"])
    for (method, path), decision in MATRIX.items():
        if decision != PUBLIC:
            assert _call(anonymous, method, path) == 401, (method, path)
