"""The demo's synthetic approval cases: deterministic, valid, the planned mix of cards after a
real ledger has ingested them, acceptances only on legal working days in office hours, and the
cards in the console of `hallwatch demo`.

Two sites: the demo's own (legal working days Monday to Friday without statutory data, as its
config says) and the same site on the statutory calendar with office hours 09:00–12:00,
13:30–17:30. Times: Wednesday 2026-11-18 10:30 (an ordinary week) and Tuesday 2026-10-20 08:00
(before office hours; the six weeks before it hold Mid-Autumn, National Day and the 调休
Sunday 2026-09-20 and Saturday 2026-10-10).
"""

from __future__ import annotations

import collections
import datetime as dt
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from cases.demo import (
    CATALOGUE,
    DEMO_SOURCE,
    HISTORY_DAYS,
    Kind,
    demo_cases,
    demo_events,
    feed_demo,
    mix,
)
from cases.intake import (
    Accepted,
    EventBatch,
    StepEvent,
    Suspended,
    SuspensionKind,
    Withdrawn,
    parse_event,
)
from cases.ledger import CaseLedger
from cases.store import Sources, open_case_db
from cases.workdays import work_calendar
from hallwatch.calendar import in_service, is_service_day
from hallwatch.config import Schedule, Site, load_site
from hallwatch.database import Database
from tests.support.console_client import log_in
from tests.support.demo import demo
from tests.support.wait import wait_until

SH = ZoneInfo("Asia/Shanghai")
DEMO_CONFIG = Path(str(resources.files("hallwatch") / "demo" / "demo.yaml"))
NOW = dt.datetime(2026, 11, 18, 10, 30, tzinfo=SH)
AFTER_HOLIDAYS = dt.datetime(2026, 10, 20, 8, 0, tzinfo=SH)


@pytest.fixture(scope="module")
def demo_site() -> Site:
    return load_site(DEMO_CONFIG)


@pytest.fixture(scope="module")
def statutory_site(demo_site: Site) -> Site:
    return demo_site.model_copy(update={"schedule": Schedule()})


def test_the_same_seed_gives_the_same_events(demo_site: Site) -> None:
    first = demo_events(demo_site, NOW, seed=7)
    again = demo_events(demo_site, NOW, seed=7)
    other = demo_events(demo_site, NOW, seed=8)
    assert [e.model_dump(mode="json") for e in first] == [e.model_dump(mode="json") for e in again]
    assert [e.model_dump(mode="json") for e in first] != [e.model_dump(mode="json") for e in other]


@pytest.mark.parametrize("now", [NOW, AFTER_HOLIDAYS])
def test_every_event_validates_has_its_own_id_and_lies_before_now(
    demo_site: Site, now: dt.datetime
) -> None:
    events = demo_events(demo_site, now)
    for event in events:
        assert parse_event(event.model_dump(mode="json")) == event
        assert event.at < now
    ids = [event.event_id for event in events]
    assert len(ids) == len(set(ids))
    for start in range(0, len(events), 1000):  # valid as intake batches too
        EventBatch(events=events[start : start + 1000])
    accepted = [e for e in events if isinstance(e, Accepted)]
    assert len(accepted) == len({e.case_id for e in events}) == 120
    oldest = min(e.at.astimezone(SH).date() for e in accepted)
    assert (now.date() - oldest).days <= HISTORY_DAYS


def test_items_limits_windows_and_handlers_are_realistic(demo_site: Site) -> None:
    events = demo_events(demo_site, NOW)
    departments = {w.id: w.department for w in demo_site.windows}
    accepted = [e for e in events if isinstance(e, Accepted)]
    for event in accepted:
        assert event.promised is not None and event.legal is not None
        assert event.promised.unit == event.legal.unit == "working_days"
        assert 5 <= event.promised.amount <= 20
        assert event.legal.amount >= event.promised.amount
        if event.window_id is not None:
            assert departments[event.window_id] == event.department
    at_windows = [e for e in accepted if e.window_id is not None]
    assert {e.window_id for e in at_windows} == {"W01", "W02"}
    assert len(at_windows) < len(accepted)  # some accepted online (网上受理)
    assert {e.department for e in accepted} - set(departments.values())  # back-office items
    steps = [e for e in events if isinstance(e, StepEvent)]
    assert {e.step for e in steps} == {"承办", "审核", "批准"}
    assert all(e.handler_id for e in steps)
    assert {e.window_id for e in steps} == {"W01", "W02", None}
    kinds = {e.kind for e in events if isinstance(e, Suspended)}
    assert kinds == {SuspensionKind.CORRECTION, SuspensionKind.EXPERT_REVIEW}
    assert sum(isinstance(e, Withdrawn) for e in events) == 1


def test_the_demo_config_knows_every_item_with_the_same_limits(demo_site: Site) -> None:
    items = demo_site.cases.items
    assert set(items) == {item.code for item in CATALOGUE}
    for item in CATALOGUE:
        config = items[item.code]
        assert config.name == item.name
        assert config.promised is not None and config.promised.amount == item.promised
        assert config.legal is not None and config.legal.amount == item.legal
        assert 5 <= item.promised <= 20 and item.legal >= item.promised
        assert set(config.step_limits) == {"承办", "审核", "批准"}


@pytest.mark.parametrize("now", [NOW, AFTER_HOLIDAYS, dt.datetime(2026, 2, 24, 15, 0, tzinfo=SH)])
def test_no_case_is_accepted_on_a_non_working_day_or_outside_office_hours(
    statutory_site: Site, now: dt.datetime
) -> None:
    schedule = statutory_site.schedule
    calendar = work_calendar(schedule)
    events = demo_events(statutory_site, now)
    accepted = [e for e in events if isinstance(e, Accepted)]
    for event in accepted:
        day = event.at.astimezone(SH).date()
        assert is_service_day(calendar.schedule, day), event
        assert in_service(calendar.schedule, event.at), event
    days = {e.at.astimezone(SH).date() for e in accepted}
    if now == AFTER_HOLIDAYS:  # the history crosses the holidays and their make-up days
        assert not days & {dt.date(2026, 9, 25), *(dt.date(2026, 10, d) for d in range(1, 8))}
        assert min(days) < dt.date(2026, 9, 25)
    # every handled moment is on a working day too
    assert all(is_service_day(calendar.schedule, e.at.astimezone(SH).date()) for e in events)


def test_the_mix_scales_with_the_number_of_cases() -> None:
    counts = mix(120)
    assert sum(counts.values()) == 120 and counts[Kind.EARLY] == 66
    small = mix(30)
    assert sum(small.values()) == 30 and min(small.values()) >= 1
    with pytest.raises(ValueError):
        mix(5)
    generated = demo_cases(load_site(DEMO_CONFIG), NOW, cases=40)
    assert collections.Counter(kind for _, kind, _ in generated) == mix(40)


# --- through the ledger ------------------------------------------------------------------------


def _ledger(db_url: str, site: Site) -> tuple[Database, CaseLedger, Sources]:
    db = open_case_db(db_url)
    return db, CaseLedger(db, work_calendar(site.schedule), site.cases), Sources(db)


def _counts(db: Database, where: str) -> int:
    return int(db.query(f"SELECT COUNT(*) AS n FROM cases WHERE {where}")[0]["n"])


@pytest.mark.parametrize(
    ("site_name", "now"),
    [("demo", NOW), ("statutory", AFTER_HOLIDAYS)],
)
def test_the_ledger_sees_the_planned_mix_of_cards(
    db_url: str, site_name: str, now: dt.datetime, request: pytest.FixtureRequest
) -> None:
    site: Site = request.getfixturevalue(f"{site_name}_site")
    db, ledger, sources = _ledger(db_url, site)
    stored = feed_demo(ledger, sources, site, now)
    assert stored == len(demo_events(site, now))
    assert sources.names() == [DEMO_SOURCE]
    assert _counts(db, "1 = 1") == 120
    open_cards = {
        level: _counts(db, f"status = 'open' AND card_level = '{level}'")
        for level in ("warning", "yellow", "red")
    }
    assert open_cards == {"warning": 4, "yellow": 3, "red": 2}
    assert _counts(db, "status = 'open' AND card_level IS NULL") == 23  # on track, suspended
    assert _counts(db, "status = 'open' AND suspended = 1") >= 3
    assert _counts(db, "status = 'completed' AND early = 1") >= 66
    assert _counts(db, "status = 'completed' AND on_time = 1 AND early = 0") >= 14
    assert _counts(db, "status = 'completed' AND on_time = 0") == 4  # 3 yellow, 1 red
    assert _counts(db, "status = 'withdrawn'") == 1
    (refused,) = db.query(
        "SELECT card_level, reasons FROM cases WHERE outcome = 'refused' AND card_level = 'red'"
    )
    assert "不予许可未说明理由" in refused["reasons"]
    cards = db.query("SELECT level, state FROM cards ORDER BY level, state")
    summary = collections.Counter((row["level"], row["state"]) for row in cards)
    assert summary == {
        ("warning", "open"): 4, ("yellow", "open"): 3, ("red", "open"): 2,
        ("yellow", "closed"): 3, ("red", "closed"): 2,
    }  # fmt: skip
    # a second start leaves the demo's history as it is (no conflict, no new cases)
    assert feed_demo(ledger, sources, site, now + dt.timedelta(days=1)) == 0
    assert _counts(db, "1 = 1") == 120


# --- the demo console --------------------------------------------------------------------------


def _case_events(http: httpx.Client) -> list[dict[str, Any]]:
    items = http.get("/api/events", params={"limit": 500}).json()["items"]
    return [event for event in items if str(event["type"]).startswith("case_")]


@pytest.mark.slow
def test_hallwatch_demo_shows_case_cards(tmp_path: Path) -> None:
    with (
        demo(tmp_path / "data", tmp_path / "demo.log") as (base, password),
        httpx.Client(base_url=base, timeout=10) as http,
    ):
        assert log_in(http, "admin", password).is_success
        cards = wait_until(lambda: _case_events(http), 30, "case cards in the event feed")
        types = {event["type"] for event in cards}
        assert {"case_warning", "case_yellow", "case_red"} <= types
        at_windows = [event for event in cards if event["window"] in {"W01", "W02"}]
        assert at_windows and all(e["camera"] in {"cam01", "cam02"} for e in at_windows)
        assert all(e["details"]["case_id"].startswith("DEMO-") for e in cards)
