"""Case supervision API on SQLite and PostgreSQL: cases and cards through the real ledger,
filters and ordering, the link from a case to its windows' cameras, card acknowledgement.

Dates as in tests/cases/test_ledger.py (the week of Monday 2026-11-16 has no holiday; 2 working
days promised; warning with 1 working day left; red after 2 working days of grace). The site
is judged at Monday 2026-11-23 09:00 (`NOW`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from cases.ledger import CaseLedger
from cases.store import Sources, open_case_db
from cases.workdays import work_calendar
from console import cases as case_routes
from console.app import CaseSetup, create_app
from console.auth import Role, ensure_user
from hallwatch.config import Schedule, Site
from hallwatch.config_cases import CasesSettings
from hallwatch.database import Database
from hallwatch.store import Store
from recordings.index import SegmentIndex
from tests.cases.test_ledger import accepted, at, completed, step
from tests.console.test_api import FixedLive
from tests.support.console_client import log_in

SH = ZoneInfo("Asia/Shanghai")
NOW = at(23, 9)
TAX = "税务局"
ZONE = [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]

SITE = Site.model_validate(
    {
        "name": "测试中心",
        "cameras": [
            {"id": "cam01", "name": "一号", "url": "rtsp://admin:TopSecret9@192.0.2.1/s"},
            {"id": "cam02", "name": "二号", "url": "rtsp://admin:TopSecret9@192.0.2.2/s"},
        ],
        "windows": [
            {"id": "W01", "name": "1号窗口", "department": "市场监管局", "camera": "cam01",
             "staff_zone": ZONE},
            {"id": "W02", "name": "2号窗口", "department": TAX, "camera": "cam02",
             "staff_zone": ZONE},
        ],
    }
)  # fmt: skip

# the whole list, most urgent first: open red, yellow (earlier deadline first), warning, open
# without a card by promised deadline (P1's is in 2027), then the finished cases
URGENT_ORDER = ["R1", "Y0", "Y1", "W1", "N0", "N1", "P1", "D1", "L1"]


def ts(when: dt.datetime) -> float:
    return when.timestamp()


def feed(ledger: CaseLedger) -> None:
    """The site's cases, through the real intake (idempotent, so events are built once)."""
    ledger.ingest("sys", [accepted("Y0", at(16, 10))], now=at(19, 9))  # yellow since Thursday
    december = dt.datetime(2026, 12, 28, 10, tzinfo=SH)  # deadline in 2027: no holidays known
    five = {"amount": 5, "unit": "working_days"}
    ledger.ingest("sys", [accepted("P1", december, promised=five)], now=december)
    ledger.ingest("sys", [
        accepted("R1", at(16, 10)),
        accepted("Y1", at(17, 10), department=TAX, window_id="W02", item_code="ITEM-2"),
        accepted("W1", at(19, 10)),
        accepted("N0", at(20, 10), promised={"amount": 3, "unit": "working_days"}),
        accepted("N1", at(20, 10), promised=five),
        step("N1", "审核", "start", at(20, 14), "W02"),
        step("N1", "审核", "end", at(20, 15), None),
        step("N1", "批准", "start", at(23, 8), "W09"),  # a window the site config lacks
        step("N1", "现场核查", "start", at(23, 8, 30), "W01"),
        accepted("D1", at(16, 10)), completed("D1", at(17, 10)),  # early
        accepted("L1", at(16, 10)), completed("L1", at(20, 10)),  # late: a closed yellow card
    ], now=NOW)  # fmt: skip


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = open_case_db(db_url)
    Sources(database).add("sys")
    yield database
    database.close()


@pytest.fixture
def ledger(db: Database) -> CaseLedger:
    ledger = CaseLedger(db, work_calendar(Schedule()), CasesSettings())
    feed(ledger)
    return ledger


@pytest.fixture
def store(db_url: str, tmp_path: Path) -> Iterator[Store]:
    # on SQLite the audit log shares the case database's file, as in a default install
    path = Path(db_url.removeprefix("sqlite:///")) if db_url.startswith("sqlite") else None
    store = Store(path or tmp_path / "hw.db")
    yield store
    store.close()


@pytest.fixture
def app(ledger: CaseLedger, store: Store, tmp_path: Path) -> FastAPI:
    setup = CaseSetup(ledger, Sources(ledger.db))
    index = SegmentIndex(store, tmp_path / "recordings")
    return create_app(SITE, store, FixedLive(), recording_index=index, cases=setup)


def user_client(app: FastAPI, store: Store, name: str, role: Role) -> TestClient:
    client = TestClient(app)
    password = ensure_user(store, name, role)
    response = log_in(client, name, password)
    assert response.status_code == 200, response.text
    return client


@pytest.fixture
def operator(app: FastAPI, store: Store) -> TestClient:
    return user_client(app, store, "op", Role.OPERATOR)


@pytest.fixture
def inspector(app: FastAPI, store: Store) -> TestClient:
    return user_client(app, store, "insp", Role.INSPECTOR)


def ids(response: Any, key: str = "case_id") -> list[str]:
    assert response.status_code == 200, response.text
    return [item[key] for item in response.json()["items"]]


def card_id(client: TestClient, case_id: str) -> int:
    card = client.get(f"/api/cases/{case_id}").json()["card"]
    return int(card["id"])


# --- secure by default ----------------------------------------------------------------------


def test_every_case_route_needs_login(app: FastAPI) -> None:
    client = TestClient(app)
    checked = 0
    for route in case_routes.router.routes:
        assert isinstance(route, APIRoute)
        path = route.path.replace("{case_id}", "R1").replace("{card_id}", "1")
        for method in route.methods:
            response = client.request(method, path)
            assert response.status_code == 401, (method, path, response.status_code)
            checked += 1
    assert checked == 4


def test_without_a_case_store_the_routes_say_so(tmp_path: Path) -> None:
    store = Store(tmp_path / "hw.db")
    client = user_client(create_app(SITE, store, FixedLive()), store, "insp", Role.INSPECTOR)
    for method, path in (("GET", "/api/cases"), ("GET", "/api/cases/R1"), ("GET", "/api/cards"),
                         ("POST", "/api/cards/1/acknowledge")):  # fmt: skip
        response = client.request(method, path)
        assert response.status_code == 503, (method, path)
        assert response.json()["detail"] == "case store not set up"
    store.close()


# --- GET /api/cases -------------------------------------------------------------------------


def test_cases_come_most_urgent_first_with_their_facts(operator: TestClient) -> None:
    response = operator.get("/api/cases")
    assert ids(response) == URGENT_ORDER
    assert response.json()["total"] == len(URGENT_ORDER)
    items = {item["case_id"]: item for item in response.json()["items"]}
    red = items["R1"]
    assert red == {
        "case_id": "R1", "item_code": "ITEM-1", "item_name": "食品经营许可",
        "department": "市场监管局", "window_id": "W01", "applicant_type": "organization",
        "accepted_at": ts(at(16, 10)), "status": "open", "completed_at": None, "outcome": None,
        "promised_deadline": ts(at(18, 17, 30)), "legal_deadline": None, "provisional": False,
        "suspended": False, "remaining_s": red["remaining_s"], "card_level": "red",
        "reasons": [{"code": "past_grace", "text": "超过督办宽限期", "level": "red"}],
        "on_time": None, "early": None, "evaluated_at": ts(NOW),
    }  # fmt: skip
    assert red["remaining_s"] < 0
    assert (items["D1"]["on_time"], items["D1"]["early"]) == (True, True)
    assert (items["L1"]["on_time"], items["L1"]["early"]) == (False, False)
    assert items["D1"]["outcome"] == "approved" and items["D1"]["completed_at"] == ts(at(17, 10))
    assert items["P1"]["provisional"] is True


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=open", ["R1", "Y0", "Y1", "W1", "N0", "N1", "P1"]),
        ("status=completed", ["D1", "L1"]),
        ("status=withdrawn", []),
        ("card=red", ["R1"]),
        ("card=yellow", ["Y0", "Y1", "L1"]),
        ("card=warning", ["W1"]),
        ("card=none", ["N0", "N1", "P1", "D1"]),
        (f"department={TAX}", ["Y1"]),
        ("window=W02", ["Y1"]),
        ("item=ITEM-2", ["Y1"]),
        ("provisional=true", ["P1"]),
        ("provisional=false&status=completed", ["D1", "L1"]),
        (f"from={ts(at(19, 0))}&to={ts(at(20, 10))}", ["W1", "N0", "N1"]),  # 'to' inclusive
        (f"from={ts(at(20, 10))}&to={ts(at(20, 10))}", ["N0", "N1"]),
        (f"to={ts(at(16, 10))}&card=yellow", ["Y0", "L1"]),
        ("card=yellow&status=open&window=W01", ["Y0"]),
    ],
)
def test_cases_filter(operator: TestClient, query: str, expected: list[str]) -> None:
    response = operator.get(f"/api/cases?{query}")
    assert ids(response) == expected
    assert response.json()["total"] == len(expected)


def test_cases_page_with_limit_and_offset(operator: TestClient) -> None:
    response = operator.get("/api/cases?limit=3&offset=2")
    assert ids(response) == URGENT_ORDER[2:5]
    assert response.json()["total"] == len(URGENT_ORDER)
    assert ids(operator.get("/api/cases?offset=50")) == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=closed", "status"),
        ("card=purple", "card"),
        ("provisional=maybe", "provisional"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("offset=-1", "offset"),
        ("from=-1", "from"),
        ("to=abc", "to"),
        ("department=", "department"),
        (f"window={'W' * 65}", "window"),
    ],
)
def test_bad_case_queries_are_422(operator: TestClient, query: str, field: str) -> None:
    response = operator.get(f"/api/cases?{query}")
    assert response.status_code == 422, response.text
    assert ["query", field] in [item["loc"] for item in response.json()["detail"]]


def test_to_before_from_is_422_with_the_field(operator: TestClient) -> None:
    response = operator.get(f"/api/cases?from={ts(at(20, 0))}&to={ts(at(19, 0))}")
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"loc": ["query", "to"], "msg": "'to' must not be before 'from'", "type": "value_error"}
    ]


# --- GET /api/cases/{case_id} ---------------------------------------------------------------


def test_a_case_links_each_place_to_its_camera(operator: TestClient) -> None:
    response = operator.get("/api/cases/N1")
    assert response.status_code == 200, response.text
    case = response.json()
    assert case["case_id"] == "N1" and case["card"] is None
    assert [(e["type"], e["at"]) for e in case["events"]] == [
        ("accepted", ts(at(20, 10))), ("step", ts(at(20, 14))), ("step", ts(at(20, 15))),
        ("step", ts(at(23, 8))), ("step", ts(at(23, 8, 30))),
    ]  # fmt: skip
    assert case["events"][1]["body"]["window_id"] == "W02"
    assert case["events"][1]["body"]["step"] == "审核"
    assert {e["source"] for e in case["events"]} == {"sys"}
    video = case["video"]
    assert [(v["what"], v["window_id"], v["window_name"], v["camera"]) for v in video] == [
        ("accepted", "W01", "1号窗口", "cam01"),
        ("审核", "W02", "2号窗口", "cam02"),
        ("批准", "W09", None, None),
        ("现场核查", "W01", "1号窗口", "cam01"),
    ]
    assert [(v["from"], v["to"]) for v in video] == [
        (ts(at(20, 10)), ts(at(20, 10))), (ts(at(20, 14)), ts(at(20, 15))),
        (ts(at(23, 8)), None), (ts(at(23, 8, 30)), None),
    ]  # fmt: skip
    assert [v["live"] for v in video] == [False, False, False, True]
    assert [v["note"] is None for v in video] == [True, True, False, True]
    assert "W09" in video[2]["note"] and video[2]["recording"] is None
    for place in (video[0], video[1], video[3]):
        url = urlsplit(place["recording"])
        query = {name: values[0] for name, values in parse_qs(url.query).items()}
        assert url.path == "/api/recordings" and query["camera"] == place["camera"]
        assert float(query["from"]) <= place["from"]
        assert float(query["to"]) >= (place["to"] or place["from"]) > float(query["from"])


def test_the_recording_link_opens_a_range_the_recordings_api_accepts(
    operator: TestClient,
) -> None:
    for place in operator.get("/api/cases/N1").json()["video"]:
        if place["recording"] is not None:
            response = operator.get(place["recording"])
            assert response.status_code == 200, response.text
            assert response.json()["camera"] == place["camera"]


def test_a_case_shows_its_card_with_history(operator: TestClient) -> None:
    case = operator.get("/api/cases/L1").json()
    card = case["card"]
    assert card == {
        "id": card["id"], "case_id": "L1", "level": "yellow", "state": "closed",
        "reasons": [{"code": "past_promised", "text": "超过承诺时限", "level": "yellow"}],
        "raised_at": ts(NOW), "escalated_at": None, "acknowledged_by": None,
        "acknowledged_at": None, "note": None, "closed_at": ts(NOW),
        "history": [
            {"at": ts(NOW), "action": "raise", "level": "yellow", "by_user": None, "note": None},
            {"at": ts(NOW), "action": "close", "level": "yellow", "by_user": None, "note": None},
        ],
    }  # fmt: skip
    assert [(e["type"], e["body"]["outcome"]) for e in case["events"][1:]] == [
        ("completed", "approved")
    ]


def test_an_unknown_case_is_404(operator: TestClient) -> None:
    assert operator.get("/api/cases/NOPE").status_code == 404
    assert operator.get(f"/api/cases/{'C' * 65}").status_code == 422


# --- GET /api/cards -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["R1", "Y0", "Y1", "W1", "L1"]),  # open first, most severe, oldest (Y0) first
        ("state=open", ["R1", "Y0", "Y1", "W1"]),
        ("state=closed", ["L1"]),
        ("level=yellow", ["Y0", "Y1", "L1"]),
        (f"department={TAX}", ["Y1"]),
        ("acknowledged=false", ["R1", "Y0", "Y1", "W1", "L1"]),
        ("acknowledged=true", []),
        ("limit=2&offset=1", ["Y0", "Y1"]),
    ],
)
def test_cards_filter_and_order(operator: TestClient, query: str, expected: list[str]) -> None:
    response = operator.get(f"/api/cards?{query}")
    assert ids(response) == expected
    total = response.json()["total"]
    assert total == (5 if query.startswith("limit") else len(expected))


def test_a_listed_card_carries_its_case(operator: TestClient) -> None:
    (card,) = operator.get(f"/api/cards?department={TAX}").json()["items"]
    assert (card["item_name"], card["department"], card["window_id"]) == ("食品经营许可", TAX,
                                                                          "W02")  # fmt: skip
    assert card["level"] == "yellow" and card["state"] == "open" and "history" not in card
    assert card["raised_at"] == ts(NOW)


@pytest.mark.parametrize(
    "query", ["state=half", "level=orange", "acknowledged=perhaps", "limit=501", "offset=-2"]
)
def test_bad_card_queries_are_422(operator: TestClient, query: str) -> None:
    response = operator.get(f"/api/cards?{query}")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", query.split("=")[0]]


# --- POST /api/cards/{card_id}/acknowledge --------------------------------------------------


def test_an_inspector_acknowledges_a_card(inspector: TestClient, store: Store) -> None:
    card = card_id(inspector, "Y1")
    response = inspector.post(f"/api/cards/{card}/acknowledge", json={"note": " 已约谈窗口 "})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["id"], answer["level"], answer["state"]) == (card, "yellow", "open")
    assert answer["acknowledged_by"] == "insp" and answer["note"] == "已约谈窗口"
    assert answer["acknowledged_at"] is not None
    last = answer["history"][-1]
    assert (last["action"], last["level"], last["by_user"], last["note"]) == (
        "acknowledge", "yellow", "insp", "已约谈窗口"
    )  # fmt: skip
    assert last["at"] == answer["acknowledged_at"]
    assert inspector.get("/api/cases/Y1").json()["card"] == answer
    assert ids(inspector.get("/api/cards?acknowledged=true")) == ["Y1"]
    entry = store.audit_entries()[0]
    assert (entry["username"], entry["action"], entry["target"]) == (
        "insp", "card_acknowledged", f"card/{card}"
    )  # fmt: skip
    assert entry["details"] == {"case": "Y1", "level": "yellow", "note": "已约谈窗口"}

    again = inspector.post(f"/api/cards/{card}/acknowledge", json={"note": "再次"})
    assert again.status_code == 409
    assert len(inspector.get("/api/cases/Y1").json()["card"]["history"]) == 2


def test_a_note_is_optional_below_red(inspector: TestClient) -> None:
    response = inspector.post(f"/api/cards/{card_id(inspector, 'W1')}/acknowledge")
    assert response.status_code == 200, response.text
    assert response.json()["note"] is None and response.json()["acknowledged_by"] == "insp"


def test_a_red_card_needs_a_note(inspector: TestClient, store: Store) -> None:
    card = card_id(inspector, "R1")
    for body in ({}, {"note": "   "}, None):
        response = inspector.post(f"/api/cards/{card}/acknowledge", json=body)
        assert response.status_code == 422, body
        assert ["body", "note"] in [item["loc"] for item in response.json()["detail"]]
    assert inspector.get("/api/cases/R1").json()["card"]["acknowledged_at"] is None
    assert all(e["action"] != "card_acknowledged" for e in store.audit_entries())
    response = inspector.post(f"/api/cards/{card}/acknowledge", json={"note": "已督办"})
    assert response.status_code == 200 and response.json()["level"] == "red"


@pytest.mark.parametrize(
    "body", [{"note": ""}, {"note": "字" * 501}, {"note": "ok", "level": "warning"}, {"note": 5}]
)
def test_bad_acknowledge_bodies_are_422(inspector: TestClient, body: Any) -> None:
    response = inspector.post(f"/api/cards/{card_id(inspector, 'Y1')}/acknowledge", json=body)
    assert response.status_code == 422
    assert inspector.get("/api/cases/Y1").json()["card"]["acknowledged_at"] is None


def test_a_500_character_note_is_kept(inspector: TestClient) -> None:
    note = "字" * 500
    response = inspector.post(f"/api/cards/{card_id(inspector, 'R1')}/acknowledge",
                              json={"note": note})  # fmt: skip
    assert response.status_code == 200 and response.json()["note"] == note


def test_an_operator_may_not_acknowledge(operator: TestClient, store: Store) -> None:
    card = card_id(operator, "Y1")
    response = operator.post(f"/api/cards/{card}/acknowledge", json={"note": "看过"})
    assert response.status_code == 403
    assert operator.get("/api/cases/Y1").json()["card"]["acknowledged_at"] is None
    assert all(e["action"] != "card_acknowledged" for e in store.audit_entries())


def test_an_admin_may_acknowledge(app: FastAPI, store: Store) -> None:
    admin = user_client(app, store, "boss", Role.ADMIN)
    response = admin.post(f"/api/cards/{card_id(admin, 'Y0')}/acknowledge")
    assert response.status_code == 200 and response.json()["acknowledged_by"] == "boss"


def test_a_closed_card_cannot_be_acknowledged(inspector: TestClient) -> None:
    response = inspector.post(f"/api/cards/{card_id(inspector, 'L1')}/acknowledge",
                              json={"note": "迟了"})  # fmt: skip
    assert response.status_code == 409
    assert len(inspector.get("/api/cases/L1").json()["card"]["history"]) == 2


def test_unknown_cards_are_404(inspector: TestClient) -> None:
    assert inspector.post("/api/cards/999999/acknowledge", json={"note": "x"}).status_code == 404
    for bad in ("0", "abc", str(2**63)):
        response = inspector.post(f"/api/cards/{bad}/acknowledge", json={"note": "x"})
        assert response.status_code == 422, bad


def test_an_escalation_clears_the_acknowledgement(
    inspector: TestClient, ledger: CaseLedger
) -> None:
    card = card_id(inspector, "W1")
    assert inspector.post(f"/api/cards/{card}/acknowledge").status_code == 200
    ledger.reevaluate_due(at(24, 9))  # W1 was due Monday 17:30: now yellow
    escalated = inspector.get("/api/cases/W1").json()["card"]
    assert escalated["level"] == "yellow" and escalated["acknowledged_at"] is None
    response = inspector.post(f"/api/cards/{card}/acknowledge", json={"note": "已催办"})
    assert response.status_code == 200, response.text
    history = [(h["action"], h["level"], h["by_user"]) for h in response.json()["history"]]
    assert history == [
        ("raise", "warning", None),
        ("acknowledge", "warning", "insp"),
        ("escalate", "yellow", None),
        ("acknowledge", "yellow", "insp"),
    ]
