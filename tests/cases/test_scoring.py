"""Scoring (绩效评估): the formula (tables), periods in the site's time zone, and the aggregation
of cases, cards and analyzer statistics per department and window on SQLite and PostgreSQL.

Cases go through the real CaseLedger with explicit `now`s, as in tests/cases/test_ledger.py
(2 working days promised; the week of Monday 2026-11-16 has no holiday; warning with 1 working
day left, yellow past the promise, red after 2 working days of grace). Statistics go through
hallwatch.statistics.Statistics into a real hallwatch store.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from cases.ledger import CaseLedger
from cases.scoring import (
    Figures,
    GroupBy,
    PeriodKind,
    ScoreQuery,
    ScoreRow,
    bonus,
    deductions,
    granule_s,
    months_between,
    periods,
    score,
    score_rows,
)
from cases.store import Sources, open_case_db
from cases.workdays import work_calendar
from hallwatch.config import Schedule, Site, load_site
from hallwatch.config_cases import CasesSettings, ScoringSettings
from hallwatch.database import Database
from hallwatch.statistics import QueueWait, Statistics, WindowMinute
from hallwatch.store import Store
from tests.cases.test_ledger import accepted, at, completed

SH = ZoneInfo("Asia/Shanghai")
REPO = Path(__file__).resolve().parents[2]
MARKET = "市场监管局"
TAX = "税务局"
ZONE = [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]

SITE = Site.model_validate(
    {
        "name": "测试中心",
        "cameras": [
            {"id": "cam01", "name": "一号", "url": "rtsp://192.0.2.1/s"},
            {"id": "cam02", "name": "二号", "url": "rtsp://192.0.2.2/s"},
        ],
        "windows": [
            {"id": "W01", "name": "1号窗口", "department": MARKET, "camera": "cam01",
             "staff_zone": ZONE},
            {"id": "W02", "name": "2号窗口", "department": TAX, "camera": "cam02",
             "staff_zone": ZONE},
            {"id": "W03", "name": "3号窗口", "department": MARKET, "camera": "cam01",
             "staff_zone": ZONE},
        ],
    }
)  # fmt: skip

DEFAULTS = ScoringSettings()


def december(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=SH)


# --- the formula ----------------------------------------------------------------------------

FORMULA = [
    # (description, figures, weights changed, score)
    ("nothing to blame", Figures(), {}, 100.0),
    ("cases without a completion cost nothing", Figures(accepted=7), {}, 100.0),
    ("a yellow card", Figures(yellow_cards=1), {}, 98.0),
    ("a card that went yellow then red costs both", Figures(yellow_cards=1, red_cards=1), {}, 93.0),
    ("warnings are free by default", Figures(warning_cards=3), {}, 100.0),
    ("unless weighted", Figures(warning_cards=3), {"per_warning_card": 1}, 97.0),
    ("90 % on time", Figures(completed=10, on_time=9), {}, 95.0),
    ("80 % on time, 40 % early", Figures(completed=10, on_time=8, early=4), {}, 92.0),
    ("two thirds on time", Figures(completed=3, on_time=2), {}, 83.33),
    ("all early: the bonus cannot pass 100", Figures(completed=4, on_time=4, early=4), {}, 100.0),
    ("the bonus offsets deductions", Figures(completed=4, on_time=4, early=4, yellow_cards=3), {},
     100.0 - 6 + 5),
    ("90 vacancy minutes", Figures(vacancy_minutes=90.0), {}, 98.5),
    ("not watched", Figures(vacancy_minutes=None), {}, 100.0),
    ("mean wait 20 minutes: 5 above the target", Figures(waits=4, wait_mean_s=1200.0), {}, 97.5),
    ("mean wait under the target", Figures(waits=4, wait_mean_s=600.0, wait_max_s=3000.0), {},
     100.0),
    ("a target of 0", Figures(waits=1, wait_mean_s=120.0), {"wait_target_minutes": 0}, 99.0),
    ("never below 0", Figures(red_cards=30), {}, 0.0),
    ("all weights 0", Figures(completed=2, red_cards=9, vacancy_minutes=600.0, waits=1,
                              wait_mean_s=9000.0),
     {name: 0 for name in ScoringSettings.model_fields}, 100.0),
    ("everything at once",
     Figures(accepted=20, completed=10, on_time=8, early=2, warning_cards=4, yellow_cards=2,
             red_cards=1, vacancy_minutes=30.0, waits=10, wait_mean_s=1500.0, wait_max_s=2400.0),
     {"per_warning_card": 0.5},
     # 100 − 2 − 4 − 5 − 10 (on time) − 0.5 (vacancy) − 5 (10 minutes over) + 1 (20 % early)
     74.5),
]  # fmt: skip


@pytest.mark.parametrize(
    ("figures", "changes", "expected"), [c[1:] for c in FORMULA], ids=[c[0] for c in FORMULA]
)
def test_score(figures: Figures, changes: dict[str, float], expected: float) -> None:
    weights = ScoringSettings.model_validate(changes)
    assert score(figures, weights) == pytest.approx(expected)


def test_the_deductions_name_each_figure() -> None:
    figures = Figures(completed=4, on_time=3, early=1, yellow_cards=1, vacancy_minutes=120.0,
                      waits=2, wait_mean_s=1080.0)  # fmt: skip
    assert deductions(figures, DEFAULTS) == {
        "warning_cards": 0.0,
        "yellow_cards": 2.0,
        "red_cards": 0.0,
        "on_time": 12.5,
        "vacancy": 2.0,
        "waits": pytest.approx(1.5),
    }
    assert bonus(figures, DEFAULTS) == pytest.approx(1.25)
    assert score(figures, DEFAULTS) == pytest.approx(100 - 18 + 1.25)


def test_rates_are_percent_of_completed_cases() -> None:
    assert Figures(completed=8, on_time=6, early=2).on_time_rate == 75.0
    assert Figures(completed=8, on_time=6, early=2).early_rate == 25.0
    assert Figures(accepted=3).on_time_rate is None and Figures().early_rate is None


# --- the weights in config ------------------------------------------------------------------


def test_the_example_config_shows_the_default_weights() -> None:
    assert load_site(REPO / "cameras.yaml").cases.scoring == ScoringSettings()
    assert CasesSettings().scoring == ScoringSettings()


def test_every_weight_is_described() -> None:
    for name, field in ScoringSettings.model_fields.items():
        assert field.description, name
    assert "100 −" in (CasesSettings.model_fields["scoring"].description or "")


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"per_red_card": -1}, "greater than or equal to 0"),
        ({"per_yellow_card": 101}, "less than or equal to 100"),
        ({"per_vacancy_hour": float("nan")}, "finite number"),
        ({"wait_target_minutes": 1441}, "less than or equal to 1440"),
        ({"per_card": 1}, "Extra inputs are not permitted"),
    ],
)
def test_bad_weights_are_refused(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        ScoringSettings.model_validate(changes)


# --- periods --------------------------------------------------------------------------------


def test_days_across_a_month_boundary_in_shanghai() -> None:
    found = periods("day", dt.date(2026, 11, 29), dt.date(2026, 12, 1), SH)
    assert [p.label for p in found] == ["2026-11-29", "2026-11-30", "2026-12-01"]
    assert found[1].since == dt.datetime(2026, 11, 29, 16, tzinfo=dt.UTC).timestamp()
    assert found[1].until == found[2].since == at(30, 0).timestamp() + 86_400
    assert all(p.first == p.last for p in found)


def test_months_are_cut_to_the_range() -> None:
    found = periods("month", dt.date(2026, 11, 15), dt.date(2027, 2, 3), SH)
    assert [(p.label, p.first.isoformat(), p.last.isoformat()) for p in found] == [
        ("2026-11", "2026-11-15", "2026-11-30"),
        ("2026-12", "2026-12-01", "2026-12-31"),
        ("2027-01", "2027-01-01", "2027-01-31"),
        ("2027-02", "2027-02-01", "2027-02-03"),
    ]
    assert found[0].until == found[1].since == december(1, 0).timestamp()
    assert months_between(dt.date(2026, 11, 15), dt.date(2027, 2, 3)) == 4
    assert months_between(dt.date(2026, 1, 31), dt.date(2028, 12, 1)) == 36


def test_a_backwards_range_is_an_error() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        periods("day", dt.date(2026, 11, 2), dt.date(2026, 11, 1), SH)


@pytest.mark.parametrize(
    ("zone", "granule"),
    [("Asia/Shanghai", 86_400), ("UTC", 86_400), ("Asia/Kathmandu", 86_400),
     ("Europe/Berlin", 3600)],  # summer time: 23- and 25-hour days
)  # fmt: skip
def test_granules_never_straddle_a_period(zone: str, granule: int) -> None:
    for kind in ("day", "month"):
        found = periods(kind, dt.date(2026, 3, 20), dt.date(2026, 11, 5), ZoneInfo(zone))
        bounds = [p.since for p in found] + [found[-1].until]
        size, shift = granule_s(bounds)
        assert size == granule
        assert all((bound + shift) % size == 0 for bound in bounds)
    assert granule_s([at(1, 0).timestamp(), at(2, 0).timestamp()]) == (86_400, 8 * 3600)


def test_a_summer_time_day_is_23_hours() -> None:
    (day,) = periods("day", dt.date(2026, 3, 29), dt.date(2026, 3, 29), ZoneInfo("Europe/Berlin"))
    assert day.until - day.since == 23 * 3600


# --- aggregation on both databases -----------------------------------------------------------


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = open_case_db(db_url)
    Sources(database).add("sys")
    yield database
    database.close()


def feed(ledger: CaseLedger) -> None:
    """The site's cases, in the order time passes (each `now` after the previous).

    市场监管局 at W01: D1 done early; L1 done late (its yellow card raised on the 20th); R1 warned
    on the 18th, yellow on the 19th, red on the 23rd; A1 accepted 2026-11-30 23:30 (+08:00).
    税务局 at W02: Y2 accepted the 26th, its yellow card on 1 December; A2 accepted 2026-12-01
    07:30 (+08:00), still 30 November in UTC.
    """
    ledger.ingest("sys", [accepted("R1", at(16, 10))], now=at(16, 11))
    ledger.ingest("sys", [accepted("D1", at(16, 10)), completed("D1", at(17, 10))], now=at(17, 10))
    ledger.reevaluate_due(at(18, 9))  # R1: warning
    ledger.reevaluate_due(at(19, 9))  # R1: yellow
    ledger.ingest("sys", [accepted("L1", at(16, 10)), completed("L1", at(20, 10))], now=at(20, 10))
    ledger.reevaluate_due(at(23, 9))  # R1: red
    tax = {"department": TAX, "window_id": "W02"}
    ledger.ingest("sys", [accepted("Y2", at(26, 10), **tax)], now=at(26, 10))
    ledger.ingest("sys", [accepted("A1", at(30, 23, 30))], now=at(30, 23, 45))
    ledger.ingest("sys", [accepted("A2", december(1, 7, 30), **tax)], now=december(1, 7, 45))
    ledger.reevaluate_due(december(1, 9))  # Y2: yellow


@pytest.fixture
def ledger(db: Database) -> CaseLedger:
    ledger = CaseLedger(db, work_calendar(Schedule()), CasesSettings())
    feed(ledger)
    return ledger


def vacant_minutes(
    window: str, start: dt.datetime, count: int, vacant_s: float = 60.0
) -> list[WindowMinute]:
    return [
        WindowMinute(window, start.timestamp() + 60 * n,
                     {"vacant": vacant_s, "staffed": 60.0 - vacant_s})
        for n in range(count)
    ]  # fmt: skip


def add_statistics(statistics: Statistics) -> None:
    """W01: 30 vacant minutes on 30 November, 30 s on 1 December, waits of 10 and 30 minutes
    (the second begun at 23:50 on the 30th); W03 (市场监管局 too): 15 vacant minutes and a
    5-minute wait; W02: watched only off duty."""
    statistics.add_window_minutes([
        *vacant_minutes("W01", at(30, 10), 30),
        WindowMinute("W01", at(30, 11).timestamp(), {"serving": 60.0}),
        *vacant_minutes("W01", december(1, 9), 1, vacant_s=30.0),
        *vacant_minutes("W03", at(30, 14), 15),
        WindowMinute("W02", at(30, 20).timestamp(), {"off_duty": 60.0}),
    ])  # fmt: skip
    statistics.add_waits([
        QueueWait("W01", 1, at(30, 10).timestamp(), at(30, 10, 10).timestamp(), 600.0),
        QueueWait("W01", 2, at(30, 23, 50).timestamp(), december(1, 0, 20).timestamp(), 1800.0),
        QueueWait("W03", 1, at(30, 15).timestamp(), at(30, 15, 5).timestamp(), 300.0),
        QueueWait("Q-HALL", 1, at(30, 15).timestamp(), at(30, 15, 5).timestamp(), 9999.0),
    ])  # fmt: skip


@pytest.fixture
def statistics(tmp_path: Path) -> Iterator[Statistics]:
    store = Store(tmp_path / "hallwatch-store.db")
    stats = Statistics(store)
    add_statistics(stats)
    yield stats
    store.close()


NOV_DEC = (dt.date(2026, 11, 1), dt.date(2026, 12, 31))


def rows_of(
    db: Database,
    by: GroupBy,
    kind: PeriodKind,
    span: tuple[dt.date, dt.date] = NOV_DEC,
    statistics: Statistics | None = None,
    zone: str = "Asia/Shanghai",
) -> dict[tuple[str, str], ScoreRow]:
    query = ScoreQuery(by, kind, span[0], span[1], zone)
    rows = score_rows(db, query, DEFAULTS, SITE.windows, statistics)
    keyed = {(row.group, row.period.label): row for row in rows}
    assert len(keyed) == len(rows)
    assert rows == sorted(rows, key=lambda row: (row.period.since, row.group))
    return keyed


def test_departments_by_month(ledger: CaseLedger, db: Database, statistics: Statistics) -> None:
    rows = rows_of(db, "department", "month", statistics=statistics)
    assert sorted(rows) == [(MARKET, "2026-11"), (MARKET, "2026-12"), (TAX, "2026-11"),
                            (TAX, "2026-12")]  # fmt: skip
    market = rows[(MARKET, "2026-11")]
    assert market.name == MARKET
    assert (market.period.first, market.period.last) == (dt.date(2026, 11, 1),
                                                         dt.date(2026, 11, 30))  # fmt: skip
    assert market.figures == Figures(
        accepted=4,  # D1, L1, R1 and A1 (accepted 30 November 23:30)
        completed=2, on_time=1, early=1,  # D1 early, L1 late
        warning_cards=1, yellow_cards=2, red_cards=1,  # R1 at each level, L1 yellow
        vacancy_minutes=45.0,  # W01 30 + W03 15
        waits=3, wait_mean_s=900.0, wait_max_s=1800.0,  # W01 600, 1800 (23:50), W03 300
    )  # fmt: skip
    # 100 − 4 (2 yellow) − 5 (red) − 25 (50 % on time) − 0.75 (45 vacant minutes) + 2.5 (early)
    assert market.score == pytest.approx(67.75)
    assert market.deductions["on_time"] == 25.0 and market.bonus == 2.5

    assert rows[(MARKET, "2026-12")].figures == Figures(vacancy_minutes=0.5)
    assert rows[(MARKET, "2026-12")].score == pytest.approx(99.99)
    # W02 was watched only off duty: no vacancy figure, rather than 0
    assert rows[(TAX, "2026-11")].figures == Figures(accepted=1)
    assert rows[(TAX, "2026-12")].figures == Figures(accepted=1, yellow_cards=1)
    assert rows[(TAX, "2026-12")].score == 98.0


def test_windows_by_month(ledger: CaseLedger, db: Database, statistics: Statistics) -> None:
    rows = rows_of(db, "window", "month", statistics=statistics)
    assert sorted(rows) == [("W01", "2026-11"), ("W01", "2026-12"), ("W02", "2026-11"),
                            ("W02", "2026-12"), ("W03", "2026-11")]  # fmt: skip
    w01 = rows[("W01", "2026-11")]
    assert w01.name == "1号窗口"
    assert (w01.figures.accepted, w01.figures.vacancy_minutes) == (4, 30.0)
    assert (w01.figures.waits, w01.figures.wait_mean_s, w01.figures.wait_max_s) == (2, 1200.0,
                                                                                   1800.0)  # fmt: skip
    # 100 − 34 (cards, on time) − 0.5 (vacancy) − 2.5 (mean wait 5 minutes over) + 2.5
    assert w01.score == pytest.approx(65.5)
    w03 = rows[("W03", "2026-11")]
    assert (w03.name, w03.figures) == ("3号窗口", Figures(vacancy_minutes=15.0, waits=1,
                                                         wait_mean_s=300.0, wait_max_s=300.0))  # fmt: skip
    assert w03.score == pytest.approx(99.75)


def test_days_follow_the_site_time_zone(ledger: CaseLedger, db: Database) -> None:
    span = (dt.date(2026, 11, 16), dt.date(2026, 12, 1))
    rows = rows_of(db, "window", "day", span)
    days = {label: row.figures for (group, label), row in rows.items() if group == "W01"}
    assert days["2026-11-16"].accepted == 3  # D1, L1, R1
    assert days["2026-11-17"] == Figures(completed=1, on_time=1, early=1)
    assert days["2026-11-18"] == Figures(warning_cards=1)
    assert days["2026-11-19"] == Figures(yellow_cards=1)
    assert days["2026-11-20"] == Figures(completed=1, yellow_cards=1)
    assert days["2026-11-23"] == Figures(red_cards=1)
    assert days["2026-11-30"] == Figures(accepted=1)  # A1, 23:30 local
    assert set(days) == {"2026-11-16", "2026-11-17", "2026-11-18", "2026-11-19", "2026-11-20",
                         "2026-11-23", "2026-11-30"}  # fmt: skip
    w02 = {label: row.figures for (group, label), row in rows.items() if group == "W02"}
    assert w02 == {"2026-11-26": Figures(accepted=1),
                   "2026-12-01": Figures(accepted=1, yellow_cards=1)}  # fmt: skip


def test_the_same_cases_in_utc_move_across_the_month(ledger: CaseLedger, db: Database) -> None:
    shanghai = rows_of(db, "department", "month")
    utc = rows_of(db, "department", "month", zone="UTC")
    assert shanghai[(TAX, "2026-11")].figures.accepted == 1
    assert utc[(TAX, "2026-11")].figures.accepted == 2  # A2: 2026-11-30 23:30 UTC
    assert utc[(TAX, "2026-12")].figures == Figures(yellow_cards=1)  # 2026-12-01 01:00 UTC
    assert utc[(MARKET, "2026-11")].figures.accepted == 4


def test_a_range_takes_only_its_dates(ledger: CaseLedger, db: Database) -> None:
    rows = rows_of(db, "department", "month", (dt.date(2026, 11, 19), dt.date(2026, 11, 30)))
    assert sorted(rows) == [(MARKET, "2026-11"), (TAX, "2026-11")]
    market = rows[(MARKET, "2026-11")].figures
    assert market == Figures(accepted=1, completed=1, yellow_cards=2, red_cards=1)  # A1; L1
    assert rows_of(db, "window", "day", (dt.date(2026, 10, 1), dt.date(2026, 10, 31))) == {}


def test_without_statistics_vacancy_and_waits_are_unknown(ledger: CaseLedger, db: Database) -> None:
    rows = rows_of(db, "window", "month")
    assert sorted(rows) == [("W01", "2026-11"), ("W02", "2026-11"), ("W02", "2026-12")]
    figures = rows[("W01", "2026-11")].figures
    assert (figures.vacancy_minutes, figures.waits, figures.wait_mean_s) == (None, 0, None)
    assert rows[("W01", "2026-11")].score == pytest.approx(68.5)


def test_a_case_of_an_unknown_window_is_scored_without_a_name(
    ledger: CaseLedger, db: Database
) -> None:
    ledger.ingest("sys", [accepted("X1", at(24, 10), window_id="W99")], now=at(24, 10))
    rows = rows_of(db, "window", "month")
    assert (rows[("W99", "2026-11")].name, rows[("W99", "2026-11")].figures) == (
        None, Figures(accepted=1))  # fmt: skip


def test_the_json_row(ledger: CaseLedger, db: Database, statistics: Statistics) -> None:
    row = rows_of(db, "department", "month", statistics=statistics)[(MARKET, "2026-11")]
    assert row.to_json() == {
        "group": MARKET, "name": MARKET, "period": "2026-11", "from": "2026-11-01",
        "to": "2026-11-30", "accepted": 4, "completed": 2, "on_time": 1, "early": 1,
        "on_time_rate": 50.0, "early_rate": 50.0, "warning_cards": 1, "yellow_cards": 2,
        "red_cards": 1, "vacancy_minutes": 45.0, "waits": 3, "wait_mean_s": 900.0,
        "wait_max_s": 1800.0,
        "deductions": {"warning_cards": 0.0, "yellow_cards": 4.0, "red_cards": 5.0,
                       "on_time": 25.0, "vacancy": 0.75, "waits": 0.0},
        "bonus": 2.5, "score": 67.75,
    }  # fmt: skip


def test_a_completion_without_acceptance_is_in_no_group(ledger: CaseLedger, db: Database) -> None:
    before = rows_of(db, "department", "month")
    ledger.ingest("sys", [completed("Z1", at(24, 10))], now=at(24, 10))  # a red card
    assert db.query("SELECT level FROM cards WHERE case_id = 'Z1'") == [{"level": "red"}]
    assert rows_of(db, "department", "month") == before
