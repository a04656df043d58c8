"""Console security: the CSRF check, login throttling, disabled users, hall limits, OpenAPI."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from console.app import create_app
from console.auth import (
    ADDRESS_RULE,
    FORGET_AFTER_S,
    USER_RULE,
    Role,
    ThrottleRule,
    after_failure,
    csrf_refusal,
    csrf_token,
    ensure_user,
    lock_seconds,
    retry_after,
)
from hallwatch.config import Site
from hallwatch.events import Event
from hallwatch.store import LoginFailures, Store
from tests.console.test_api import FixedLive
from tests.support.console_client import log_in

HALLS_SITE = Site.model_validate(
    {
        "name": "两厅中心",
        "halls": [{"id": "H1", "name": "一楼大厅"}, {"id": "H2", "name": "二楼大厅"}],
        "cameras": [
            {"id": "cam1", "name": "一号", "hall": "H1", "url": "rtsp://192.0.2.1/a"},
            {"id": "cam2", "name": "二号", "hall": "H2", "url": "rtsp://192.0.2.1/b"},
        ],
        "windows": [
            {"id": "W01", "name": "1号窗口", "department": "税务局", "camera": "cam1",
             "staff_zone": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]},
            {"id": "W02", "name": "2号窗口", "department": "公安局", "camera": "cam2",
             "staff_zone": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]},
        ],
    }
)  # fmt: skip


@pytest.fixture
def client(store: Store) -> TestClient:
    return TestClient(create_app(HALLS_SITE, store, FixedLive()))


RULE = ThrottleRule(threshold=3, quiet_s=100, base_lock_s=10, max_lock_s=35)


@pytest.mark.parametrize(
    ("failures", "seconds"),
    [(0, 0), (1, 0), (2, 0), (3, 10), (4, 20), (5, 35), (9, 35)],
)
def test_lock_grows_with_failures_to_a_cap(failures: int, seconds: float) -> None:
    assert lock_seconds(failures, RULE) == seconds


@pytest.mark.parametrize(
    ("prev", "now", "expected"),
    [
        (None, 1000.0, LoginFailures(1, 1000, 1000, 0)),
        (LoginFailures(1, 900, 950, 0), 1000.0, LoginFailures(2, 900, 1000, 0)),
        (LoginFailures(2, 900, 950, 0), 1000.0, LoginFailures(3, 900, 1000, 1010)),
        (LoginFailures(3, 900, 950, 960), 1000.0, LoginFailures(4, 900, 1000, 1020)),
        # quiet for longer than quiet_s after the last failure: counting starts again
        (LoginFailures(2, 700, 800, 0), 1000.0, LoginFailures(1, 1000, 1000, 0)),
        # quiet_s counts from the end of a lock, not from the failure that started it
        (LoginFailures(5, 0, 800, 950), 1000.0, LoginFailures(6, 0, 1000, 1035)),
    ],
)
def test_after_failure(prev: LoginFailures | None, now: float, expected: LoginFailures) -> None:
    assert after_failure(prev, now, RULE) == expected


def test_retry_after_is_the_longest_lock_left() -> None:
    states = [LoginFailures(1, 0, 0, 0), LoginFailures(5, 0, 0, 130), LoginFailures(5, 0, 0, 110)]
    assert retry_after(states, 100) == 30
    assert retry_after([LoginFailures(5, 0, 0, 90)], 100) <= 0
    assert retry_after([], 100) == 0
    assert USER_RULE.threshold < ADDRESS_RULE.threshold  # a hall may share one address


TOKEN = "session-token"
GOOD = csrf_token(TOKEN)


@pytest.mark.parametrize(
    ("method", "path", "session", "presented", "refused"),
    [
        ("GET", "/api/users", TOKEN, "", False),  # reading is not subject to the check
        ("HEAD", "/api/users", TOKEN, "", False),
        ("POST", "/api/users", None, "", False),  # no session: the route answers 401 itself
        ("POST", "/api/users", TOKEN, "", True),
        ("POST", "/api/users", TOKEN, "wrong", True),
        ("POST", "/api/users", TOKEN, csrf_token("another session"), True),
        ("POST", "/api/users", TOKEN, GOOD, False),
        ("put", "/api/x", TOKEN, "", True),
        ("PATCH", "/api/users/a", TOKEN, "", True),
        ("DELETE", "/api/users/a", TOKEN, "", True),
        ("DELETE", "/api/users/a", TOKEN, GOOD, False),
        ("POST", "/api/login", TOKEN, "", False),  # no session yet (or a stale one)
        ("POST", "/api/logout", TOKEN, "", True),
        ("POST", "/api/intake/events", TOKEN, "", False),  # API key, not the cookie
    ],
)
def test_csrf_refusal(
    method: str, path: str, session: str | None, presented: str, refused: bool
) -> None:
    assert (csrf_refusal(method, path, session, presented) is not None) == refused


def test_csrf_cookie_and_header(client: TestClient, store: Store) -> None:
    password = ensure_user(store, "adm", Role.ADMIN)
    response = client.post("/api/login", json={"username": "adm", "password": password})
    assert response.status_code == 200
    cookies = response.headers.get_list("set-cookie")
    csrf = next(c for c in cookies if c.startswith("hw_csrf="))
    session = next(c for c in cookies if c.startswith("hw_session="))
    assert "httponly" not in csrf.lower() and "samestrict" not in csrf.lower()
    assert "samesite=strict" in csrf.lower() and "samesite=strict" in session.lower()
    assert "httponly" in session.lower()
    assert "max-age=43200" in csrf.lower() and "max-age=43200" in session.lower()
    assert client.cookies["hw_csrf"] == csrf_token(client.cookies["hw_session"])
    body = {"username": "someone", "role": "operator"}
    missing = client.post("/api/users", json=body)
    assert missing.status_code == 403 and "CSRF" in missing.json()["detail"]
    wrong = client.post("/api/users", json=body, headers={"X-CSRF-Token": "nope"})
    assert wrong.status_code == 403
    assert store.user("someone") is None
    assert client.get("/api/users").status_code == 200  # reading needs no token
    good = client.post("/api/users", json=body, headers={"X-CSRF-Token": client.cookies["hw_csrf"]})
    assert good.status_code == 201


def test_intake_is_not_subject_to_the_csrf_check(client: TestClient, store: Store) -> None:
    log_in(client, "adm", ensure_user(store, "adm", Role.ADMIN))
    del client.headers["X-CSRF-Token"]
    answer = client.post("/api/intake/events", json=[])
    assert answer.status_code == 401  # the route itself answered: it wants its API key
    assert "API key" in answer.json()["detail"]


def test_logout_needs_the_token_and_clears_both_cookies(client: TestClient, store: Store) -> None:
    assert log_in(client, "op", ensure_user(store, "op", Role.OPERATOR)).status_code == 200
    token = client.headers.pop("X-CSRF-Token")
    assert client.post("/api/logout").status_code == 403
    assert client.get("/api/me").status_code == 200
    response = client.post("/api/logout", headers={"X-CSRF-Token": token})
    assert response.status_code == 200
    cleared = response.headers.get_list("set-cookie")
    assert {c.split("=")[0] for c in cleared} == {"hw_session", "hw_csrf"}
    assert all('=""' in c or "max-age=0" in c.lower() for c in cleared)
    assert client.get("/api/me").status_code == 401
    actions = [entry["action"] for entry in store.audit_entries()]
    assert actions[:2] == ["logout", "login"]


def _login(client: TestClient, username: str, password: str) -> int:
    return client.post("/api/login", json={"username": username, "password": password}).status_code


def test_five_failures_lock_the_user_name(client: TestClient, store: Store) -> None:
    password = ensure_user(store, "op", Role.OPERATOR)
    assert [_login(client, "op", "wrong") for _ in range(4)] == [401] * 4
    locked = client.post("/api/login", json={"username": "op", "password": "wrong"})
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) == locked.json()["retry_after_s"] == 60
    assert "detail" in locked.json()
    # while locked, even the right password is refused without being checked
    assert _login(client, "op", password) == 429
    actions = [entry["action"] for entry in store.audit_entries()]
    assert actions.count("login_failed") == 5 and actions.count("login_locked") == 2
    assert "login" not in actions
    # another user from another address is not affected by this user's lock
    other = TestClient(client.app, client=("192.0.2.7", 5000))
    assert _login(other, "op2", "x") == 401
    # the lock ends; a success clears the user name's count
    state = store.login_failures(["user:op"])["user:op"]
    store.put_login_failures("user:op", LoginFailures(state.failures, 0, 0, time.time() - 1))
    assert _login(client, "op", password) == 200
    assert store.login_failures(["user:op"]) == {}
    assert _login(client, "op", "wrong") == 401  # counting starts again


def test_keys_quiet_for_longer_than_the_rules_remember_are_forgotten(
    client: TestClient, store: Store
) -> None:
    now = time.time()
    stale = now - FORGET_AFTER_S - 1
    for i in range(50):  # names tried long ago, each once
        store.put_login_failures(f"user:old{i}", LoginFailures(1, stale, stale, 0.0))
    # failed long ago but still locked: kept until the lock has ended that long ago
    store.put_login_failures("user:locked", LoginFailures(9, stale, stale, now + 600))
    store.put_login_failures("user:recent", LoginFailures(2, now - 60, now - 60, 0.0))
    assert _login(client, "someone", "wrong") == 401
    kept = store.login_failures(
        ["user:locked", "user:recent", "user:someone", "addr:testclient"]
        + [f"user:old{i}" for i in range(50)]
    )
    assert set(kept) == {"user:locked", "user:recent", "user:someone", "addr:testclient"}
    assert _login(client, "locked", "x") == 429  # its lock still holds


def test_one_address_trying_many_names_is_locked(client: TestClient, store: Store) -> None:
    codes = [_login(client, f"name{i}", "wrong") for i in range(ADDRESS_RULE.threshold)]
    assert codes[:-1] == [401] * (ADDRESS_RULE.threshold - 1) and codes[-1] == 429
    password = ensure_user(store, "fresh", Role.OPERATOR)
    assert _login(client, "fresh", password) == 429
    elsewhere = TestClient(client.app, client=("192.0.2.8", 5000))
    assert _login(elsewhere, "fresh", password) == 200


def test_a_disabled_user_cannot_log_in_and_its_sessions_end(
    client: TestClient, store: Store
) -> None:
    password = ensure_user(store, "op", Role.OPERATOR)
    assert log_in(client, "op", password).status_code == 200
    store.update_user("op", disabled=True)
    assert client.get("/api/me").status_code == 401
    fresh = TestClient(client.app)
    assert _login(fresh, "op", password) == 403
    assert _login(fresh, "op", "wrong") == 401  # the wrong password does not learn "disabled"
    store.update_user("op", disabled=False)
    assert _login(fresh, "op", password) == 200


def _event(store: Store, camera: str, window: str) -> Event:
    now = time.time()
    return store.add_event(Event(type="vacancy", camera=camera, window=window, start=now,
                                 end=None, detected_at=now, details={}))  # fmt: skip


def test_a_user_limited_to_a_hall_sees_only_that_hall(client: TestClient, store: Store) -> None:
    _event(store, "cam1", "W01")
    _event(store, "cam2", "W02")
    password = ensure_user(store, "op", Role.OPERATOR)
    store.update_user("op", halls=["H1"])
    log_in(client, "op", password)
    assert [c["id"] for c in client.get("/api/cameras").json()] == ["cam1"]
    assert client.get("/api/cameras/cam1").status_code == 200
    assert client.get("/api/cameras/cam2").status_code == 404
    assert client.get("/api/cameras/cam2/snapshot.jpg").status_code == 404
    assert [w["id"] for w in client.get("/api/windows").json()] == ["W01"]
    events = client.get("/api/events").json()
    assert events["total"] == 1 and events["items"][0]["camera"] == "cam1"
    assert client.get("/api/events", params={"camera": "cam2"}).json()["total"] == 0
    store.update_user("op", halls=[])  # empty: every hall
    assert client.get("/api/events").json()["total"] == 2
    assert len(client.get("/api/cameras").json()) == 2


def test_openapi_is_for_logged_in_users_only(client: TestClient, store: Store) -> None:
    assert client.get("/api/openapi.json").status_code == 401
    assert client.get("/docs").status_code == 404 and client.get("/openapi.json").status_code == 404
    log_in(client, "aud", ensure_user(store, "aud", Role.AUDITOR))
    schema = client.get("/api/openapi.json").json()
    assert "/api/users" in schema["paths"] and "/api/audit" in schema["paths"]
    assert "/api/openapi.json" not in schema["paths"]
    mine = [p for p in schema["paths"] if p.startswith(("/api/users", "/api/audit", "/api/log"))]
    assert len(mine) == 7
    for path in mine:
        for method, operation in schema["paths"][path].items():
            assert operation.get("description"), (method, path)
