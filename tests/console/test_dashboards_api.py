"""GET /api/dashboard: figures checked against the statistics rows and cases put in, scopes
(hall, department), ranges, field-level 422s and roles.

The range is Monday 2026-11-16 .. Friday 2026-11-20 (Asia/Shanghai). Site: hall H1 with cam01
(window W01 of 市场监管局, and the hall queue Q1) and cam02 (W02 of 税务局); hall H2 with cam03
(W03 of 市场监管局).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cases.ledger import CaseLedger
from cases.store import Sources, open_case_db
from cases.workdays import work_calendar
from console.app import CaseSetup, create_app
from console.auth import Role, ensure_user
from console.dashboards import local_days, scope_of, slot_label, wait_bucket_sql
from hallwatch.config import Schedule, Site
from hallwatch.config_cases import CasesSettings
from hallwatch.statistics import QueueMinute, QueueWait, Statistics
from hallwatch.store import Store
from tests.cases.test_ledger import SH, accepted, at, completed
from tests.console.test_api import FixedLive
from tests.support.console_client import log_in

ZONE = [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]
MARKET, TAX, LAND = "市场监管局", "税务局", "自然资源局"
RANGE = {"from": "2026-11-16", "to": "2026-11-20"}

SITE = Site.model_validate(
    {
        "name": "测试中心",
        "halls": [{"id": "H1", "name": "一楼大厅"}, {"id": "H2", "name": "二楼大厅"}],
        "cameras": [
            {"id": "cam01", "name": "一号", "hall": "H1", "url": "rtsp://192.0.2.1/s"},
            {"id": "cam02", "name": "二号", "hall": "H1", "url": "rtsp://192.0.2.2/s"},
            {"id": "cam03", "name": "三号", "hall": "H2", "url": "rtsp://192.0.2.3/s"},
        ],
        "windows": [
            {"id": "W01", "name": "1号窗口", "department": MARKET, "camera": "cam01",
             "staff_zone": ZONE},
            {"id": "W02", "name": "2号窗口", "department": TAX, "camera": "cam02",
             "staff_zone": ZONE},
            {"id": "W03", "name": "3号窗口", "department": MARKET, "camera": "cam03",
             "staff_zone": ZONE},
        ],
        "queues": [{"id": "Q1", "name": "取号区", "camera": "cam01", "zone": ZONE}],
    }
)  # fmt: skip


def ts(day: int, hour: int, minute: int = 0) -> float:
    return at(day, hour, minute).timestamp()


def add_window_minutes(store: Store) -> None:
    rows = [
        ("W01", ts(16, 10, 0), {"vacant": 60.0}),
        ("W01", ts(16, 10, 1), {"vacant": 60.0}),
        ("W01", ts(16, 10, 2), {"staffed": 30.0, "vacant": 30.0}),
        ("W01", ts(17, 9, 0), {"vacant": 60.0}),
        ("W01", ts(17, 20, 0), {"off_duty": 60.0}),  # not watched in service hours
        ("W02", ts(16, 11, 0), {"vacant": 60.0}),
        ("W02", ts(16, 11, 1), {"serving": 60.0}),
        *[("W03", ts(16, 14, m), {"vacant": 60.0}) for m in range(5)],
        ("W01", ts(15, 23, 59), {"vacant": 60.0}),  # the Sunday before the range
        ("W01", ts(21, 0, 0), {"vacant": 60.0}),  # the Saturday after it
    ]
    with store.transaction() as conn:
        conn.executemany(
            "INSERT INTO window_minutes (window, minute, state, seconds) VALUES (?, ?, ?, ?)",
            [(w, m, max(s, key=lambda k: s[k]), json.dumps(s)) for w, m, s in rows],
        )


def add_queues(statistics: Statistics) -> None:
    statistics.add_queue_minutes([
        QueueMinute("W01", ts(16, 10, 0), 2.0, 3.0, 60.0),
        QueueMinute("W01", ts(16, 10, 1), 4.0, 6.0, 30.0),
        QueueMinute("W01", ts(17, 10, 14), 5.0, 5.0, 60.0),
        QueueMinute("Q1", ts(16, 10, 5), 1.0, 1.0, 60.0),
        QueueMinute("Q1", ts(16, 10, 15), 3.0, 4.0, 60.0),
        QueueMinute("W03", ts(18, 10, 0), 9.0, 9.0, 0.0),  # covers nothing
        QueueMinute("W01", ts(21, 10, 0), 7.0, 7.0, 60.0),  # after the range
    ])  # fmt: skip
    statistics.add_waits([
        QueueWait("W01", 1, ts(16, 10), ts(16, 10) + 30, 30.0),
        QueueWait("W01", 2, ts(16, 10), ts(16, 10) + 90, 90.0),
        QueueWait("W01", 3, ts(17, 9), ts(17, 9) + 2000, 2000.0),
        QueueWait("Q1", 4, ts(18, 9), ts(18, 9) + 200, 200.0),
        QueueWait("W02", 5, ts(20, 9), ts(20, 9) + 60, 60.0),  # exactly on an edge
        QueueWait("W01", 6, ts(21, 9), ts(21, 9) + 10, 10.0),  # after the range
    ])  # fmt: skip


def add_cases(ledger: CaseLedger) -> None:
    """All judged Friday 20 12:00 (2 working days promised), then re-judged Monday 23 09:00."""
    ledger.ingest("sys", [
        accepted("A1", at(16, 10)), completed("A1", at(17, 10)),  # on time
        accepted("A2", at(16, 10), window_id="W03"), completed("A2", at(20, 10)),  # late
        accepted("B1", at(16, 10), department=TAX, window_id="W02"),  # open, overdue: yellow
        accepted("B2", at(20, 10), department=TAX, window_id="W02",
                 promised={"amount": 5, "unit": "working_days"}),  # open, on track
        accepted("C1", at(16, 10), department=LAND, window_id=None),  # online
        completed("C1", at(18, 10)),
    ], now=at(20, 12))  # fmt: skip
    ledger.reevaluate_due(at(23, 9))  # B1 turns red on Monday, after the range


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "hw.db")
    add_window_minutes(store)
    add_queues(Statistics(store))
    yield store
    store.close()


@pytest.fixture
def app(db_url: str, store: Store) -> Iterator[FastAPI]:
    db = open_case_db(db_url)
    Sources(db).add("sys")
    ledger = CaseLedger(db, work_calendar(Schedule()), CasesSettings())
    add_cases(ledger)
    yield create_app(SITE, store, FixedLive(), cases=CaseSetup(ledger, Sources(db)))
    db.close()


def client_as(app: FastAPI, store: Store, role: Role) -> TestClient:
    client = TestClient(app)
    response = log_in(client, role.value, ensure_user(store, role.value, role))
    assert response.status_code == 200, response.text
    return client


@pytest.fixture
def inspector(app: FastAPI, store: Store) -> TestClient:
    return client_as(app, store, Role.INSPECTOR)


def board(client: TestClient, **query: Any) -> dict[str, Any]:
    response = client.get("/api/dashboard", params={**RANGE, **query})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


# --- vacancy --------------------------------------------------------------------------------


def test_vacancy_minutes_per_window_and_day(inspector: TestClient) -> None:
    answer = board(inspector)
    assert (answer["from"], answer["to"], answer["timezone"]) == ("2026-11-16", "2026-11-20",
                                                                  "Asia/Shanghai")  # fmt: skip
    assert [(v["window"], v["department"], v["vacancy_minutes"], v["watched_minutes"])
            for v in answer["vacancy"]] == [
        ("W01", MARKET, 3.5, 4), ("W02", TAX, 1.0, 2), ("W03", MARKET, 5.0, 5),
    ]  # fmt: skip
    assert answer["vacancy_by_day"] == [
        {"date": "2026-11-16", "vacancy_minutes": 8.5},
        {"date": "2026-11-17", "vacancy_minutes": 1.0},
        {"date": "2026-11-18", "vacancy_minutes": 0.0},
        {"date": "2026-11-19", "vacancy_minutes": 0.0},
        {"date": "2026-11-20", "vacancy_minutes": 0.0},
    ]


def test_a_hall_or_a_department_narrows_the_windows(inspector: TestClient) -> None:
    hall = board(inspector, hall="H1")
    assert [v["window"] for v in hall["vacancy"]] == ["W01", "W02"]
    assert [d["vacancy_minutes"] for d in hall["vacancy_by_day"]][:2] == [3.5, 1.0]
    market = board(inspector, department=MARKET)
    assert [v["window"] for v in market["vacancy"]] == ["W01", "W03"]
    both = board(inspector, hall="H2", department=TAX)
    assert both["vacancy"] == [] and both["queue"]["queues"] == []


# --- queue length over the day --------------------------------------------------------------


def test_queue_length_per_quarter_hour(inspector: TestClient) -> None:
    queue = board(inspector)["queue"]
    assert queue["slot_s"] == 900 and len(queue["slots"]) == 96
    assert queue["queues"] == ["W01", "W02", "W03", "Q1"]
    filled = {s["start"]: (s["mean"], s["maximum"]) for s in queue["slots"] if s["mean"] is not None}
    # 10:00-10:15: W01 covered-weighted over both days (2×60 + 4×30 + 5×60) / 150 = 3.6, plus Q1's 1
    assert filled == {"10:00": (4.6, 6.0), "10:15": (3.0, 4.0)}
    assert queue["slots"][40]["slot"] == 40 and queue["slots"][40]["start"] == "10:00"


def test_a_department_has_only_its_windows_queues(inspector: TestClient) -> None:
    queue = board(inspector, department=MARKET)["queue"]
    assert queue["queues"] == ["W01", "W03"]
    filled = {s["start"]: (s["mean"], s["maximum"]) for s in queue["slots"] if s["mean"] is not None}
    assert filled == {"10:00": (3.6, 6.0)}


def test_one_day_counts_only_that_day(inspector: TestClient) -> None:
    answer = board(inspector, **{"from": "2026-11-17", "to": "2026-11-17"})
    assert answer["queue"]["slots"][40]["mean"] == 5.0
    assert [v["vacancy_minutes"] for v in answer["vacancy"]] == [1.0, 0.0, 0.0]
    assert answer["vacancy_by_day"] == [{"date": "2026-11-17", "vacancy_minutes": 1.0}]


# --- waiting-time distribution --------------------------------------------------------------


def test_wait_histogram(inspector: TestClient) -> None:
    waits = board(inspector)["waits"]
    assert waits["edges"] == [60, 180, 300, 600, 900, 1800]
    assert [(b["from"], b["to"], b["count"]) for b in waits["buckets"]] == [
        (0, 60, 1), (60, 180, 2), (180, 300, 1), (300, 600, 0), (600, 900, 0),
        (900, 1800, 0), (1800, None, 1),
    ]  # fmt: skip
    assert waits["count"] == 5
    assert waits["mean_s"] == round((30 + 90 + 2000 + 200 + 60) / 5, 1)
    assert waits["max_s"] == 2000.0
    hall_two = board(inspector, hall="H2")["waits"]
    assert hall_two["count"] == 0 and hall_two["mean_s"] is None and hall_two["max_s"] is None


# --- cases and cards ------------------------------------------------------------------------


def test_cases_on_time_and_overdue_per_department(inspector: TestClient) -> None:
    cases = board(inspector)["cases"]
    assert cases["by_department"] == [
        {"department": MARKET, "on_time": 1, "late": 1, "open_on_track": 0, "open_overdue": 0},
        {"department": TAX, "on_time": 0, "late": 0, "open_on_track": 1, "open_overdue": 1},
        {"department": LAND, "on_time": 1, "late": 0, "open_on_track": 0, "open_overdue": 0},
    ]  # in code point order, the same on every database
    assert cases["total"] == {"on_time": 2, "late": 1, "open_on_track": 1, "open_overdue": 1}
    hall = board(inspector, hall="H1")["cases"]["total"]  # A1, B1, B2: A2 was at W03, C1 online
    assert hall == {"on_time": 1, "late": 0, "open_on_track": 1, "open_overdue": 1}
    monday = board(inspector, **{"from": "2026-11-16", "to": "2026-11-16"})["cases"]["total"]
    assert monday == {"on_time": 0, "late": 0, "open_on_track": 0, "open_overdue": 1}  # not B2
    assert board(inspector, **{"from": "2026-01-05", "to": "2026-01-05"})["cases"]["total"] == {
        "on_time": 0, "late": 0, "open_on_track": 0, "open_overdue": 0}


def test_cards_raised_by_level(inspector: TestClient) -> None:
    cards = board(inspector)["cards"]
    assert cards["total"] == {"warning": 0, "yellow": 2, "red": 0}
    assert cards["by_department"] == [
        {"department": MARKET, "warning": 0, "yellow": 1, "red": 0},
        {"department": TAX, "warning": 0, "yellow": 1, "red": 0},
    ]
    week = board(inspector, **{"from": "2026-11-16", "to": "2026-11-23"})["cards"]["total"]
    assert week == {"warning": 0, "yellow": 2, "red": 1}  # B1's escalation on Monday


def test_without_a_case_store_cases_and_cards_are_null(store: Store) -> None:
    client = client_as(create_app(SITE, store, FixedLive()), store, Role.OPERATOR)
    answer = board(client)
    assert answer["cases"] is None and answer["cards"] is None
    assert answer["departments"] == [MARKET, TAX]


def test_the_answer_lists_halls_and_departments(inspector: TestClient) -> None:
    answer = board(inspector)
    assert answer["halls"] == [{"id": "H1", "name": "一楼大厅"}, {"id": "H2", "name": "二楼大厅"}]
    assert answer["departments"] == sorted([MARKET, TAX, LAND])
    assert board(inspector, department=LAND)["cases"]["total"]["on_time"] == 1


# --- ranges, 422s, roles --------------------------------------------------------------------


def test_days_end_today_in_the_site_zone(inspector: TestClient) -> None:
    today = dt.datetime.now(SH).date()
    response = inspector.get("/api/dashboard", params={"days": 7})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["to"] == today.isoformat()
    assert answer["from"] == (today - dt.timedelta(days=6)).isoformat()
    assert len(answer["vacancy_by_day"]) == 7
    default = inspector.get("/api/dashboard").json()
    assert default["from"] == default["to"] == today.isoformat()


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ({"hall": "H9"}, ["hall"]),
        ({"department": "不存在的局"}, ["department"]),
        ({"from": "2026-11-20", "to": "2026-11-16"}, ["to"]),
        ({"from": "2026-01-01", "to": "2026-04-03"}, ["to"]),  # 92 days + 1
        ({"from": "2026-11-16"}, ["to"]),
        ({"to": "2026-11-16"}, ["from"]),
        ({"from": "1999-12-31", "to": "2000-01-01"}, ["from"]),
        ({"from": "2026-13-01", "to": "2026-11-16"}, ["from"]),
        ({"days": 0}, ["days"]),
        ({"days": 93}, ["days"]),
        ({"hall": ""}, ["hall"]),
        ({"hall": "H9", "department": "不存在的局", "from": "2026-11-20", "to": "2026-11-16"},
         ["to", "hall", "department"]),
    ],
)
def test_bad_queries_are_422_naming_the_field(
    inspector: TestClient, query: dict[str, Any], fields: list[str]
) -> None:
    response = inspector.get("/api/dashboard", params=query)
    assert response.status_code == 422, response.text
    assert [item["loc"] for item in response.json()["detail"]] == [["query", f] for f in fields]


def test_92_days_are_allowed(inspector: TestClient) -> None:
    answer = board(inspector, **{"from": "2026-01-01", "to": "2026-04-02"})
    assert len(answer["vacancy_by_day"]) == 92


def test_every_role_may_read_the_dashboard_but_only_when_logged_in(
    app: FastAPI, store: Store
) -> None:
    assert TestClient(app).get("/api/dashboard").status_code == 401
    for role in Role:
        assert client_as(app, store, role).get("/api/dashboard").status_code == 200, role


def test_a_user_limited_to_a_hall_sees_only_that_hall(app: FastAPI, store: Store) -> None:
    client = client_as(app, store, Role.OPERATOR)
    store.update_user("operator", halls=["H2"])
    assert client.get("/api/dashboard", params={**RANGE, "hall": "H1"}).status_code == 403
    own = board(client)
    assert [v["window"] for v in own["vacancy"]] == ["W03"]
    assert own["cases"]["total"] == {"on_time": 0, "late": 1, "open_on_track": 0,
                                     "open_overdue": 0}  # fmt: skip
    assert [v["window"] for v in board(client, hall="H2")["vacancy"]] == ["W03"]


# --- pure parts -----------------------------------------------------------------------------


def test_local_days_follow_the_sites_midnights() -> None:
    days = local_days(SH, dt.date(2026, 11, 16), dt.date(2026, 11, 17))
    assert days == [
        (dt.date(2026, 11, 16), ts(16, 0), ts(17, 0)),
        (dt.date(2026, 11, 17), ts(17, 0), ts(18, 0)),
    ]
    berlin = local_days(ZoneInfo("Europe/Berlin"), dt.date(2026, 10, 25), dt.date(2026, 10, 25))
    assert berlin[0][2] - berlin[0][1] == 25 * 3600  # the end of summer time


@pytest.mark.parametrize(
    ("slot", "label"), [(0, "00:00"), (1, "00:15"), (40, "10:00"), (95, "23:45")]
)
def test_slot_labels(slot: int, label: str) -> None:
    assert slot_label(slot) == label


def test_wait_buckets_in_sql(store: Store) -> None:
    sql = wait_bucket_sql([60, 180])
    got = [store.query(f"SELECT {sql} AS b FROM (SELECT ? AS wait_s)", (w,))[0]["b"]
           for w in (0, 59.9, 60, 179, 180, 10_000)]  # fmt: skip
    assert got == [0, 0, 1, 1, 2, 2]


@pytest.mark.parametrize(
    ("hall", "department", "windows", "queues"),
    [
        (None, None, ["W01", "W02", "W03"], ["W01", "W02", "W03", "Q1"]),
        ("H1", None, ["W01", "W02"], ["W01", "W02", "Q1"]),
        ("H2", None, ["W03"], ["W03"]),
        (None, MARKET, ["W01", "W03"], ["W01", "W03"]),
        ("H1", TAX, ["W02"], ["W02"]),
    ],
)
def test_scope(
    hall: str | None, department: str | None, windows: list[str], queues: list[str]
) -> None:
    scope = scope_of(SITE, None if hall is None else frozenset([hall]), department)
    assert [w.id for w in scope.windows] == windows and list(scope.queues) == queues
