"""schemathesis against the console's own OpenAPI schema: no request a logged-in admin can make,
however malformed, gets a 5xx.

The app is the one served (a real store, recording index and case ledger on SQLite). The schema
is fetched from /api/openapi.json with the admin's session; every call carries the session
cookie and the CSRF header, as the browser does. Left out: the logout (it would end the
session the run uses) and the server-sent event stream (it never ends).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup

from console.auth import Role, ensure_user
from tests.console.test_roles import full_app
from tests.support.console_client import CSRF_COOKIE, CSRF_HEADER, log_in

ADMIN = "st-admin"
NOT_SESSION = ("/api/login", "/api/intake/")  # 401 there: wrong password, no API key
MAX_EXAMPLES = 12  # per operation: the whole run stays well under a minute


@pytest.fixture(scope="module")
def logged_in(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from fastapi.testclient import TestClient

    app, store = full_app(tmp_path_factory.mktemp("schemathesis"))
    client = TestClient(app)
    assert log_in(client, ADMIN, ensure_user(store, ADMIN, Role.ADMIN)).status_code == 200
    cookies = {"hw_session": client.cookies["hw_session"], CSRF_COOKIE: client.cookies[CSRF_COOKIE]}
    headers = {CSRF_HEADER: client.cookies[CSRF_COOKIE]}
    yield {"app": app, "cookies": cookies, "headers": headers}
    store.close()


@pytest.fixture(scope="module")
def api_schema(logged_in: dict[str, Any]) -> Any:
    schema = schemathesis.openapi.from_asgi(
        "/api/openapi.json", logged_in["app"], cookies=logged_in["cookies"]
    )
    return schema.exclude(path="/api/logout").exclude(path="/api/events/stream")


def _request(case: Any) -> str:
    return str(case.as_curl_command(headers={CSRF_HEADER: "…"}))


def _call(case: Any, logged_in: dict[str, Any]) -> str | None:
    """Call the app as the logged-in admin; a description of the call when it got a 5xx."""
    try:
        response = case.call(headers=logged_in["headers"], cookies=logged_in["cookies"])
    except Exception as error:  # the app raised: a real server answers 500
        return f"500 {type(error).__name__}: {error}: {_request(case)}"
    if not case.operation.path.startswith(NOT_SESSION):
        assert response.status_code != 401, f"the run lost its session at {case.operation.label}"
    try:
        case.validate_response(response, checks=[not_a_server_error])
    except FailureGroup:
        return f"{response.status_code}: {_request(case)}"
    return None


def _fuzz(operation: Any, mode: GenerationMode, logged_in: dict[str, Any]) -> list[str]:
    """Random calls of `operation` (hypothesis) that got a 5xx."""
    failures: list[str] = []

    @given(operation.as_strategy(generation_mode=mode))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck), database=None)  # fmt: skip
    def run(case: Any) -> None:
        failure = _call(case, logged_in)
        if failure is not None:  # recorded, not raised: the run goes on to the next example
            failures.append(failure)

    try:
        run()
    except Unsatisfiable:  # negative mode: nothing in this operation can be made invalid
        assert mode == GenerationMode.NEGATIVE, operation.label
    return failures


def _boundaries(schema: Any, operation: Any, logged_in: dict[str, Any]) -> list[str]:
    """schemathesis's coverage cases (each parameter at its bounds, missing, of a wrong type)."""
    modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    config = schema.config.generation_for(operation=operation)
    cases = schema.iter_coverage_cases(operation, generation_modes=modes, generation_config=config)
    return [failure for case in cases if (failure := _call(case, logged_in)) is not None]


def test_no_request_gets_a_server_error(api_schema: Any, logged_in: dict[str, Any]) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 40
    failures: list[str] = []
    for operation in operations:
        failures += _boundaries(api_schema, operation, logged_in)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            failures += _fuzz(operation, mode, logged_in)
    assert failures == [], "\n".join(sorted(set(failures)))


HUGE = 2**63  # one past SQLite's INTEGER range: an id or offset the schema does not bound


def _integer_parameters(raw: dict[str, Any]) -> Iterator[tuple[str, str, str, str]]:
    """(method, path, parameter, where) for every integer path or query parameter."""
    for path, operations in raw["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {})
                kinds = [schema, *schema.get("anyOf", [])]
                if any(k.get("type") == "integer" for k in kinds):
                    yield method.upper(), path, parameter["name"], parameter["in"]


def test_huge_integers_get_no_server_error(logged_in: dict[str, Any]) -> None:
    """Random examples rarely reach 2**63 (past the databases' integer range); every integer
    parameter gets it once and must answer 4xx, never 5xx."""
    from fastapi.testclient import TestClient

    client = TestClient(logged_in["app"], raise_server_exceptions=False)
    client.cookies.update(logged_in["cookies"])
    client.headers.update(logged_in["headers"])
    raw = client.get("/api/openapi.json").json()
    failures, tried = [], 0
    for method, path, name, where in _integer_parameters(raw):
        if path in ("/api/logout", "/api/events/stream"):
            continue
        value = str(HUGE)
        url = re.sub(r"\{[^}]+\}", "1", path.replace("{" + name + "}", value))
        query = {name: value} if where == "query" else {}
        response = client.request(method, url, params=query)
        tried += 1
        if response.status_code >= 500:
            failures.append(f"{response.status_code} {method} {url} {query or ''}")
    assert tried >= 5
    assert failures == [], "\n".join(failures)
