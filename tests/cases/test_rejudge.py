"""Bulk re-judgement (cases.rejudge) against the reference path (each case folded from its
events and judged by cases.cards.evaluate): same case rows, same cards, same history, on
SQLite and PostgreSQL, for random cases with suspensions, limited steps, legal limits, natural
days and hours, across National Day 2026 and into 2027 (provisional)."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cases.intake import EventBase, parse_event
from cases.ledger import CaseLedger
from cases.store import Sources, open_case_db
from cases.ticker import CaseTicker
from cases.workdays import work_calendar
from hallwatch.config import Schedule
from hallwatch.config_cases import CasesSettings
from hallwatch.database import Database
from tests.support.case_mix import START, case_events

SH = ZoneInfo("Asia/Shanghai")


def parsed(events: list[dict[str, Any]]) -> list[EventBase]:
    return [parse_event(e) for e in events]


def snapshot(db: Database) -> dict[str, Any]:
    cases = db.query(
        "SELECT case_id, status, card_level, reasons, promised_deadline, legal_deadline,"
        " provisional, suspended, next_change_at, judged_digest FROM cases ORDER BY case_id"
    )
    cards = db.query("SELECT case_id, level, state, reasons FROM cards ORDER BY case_id")
    actions = db.query(
        "SELECT c.case_id, h.action, h.level, h.at FROM card_history h"
        " JOIN cards c ON c.id = h.card_id ORDER BY c.case_id, h.id"
    )
    return {"cases": cases, "cards": cards, "history": actions}


def ledger_on(url: str, settings: CasesSettings, *, bulk: bool) -> CaseLedger:
    db = open_case_db(url)
    if "sys" not in Sources(db).names():
        Sources(db).add("sys")
    return CaseLedger(db, work_calendar(Schedule()), settings, bulk=bulk)


def feed(ledgers: list[CaseLedger], rng: random.Random, count: int) -> None:
    events = [e for n in range(count) for e in case_events(rng, f"R{n:04d}")]
    for ledger in ledgers:
        for at in range(0, len(events), 200):
            ledger.ingest("sys", parsed(events[at : at + 200]), now=START)


def test_bulk_and_reference_agree_at_every_tick(db_url: str, tmp_path: Any) -> None:
    settings = CasesSettings()
    bulk = ledger_on(db_url, settings, bulk=True)
    reference = ledger_on(f"sqlite:///{tmp_path / 'reference.db'}", settings, bulk=False)
    feed([bulk, reference], random.Random(5), 300)
    assert snapshot(bulk.db) == snapshot(reference.db)
    judged = 0
    for hours in range(0, 24 * 140, 29):
        now = START + dt.timedelta(hours=hours)
        judged += bulk.reevaluate_due(now)
        reference.reevaluate_due(now)
        assert snapshot(bulk.db) == snapshot(reference.db), now
    assert judged > 300  # the ticks did judge (each case several times)
    levels = {row["card_level"] for row in snapshot(bulk.db)["cases"]}
    assert {"warning", "yellow", "red"} <= levels


def test_a_change_of_rules_rejudges_every_open_case(db_url: str, tmp_path: Any) -> None:
    before = CasesSettings()
    bulk = ledger_on(db_url, before, bulk=True)
    reference = ledger_on(f"sqlite:///{tmp_path / 'reference.db'}", before, bulk=False)
    feed([bulk, reference], random.Random(11), 150)
    now = START + dt.timedelta(days=70)
    bulk.reevaluate_due(now)
    reference.reevaluate_due(now)
    stricter = CasesSettings.model_validate(
        {"card_rules": {"warning_working_days": 5, "grace_working_days": 0}}
    )
    bulk = CaseLedger(bulk.db, bulk.calendar, stricter)
    reference = CaseLedger(reference.db, reference.calendar, stricter, bulk=False)
    assert bulk.reevaluate_due(now) == 0  # nothing is due: only a full re-judgement sees it
    open_count = len(bulk.db.query("SELECT case_id FROM cases WHERE status = 'open'"))
    assert bulk.rejudge_open(now) == reference.rejudge_open(now) == open_count
    after = snapshot(bulk.db)
    assert after == snapshot(reference.db)
    actions = [row["action"] for row in after["history"] if row["at"] == now.timestamp()]
    assert "escalate" in actions and "raise" in actions


def test_rows_stored_before_the_facts_are_folded(db_url: str, tmp_path: Any) -> None:
    bulk = ledger_on(db_url, CasesSettings(), bulk=True)
    reference = ledger_on(f"sqlite:///{tmp_path / 'reference.db'}", CasesSettings(), bulk=False)
    feed([bulk, reference], random.Random(3), 40)
    with bulk.db.transaction() as cursor:  # as written by a version without migration 4
        cursor.execute(
            "UPDATE cases SET promised_amount = NULL, pauses = NULL, steps = NULL,"
            " step_names = NULL"
        )
    now = START + dt.timedelta(days=60)
    assert bulk.rejudge_open(now) == reference.rejudge_open(now)
    assert snapshot(bulk.db) == snapshot(reference.db)
    assert not bulk.db.query("SELECT case_id FROM cases WHERE promised_amount IS NULL"
                             " AND status = 'open' AND accepted_at IS NOT NULL")  # fmt: skip


def test_a_zone_with_summer_time_is_judged_case_by_case(tmp_path: Any) -> None:
    berlin = Schedule(timezone="Europe/Berlin")
    db = open_case_db(f"sqlite:///{tmp_path / 'berlin.db'}")
    Sources(db).add("sys")
    ledger = CaseLedger(db, work_calendar(berlin), CasesSettings())
    events = case_events(random.Random(1), "B1")[:1]
    ledger.ingest("sys", parsed(events), now=START)
    assert ledger.rejudge_open(START + dt.timedelta(days=90)) == 1
    (row,) = db.query("SELECT card_level FROM cases")
    assert row["card_level"] in {"yellow", "red"}


@pytest.mark.parametrize("ticks", [1, 2])
def test_the_ticker_rejudges_everything_first_then_what_is_due(db_url: str, ticks: int) -> None:
    ledger = ledger_on(db_url, CasesSettings(), bulk=True)
    feed([ledger], random.Random(9), 30)
    open_count = len(ledger.db.query("SELECT case_id FROM cases WHERE status = 'open'"))
    ticker = CaseTicker(ledger, lambda: 0)
    now = START + dt.timedelta(days=2)
    counts = [ticker.tick(now)[0] for _ in range(ticks)]
    assert counts[0] == open_count
    assert counts[1:] in ([], [0])  # the same instant again: nothing is due
