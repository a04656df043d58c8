"""Scoring API on SQLite and PostgreSQL: login required, 422 with field details, the JSON rows
and the CSV export (BOM, Chinese headers, attachment, audited), 503 without a case store.

The site's cases and statistics are those of tests/cases/test_scoring.py, through the real
ledger and the console's own store (`app.state.store`).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from cases.ledger import CaseLedger
from cases.scoring import Figures, Period, ScoreRow
from cases.store import Sources, open_case_db
from cases.workdays import work_calendar
from console import scores
from console.app import CaseSetup, create_app
from console.auth import Role, ensure_user
from hallwatch.config import Schedule
from hallwatch.config_cases import CasesSettings, ScoringSettings
from hallwatch.database import Database
from hallwatch.statistics import Statistics
from hallwatch.store import Store
from tests.cases.test_scoring import MARKET, SITE, TAX, add_statistics, feed
from tests.console.test_api import FixedLive
from tests.support.console_client import log_in

NOV_DEC = "from=2026-11-01&to=2026-12-31"
WEIGHTS = ScoringSettings(per_warning_card=1.0)


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = open_case_db(db_url)
    Sources(database).add("sys")
    yield database
    database.close()


@pytest.fixture
def store(db_url: str, tmp_path: Path) -> Iterator[Store]:
    # on SQLite the store shares the case database's file, as in a default install
    path = Path(db_url.removeprefix("sqlite:///")) if db_url.startswith("sqlite") else None
    store = Store(path or tmp_path / "hw.db")
    add_statistics(Statistics(store))
    yield store
    store.close()


@pytest.fixture
def app(db: Database, store: Store) -> FastAPI:
    ledger = CaseLedger(db, work_calendar(Schedule()), CasesSettings(scoring=WEIGHTS))
    feed(ledger)
    return create_app(SITE, store, FixedLive(), cases=CaseSetup(ledger, Sources(db)))


def user_client(app: FastAPI, store: Store) -> TestClient:
    client = TestClient(app)
    password = ensure_user(store, "insp", Role.INSPECTOR)
    response = log_in(client, "insp", password)
    assert response.status_code == 200, response.text
    return client


@pytest.fixture
def client(app: FastAPI, store: Store) -> TestClient:
    return user_client(app, store)


def test_every_score_route_needs_login(app: FastAPI) -> None:
    client = TestClient(app)
    paths = [route.path for route in scores.router.routes if isinstance(route, APIRoute)]
    assert paths == ["/api/scores", "/api/scores.csv"]
    for path in paths:
        response = client.get(f"{path}?{NOV_DEC}")
        assert response.status_code == 401, path


def test_without_a_case_store_the_routes_say_so(tmp_path: Path) -> None:
    store = Store(tmp_path / "hw.db")
    client = user_client(create_app(SITE, store, FixedLive()), store)
    for path in ("/api/scores", "/api/scores.csv"):
        response = client.get(f"{path}?{NOV_DEC}")
        assert response.status_code == 503, path
        assert response.json()["detail"] == "case store not set up"
    store.close()


@pytest.mark.parametrize(
    ("query", "field", "reason"),
    [
        ("from=2026-11-02&to=2026-11-01", "to", "must not be before 'from'"),
        ("from=2024-01-01&to=2025-01-01", "to", "at most 366 days"),
        ("period=month&from=2024-01-01&to=2027-01-01", "to", "at most 36 months"),
        ("from=1999-12-31&to=2000-01-02", "from", "must lie in 2000-01-01..2199-12-31"),
        ("from=2199-12-30&to=2200-01-01", "to", "must lie in 2000-01-01..2199-12-31"),
        ("from=2026-11-31&to=2026-12-01", "from", "valid date"),
        ("from=yesterday&to=2026-12-01", "from", "valid date"),
        ("to=2026-12-01", "from", "Field required"),
        ("from=2026-11-01", "to", "Field required"),
        ("by=item&" + NOV_DEC, "by", "'department' or 'window'"),
        ("period=week&" + NOV_DEC, "period", "'day' or 'month'"),
    ],
)
def test_bad_queries_are_422_with_the_field(
    client: TestClient, query: str, field: str, reason: str
) -> None:
    for path in ("/api/scores", "/api/scores.csv"):
        response = client.get(f"{path}?{query}")
        assert response.status_code == 422, (path, response.text)
        details = response.json()["detail"]
        assert [d["loc"] for d in details] == [["query", field]], details
        assert reason in details[0]["msg"], details


@pytest.mark.parametrize(
    "query",
    [
        "from=2024-01-01&to=2024-12-31",  # 366 days
        "period=month&from=2024-01-31&to=2026-12-01",  # 36 months
        "period=month&from=2000-01-01&to=2000-01-01",
    ],
)
def test_the_longest_ranges_are_answered(client: TestClient, query: str) -> None:
    assert client.get(f"/api/scores?{query}").status_code == 200


def test_scores_by_department_and_month(client: TestClient) -> None:
    response = client.get(f"/api/scores?by=department&period=month&{NOV_DEC}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert {key: body[key] for key in ("by", "period", "from", "to", "timezone")} == {
        "by": "department", "period": "month", "from": "2026-11-01", "to": "2026-12-31",
        "timezone": "Asia/Shanghai",
    }  # fmt: skip
    assert body["weights"] == WEIGHTS.model_dump()
    keys = [(row["group"], row["period"]) for row in body["items"]]
    assert keys == [(MARKET, "2026-11"), (TAX, "2026-11"), (MARKET, "2026-12"), (TAX, "2026-12")]
    market = body["items"][0]
    assert {k: market[k] for k in ("accepted", "completed", "on_time_rate", "early_rate",
                                    "warning_cards", "yellow_cards", "red_cards",
                                    "vacancy_minutes", "waits", "wait_mean_s",
                                    "wait_max_s")} == {
        "accepted": 4, "completed": 2, "on_time_rate": 50.0, "early_rate": 50.0,
        "warning_cards": 1, "yellow_cards": 2, "red_cards": 1, "vacancy_minutes": 45.0,
        "waits": 3, "wait_mean_s": 900.0, "wait_max_s": 1800.0,
    }  # fmt: skip
    assert market["deductions"]["warning_cards"] == 1.0  # the site's weights
    assert market["score"] == 66.75
    tax_nov = body["items"][1]
    assert (tax_nov["vacancy_minutes"], tax_nov["wait_mean_s"], tax_nov["score"]) == (None, None,
                                                                                     100.0)  # fmt: skip


def test_scores_by_window_and_day(client: TestClient) -> None:
    response = client.get("/api/scores?by=window&period=day&from=2026-11-30&to=2026-12-01")
    assert response.status_code == 200, response.text
    rows = {(row["group"], row["period"]): row for row in response.json()["items"]}
    assert sorted(rows) == [("W01", "2026-11-30"), ("W01", "2026-12-01"), ("W02", "2026-12-01"),
                            ("W03", "2026-11-30")]  # fmt: skip
    w01 = rows[("W01", "2026-11-30")]
    assert (w01["name"], w01["accepted"], w01["vacancy_minutes"], w01["waits"]) == (
        "1号窗口", 1, 30.0, 2)  # fmt: skip
    assert (w01["from"], w01["to"]) == ("2026-11-30", "2026-11-30")
    assert rows[("W02", "2026-12-01")]["yellow_cards"] == 1


def read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")  # the BOM
    return list(csv.reader(io.StringIO(data[3:].decode("utf-8"))))


def test_the_csv_export_opens_in_excel_and_is_audited(client: TestClient, store: Store) -> None:
    response = client.get(f"/api/scores.csv?by=department&period=month&{NOV_DEC}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        'attachment; filename="scores-department-month-20261101-20261231.csv"'
    )
    table = read_csv(response.content)
    header = table[0]
    assert header[:3] == ["部门 (department)", "名称 (name)", "周期 (period)"]
    assert header[-1] == "得分 (score)"
    assert "按时办结率% (on-time rate %)" in header and "红牌 (red cards)" in header
    assert all(len(line) == len(header) for line in table)
    assert [(line[0], line[2]) for line in table[1:]] == [
        (MARKET, "2026-11"), (TAX, "2026-11"), (MARKET, "2026-12"), (TAX, "2026-12")]  # fmt: skip
    market = dict(zip(header, table[1], strict=True))
    assert market["受理件数 (accepted)"] == "4"
    assert market["按时办结率% (on-time rate %)"] == "50.0"
    assert market["空岗分钟 (vacancy minutes)"] == "45.0"
    assert market["得分 (score)"] == "66.75"
    tax = dict(zip(header, table[2], strict=True))
    assert tax["空岗分钟 (vacancy minutes)"] == "" and tax["按时办结率% (on-time rate %)"] == ""

    (entry,) = [e for e in store.audit_entries() if e["action"] == "scores_exported"]
    assert (entry["username"], entry["target"]) == ("insp", "scores.csv")
    assert entry["details"] == {"by": "department", "period": "month", "since": "2026-11-01",
                                "until": "2026-12-31", "rows": 4}  # fmt: skip


def test_the_json_route_is_not_audited(client: TestClient, store: Store) -> None:
    assert client.get(f"/api/scores?{NOV_DEC}").status_code == 200
    assert [e for e in store.audit_entries() if e["action"] == "scores_exported"] == []


def test_the_window_csv_header_and_an_empty_range(client: TestClient) -> None:
    response = client.get("/api/scores.csv?by=window&from=2026-10-01&to=2026-10-31")
    assert response.status_code == 200
    table = read_csv(response.content)
    assert len(table) == 1 and table[0][0] == "窗口 (window)"


def test_text_cells_never_become_excel_formulas() -> None:
    day = dt.date(2026, 11, 1)
    period = Period("2026-11", day, day, 0.0, 86_400.0)
    row = ScoreRow('=HYPERLINK("x")', "@SUM(A1)", period, Figures(), {}, 0.0, 100.0)
    (line,) = list(csv.reader(io.StringIO(scores.scores_csv_text("department", [row]))))[1:]
    assert line[:3] == ['\'=HYPERLINK("x")', "'@SUM(A1)", "2026-11"]
