"""Data exchange over HTTP, on SQLite and PostgreSQL: API keys, 422 details, 409, durability."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from cases.ledger import CaseLedger
from cases.store import Sources, open_case_db
from cases.workdays import work_calendar
from console.app import CaseSetup, create_app
from hallwatch.config import Schedule
from hallwatch.config_cases import CasesSettings
from hallwatch.database import Database
from hallwatch.store import Store
from tests.console.test_api import SITE, FixedLive

SH = ZoneInfo("Asia/Shanghai")
ACCEPTED_AT = dt.datetime(2026, 11, 16, 10, tzinfo=SH).isoformat()


def accepted(case: str, event_id: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "type": "accepted", "event_id": event_id or f"{case}-a", "case_id": case,
        "at": ACCEPTED_AT, "item_code": "ITEM-1", "item_name": "食品经营许可",
        "department": "市场监管局", "window_id": "W01", "applicant_type": "individual",
        "promised": {"amount": 5, "unit": "working_days"}, **extra,
    }  # fmt: skip


@pytest.fixture
def db(db_url: str) -> Database:
    return open_case_db(db_url)


@pytest.fixture
def key(db: Database) -> str:
    return Sources(db).add("省审批系统")


@pytest.fixture
def client(db: Database, tmp_path: Path) -> TestClient:
    ledger = CaseLedger(db, work_calendar(Schedule()), CasesSettings())
    setup = CaseSetup(ledger, Sources(db))
    return TestClient(create_app(SITE, Store(tmp_path / "s.db"), FixedLive(), cases=setup))


def post(client: TestClient, key: str | None, body: Any) -> Any:
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    return client.post("/api/intake/events", content=json.dumps(body), headers=headers)


def test_a_source_needs_its_own_key(client: TestClient, key: str) -> None:
    body = {"events": [accepted("C1")]}
    assert post(client, None, body).status_code == 401
    assert post(client, "not-a-key", body).status_code == 401
    response = client.post("/api/intake/events", content=json.dumps(body),
                           headers={"X-Api-Key": key})  # fmt: skip
    assert response.status_code == 200, response.text


def test_a_batch_is_stored_durably_and_once(client: TestClient, key: str, db_url: str) -> None:
    body = {"events": [accepted("C1"), accepted("C2")]}
    first = post(client, key, body)
    assert first.json() == {"accepted": 2, "duplicates": 0, "cases": ["C1", "C2"]}
    assert post(client, key, body).json() == {"accepted": 0, "duplicates": 2, "cases": []}
    other = Database(db_url)  # another connection sees it: committed before the answer
    assert other.query("SELECT COUNT(*) AS n FROM cases")[0]["n"] == 2
    other.close()


def test_an_invalid_event_gives_field_details_and_writes_nothing(
    client: TestClient, key: str, db: Database
) -> None:
    bad = accepted("C3", promised={"amount": 5, "unit": "weeks"})
    naive = accepted("C4", at="2026-11-16T10:00:00")
    response = post(client, key, {"events": [accepted("C5"), bad, naive]})
    assert response.status_code == 422
    locations = {detail["loc"] for detail in response.json()["detail"]}
    assert locations == {"events/1/promised/unit", "events/2/at"}
    assert db.query("SELECT COUNT(*) AS n FROM case_events")[0]["n"] == 0


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"events": []}, "events"),
        ({"events": [{**accepted("C1"), "colour": "red"}]}, "events/0/colour"),
        ({"events": [{**accepted("C1"), "type": "approved"}]}, "events/0/type"),
        ({}, "events"),
    ],
)
def test_malformed_batches_are_422(client: TestClient, key: str, body: Any, loc: str) -> None:
    response = post(client, key, body)
    assert response.status_code == 422
    assert loc in {detail["loc"] for detail in response.json()["detail"]}


def test_an_event_id_reused_with_other_content_is_409(client: TestClient, key: str) -> None:
    assert post(client, key, {"events": [accepted("C1")]}).status_code == 200
    changed = accepted("C1", department="税务局")
    response = post(client, key, {"events": [accepted("C9"), changed]})
    assert response.status_code == 409
    assert response.json()["detail"][0]["type"] == "event_conflict"
    assert post(client, key, {"events": [accepted("C9")]}).json()["accepted"] == 1


def test_a_file_is_imported_all_or_nothing(client: TestClient, key: str) -> None:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson"}
    good = "\n".join(json.dumps(accepted(f"F{n}")) for n in range(3)) + "\n"
    response = client.post("/api/intake/file", content=good.encode(), headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 3 and response.json()["lines"] == 3
    broken = good + '{"type": "accepted"}\n'
    response = client.post("/api/intake/file", content=broken.replace("F", "G"), headers=headers)
    assert response.status_code == 422
    assert {detail["line"] for detail in response.json()["detail"]} == {4}
    wrong = client.post("/api/intake/file", content=good,
                        headers={**headers, "Content-Type": "application/pdf"})  # fmt: skip
    assert wrong.status_code == 415


def test_without_a_case_store_intake_says_so(tmp_path: Path) -> None:
    client = TestClient(create_app(SITE, Store(tmp_path / "s.db"), FixedLive()))
    response = client.post("/api/intake/events", headers={"Authorization": "Bearer x"})
    assert response.status_code == 503
