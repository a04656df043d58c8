"""Users admin API: admins only, no hashes in answers, guarded last admin, every change audited."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from console.app import create_app
from console.auth import Role, ensure_user
from console.users import admin_change_refusal
from hallwatch.store import Store, User
from tests.console.test_api import FixedLive
from tests.console.test_security import HALLS_SITE
from tests.support.console_client import log_in


@pytest.fixture
def admin(store: Store) -> TestClient:
    client = TestClient(create_app(HALLS_SITE, store, FixedLive()))
    assert log_in(client, "root", ensure_user(store, "root", Role.ADMIN)).status_code == 200
    return client


def _user(name: str, role: str = "admin", disabled: bool = False) -> User:
    return User(1, name, "hash", role, disabled=disabled)


@pytest.mark.parametrize(
    ("target", "change", "admins", "refused"),
    [
        (_user("me"), {"role": "operator"}, 2, True),  # demoting yourself
        (_user("me"), {"disabled": True}, 2, True),
        (_user("me"), {"deleting": True}, 2, True),
        (_user("me"), {"role": "admin"}, 1, False),  # no change of power
        (_user("me"), {"disabled": False}, 1, False),
        (_user("other"), {"role": "operator"}, 2, False),
        (_user("other"), {"role": "operator"}, 1, True),  # the last active admin
        (_user("other"), {"deleting": True}, 1, True),
        (_user("other", disabled=True), {"deleting": True}, 1, False),  # not an active admin
        (_user("other", "operator"), {"disabled": True}, 1, False),
        (_user("other", "operator"), {"deleting": True}, 1, False),
    ],
)
def test_admin_change_refusal(
    target: User, change: dict[str, object], admins: int, refused: bool
) -> None:
    reason = admin_change_refusal("me", target, active_admins=admins, **change)  # type: ignore[arg-type]
    assert (reason is not None) == refused


def test_create_with_a_generated_password_and_log_in(admin: TestClient, store: Store) -> None:
    created = admin.post("/api/users", json={"username": "op1", "role": "operator",
                                             "halls": ["H1"]})  # fmt: skip
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["user"] == {"username": "op1", "role": "operator", "halls": ["H1"],
                            "disabled": False, "created_at": body["user"]["created_at"]}  # fmt: skip
    password = body["password"]
    assert isinstance(password, str) and len(password) >= 12
    other = TestClient(admin.app)
    assert log_in(other, "op1", password).json() == {"username": "op1", "role": "operator"}
    assert [c["id"] for c in other.get("/api/cameras").json()] == ["cam1"]
    given = admin.post("/api/users", json={"username": "insp", "role": "inspector",
                                           "password": "a-given-password"})  # fmt: skip
    assert given.status_code == 201 and given.json()["password"] is None
    listed = admin.get("/api/users")
    assert [u["username"] for u in listed.json()] == ["insp", "op1", "root"]
    assert "argon2" not in listed.text and "hash" not in listed.text
    entries = [(e["action"], e["target"]) for e in store.audit_entries()]
    assert ("user_created", "op1") in entries and ("user_created", "insp") in entries


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "bad name", "role": "operator"}, "username"),
        ({"username": "", "role": "operator"}, "username"),
        ({"username": "x", "role": "superuser"}, "role"),
        ({"username": "x", "role": "operator", "password": "short"}, "password"),
        ({"username": "x", "role": "operator", "halls": ["H9"]}, "halls"),
    ],
)
def test_malformed_new_users_get_field_level_422(
    admin: TestClient, body: dict[str, object], field: str
) -> None:
    answer = admin.post("/api/users", json=body)
    assert answer.status_code == 422
    assert any(p["loc"][:2] == ["body", field] for p in answer.json()["detail"]), answer.text


def test_duplicate_and_missing_users(admin: TestClient) -> None:
    assert (
        admin.post("/api/users", json={"username": "root", "role": "operator"}).status_code == 409
    )
    assert admin.patch("/api/users/ghost", json={"role": "operator"}).status_code == 404
    assert admin.post("/api/users/ghost/password", json={}).status_code == 404
    assert admin.delete("/api/users/ghost").status_code == 404


def test_change_disable_reset_and_delete(admin: TestClient, store: Store) -> None:
    password = ensure_user(store, "op", Role.OPERATOR)
    session = TestClient(admin.app)
    log_in(session, "op", password)
    changed = admin.patch("/api/users/op", json={"role": "inspector", "halls": ["H2"]})
    assert changed.json()["role"] == "inspector" and changed.json()["halls"] == ["H2"]
    assert session.get("/api/me").json()["role"] == "inspector"
    assert admin.patch("/api/users/op", json={"disabled": True}).json()["disabled"] is True
    assert session.get("/api/me").status_code == 401  # the session ended
    assert TestClient(admin.app).post(
        "/api/login", json={"username": "op", "password": password}
    ).status_code == 403  # fmt: skip
    admin.patch("/api/users/op", json={"disabled": False})
    reset = admin.post("/api/users/op/password", json={})
    new_password = reset.json()["password"]
    assert new_password and new_password != password
    assert log_in(TestClient(admin.app), "op", password).status_code == 401
    assert log_in(session, "op", new_password).status_code == 200
    assert admin.post("/api/users/op/password", json={"password": "x" * 10}).json() == {
        "password": None
    }
    assert session.get("/api/me").status_code == 401  # a reset ends the sessions
    assert admin.delete("/api/users/op").status_code == 204
    assert store.user("op") is None
    actions = [(e["action"], e["target"]) for e in store.audit_entries()]
    for action in ("user_changed", "user_password_reset", "user_deleted"):
        assert (action, "op") in actions
    assert "x" * 10 not in str(store.audit_entries())  # passwords never in the log


def test_nobody_locks_out_themselves_or_the_last_admin(admin: TestClient, store: Store) -> None:
    assert admin.patch("/api/users/root", json={"role": "operator"}).status_code == 409
    assert admin.patch("/api/users/root", json={"disabled": True}).status_code == 409
    assert admin.delete("/api/users/root").status_code == 409
    ensure_user(store, "second", Role.ADMIN)
    assert admin.patch("/api/users/second", json={"disabled": True}).status_code == 200
    assert admin.delete("/api/users/second").status_code == 204
    assert store.user("root") is not None and store.count_active_admins() == 1


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.INSPECTOR, Role.AUDITOR])
def test_only_admins_manage_users(store: Store, role: Role) -> None:
    client = TestClient(create_app(HALLS_SITE, store, FixedLive()))
    log_in(client, "u", ensure_user(store, "u", role))
    assert client.get("/api/users").status_code == 403
    assert client.post("/api/users", json={"username": "x", "role": "admin"}).status_code == 403
    assert client.patch("/api/users/u", json={"role": "admin"}).status_code == 403
    assert store.user("u") is not None and store.user("u").role == role.value  # type: ignore[union-attr]
