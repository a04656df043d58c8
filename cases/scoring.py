"""Scoring (绩效评估): figures and a score per department or per window, per day or per month.

Periods are days or calendar months in the site's time zone (`schedule.timezone`), from the
first date asked to the last (inclusive): a case accepted 2026-11-30 23:30 +08:00 counts in
November in Asia/Shanghai. A month cut by the range covers only the dates in it (the row says
which: `first` .. `last`).

Figures of a group in a period (`Figures`):

- `accepted`: cases accepted (受理) in the period (`cases.accepted_at`);
- `completed`: cases completed (办结: approved, refused or not accepted) in the period, of them
  `on_time` (by the promised deadline) and `early` (with at least the card rules'
  `early_working_days` left); `on_time_rate` = on_time / completed × 100 and `early_rate` =
  early / completed × 100, in percent; None when nothing was completed;
- `warning_cards`, `yellow_cards`, `red_cards`: the levels cards reached in the period, from
  `card_history` (an action `raise` or `escalate` at that level, dated in the period). A card
  raised as a warning that turns yellow and then red counts once at each level, each in the
  period it got there; an acknowledgement or the closing counts nothing. (Counting the cards'
  current `level` instead would forget the yellow card of a case now red, and date an
  escalation by the day the card was first raised.) `card_history.at` is when the ledger judged
  the case: the intake of its event, or its ticker within `cases.tick_s` of the deadline;
- from the analyzers, when statistics are given and the window was watched in service hours
  in the period (a `window_minutes` row in another state than off_duty), `vacancy_minutes`:
  the seconds in state "vacant" / 60 (a window is vacant only during service hours: outside
  them it is off_duty); None when not watched;
- `waits`, `wait_mean_s`, `wait_max_s`: the finished waits of the window's queue (a window's
  queue id is its window id) that began in the period; the mean and the longest are None
  without a wait.

Groups: cases and cards count for the department and the window the approval system sent with
the acceptance (a case without one is in no group: a completion without an acceptance has
neither); the analyzers' figures for the site config's windows, and for a department the sum
of its windows' vacancy minutes (`windows[].department`) and the pool of their waits (mean of
all the waits, the longest). They meet when the approval system names departments and windows
as the config does. Only groups with a figure in a period get a row in it.

The score (`score`), with the weights of `cases.scoring` (hallwatch.config_cases.
ScoringSettings):

    deductions = per_warning_card × warning_cards
               + per_yellow_card × yellow_cards
               + per_red_card × red_cards
               + per_on_time_point × (100 − on_time_rate)
               + per_vacancy_hour × vacancy_minutes / 60
               + per_wait_minute × max(0, wait_mean_s / 60 − wait_target_minutes)
    bonus      = early_bonus_per_point × early_rate
    score      = min(100, max(0, 100 − deductions + bonus)), rounded to 0.01

A figure that is None (no completed case, not watched, no wait) adds nothing.

The aggregation: the databases count per group and per granule, the longest span of time whose
multiples, shifted to the first period's start, meet every period boundary (the site's local
midnights: a day where the offset from UTC stays put, as in Asia/Shanghai; 1 hour over a change
of summer time), so each granule lies in one period; Python merges the granules into the periods
and the three sources (cases, cards, statistics) into one row. It is exact in any time zone and
the databases return at most one row per group and local day (a few over summer time).
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from hallwatch.config import Window
from hallwatch.config_cases import ScoringSettings
from hallwatch.database import Database, Dialect, in_list

if TYPE_CHECKING:
    from hallwatch.statistics import Statistics

GroupBy = Literal["department", "window"]
PeriodKind = Literal["day", "month"]

MAX_DAYS = 366  # the longest range of daily scores
MAX_MONTHS = 36  # the longest range of monthly scores
EARLIEST = dt.date(2000, 1, 1)  # dates a range may name
LATEST = dt.date(2199, 12, 31)

_DAY_S = 86_400
ONE_DAY = dt.timedelta(days=1)
_CASE_COLUMN: dict[str, str] = {"department": "department", "window": "window_id"}


# --- periods --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Period:
    label: str  # "2026-11-30" (a day) or "2026-11" (a month)
    first: dt.date  # the first date it covers
    last: dt.date  # the last date it covers (inclusive)
    since: float  # UNIX time of its start: local midnight of `first`
    until: float  # UNIX time of its end: local midnight after `last`


def _midnight(day: dt.date, zone: ZoneInfo) -> float:
    return dt.datetime.combine(day, dt.time(), tzinfo=zone).timestamp()


def _next_month(day: dt.date) -> dt.date:
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)


def months_between(first: dt.date, last: dt.date) -> int:
    """How many calendar months the dates `first` .. `last` touch."""
    return (last.year - first.year) * 12 + last.month - first.month + 1


def periods(kind: PeriodKind, first: dt.date, last: dt.date, zone: ZoneInfo) -> list[Period]:
    """The days or months from `first` to `last` (inclusive), each cut to that range."""
    if last < first:
        raise ValueError(f"the range ends ({last}) before it starts ({first})")
    found = []
    start = first
    while start <= last:
        if kind == "day":
            end, label = start, start.isoformat()
        else:
            end, label = min(_next_month(start) - ONE_DAY, last), start.strftime("%Y-%m")
        since, until = _midnight(start, zone), _midnight(end + ONE_DAY, zone)
        found.append(Period(label, start, end, since, until))
        start = end + ONE_DAY
    return found


def granule_s(bounds: Sequence[float]) -> tuple[int, int]:
    """(g, shift): the longest span g (whole seconds, dividing a day) such that every bound is
    k × g − shift for some k: granules [k × g − shift, (k + 1) × g − shift) never straddle one."""
    first = round(bounds[0])
    granule = math.gcd(_DAY_S, *(round(bound) - first for bound in bounds))
    return granule, -first % granule


# --- figures and the score ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Figures:
    accepted: int = 0
    completed: int = 0
    on_time: int = 0
    early: int = 0
    warning_cards: int = 0
    yellow_cards: int = 0
    red_cards: int = 0
    vacancy_minutes: float | None = None  # None: not watched in service hours
    waits: int = 0
    wait_mean_s: float | None = None  # None: no wait
    wait_max_s: float | None = None

    @property
    def on_time_rate(self) -> float | None:
        """Completed on time / completed, in percent (None: nothing completed)."""
        return None if self.completed == 0 else 100.0 * self.on_time / self.completed

    @property
    def early_rate(self) -> float | None:
        """Completed early / completed, in percent (None: nothing completed)."""
        return None if self.completed == 0 else 100.0 * self.early / self.completed


def deductions(figures: Figures, weights: ScoringSettings) -> dict[str, float]:
    """The points each figure costs (see the module docstring); None figures cost nothing."""
    on_time = figures.on_time_rate
    vacancy = figures.vacancy_minutes
    wait = figures.wait_mean_s
    over_target = 0.0 if wait is None else max(0.0, wait / 60 - weights.wait_target_minutes)
    return {
        "warning_cards": weights.per_warning_card * figures.warning_cards,
        "yellow_cards": weights.per_yellow_card * figures.yellow_cards,
        "red_cards": weights.per_red_card * figures.red_cards,
        "on_time": 0.0 if on_time is None else weights.per_on_time_point * (100.0 - on_time),
        "vacancy": 0.0 if vacancy is None else weights.per_vacancy_hour * vacancy / 60,
        "waits": weights.per_wait_minute * over_target,
    }


def bonus(figures: Figures, weights: ScoringSettings) -> float:
    """The points early completions earn (see the module docstring)."""
    early = figures.early_rate
    return 0.0 if early is None else weights.early_bonus_per_point * early


def score(figures: Figures, weights: ScoringSettings) -> float:
    """100 − deductions + bonus, bounded to 0..100, rounded to 0.01."""
    value = 100.0 - sum(deductions(figures, weights).values()) + bonus(figures, weights)
    return round(min(100.0, max(0.0, value)), 2)


# --- aggregation ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScoreQuery:
    by: GroupBy
    period: PeriodKind
    first: dt.date
    last: dt.date  # inclusive
    timezone: str  # IANA name, the site's schedule.timezone


@dataclass(frozen=True, slots=True)
class ScoreRow:
    group: str  # the department, or the window id
    name: str | None  # the department, or the window's name in the site config (None: unknown)
    period: Period
    figures: Figures
    deductions: dict[str, float]
    bonus: float
    score: float

    def to_json(self) -> dict[str, Any]:
        f = self.figures
        return {
            "group": self.group,
            "name": self.name,
            "period": self.period.label,
            "from": self.period.first.isoformat(),
            "to": self.period.last.isoformat(),
            "accepted": f.accepted,
            "completed": f.completed,
            "on_time": f.on_time,
            "early": f.early,
            "on_time_rate": _rounded(f.on_time_rate),
            "early_rate": _rounded(f.early_rate),
            "warning_cards": f.warning_cards,
            "yellow_cards": f.yellow_cards,
            "red_cards": f.red_cards,
            "vacancy_minutes": _rounded(f.vacancy_minutes),
            "waits": f.waits,
            "wait_mean_s": _rounded(f.wait_mean_s),
            "wait_max_s": _rounded(f.wait_max_s),
            "deductions": {key: round(value, 2) for key, value in self.deductions.items()},
            "bonus": round(self.bonus, 2),
            "score": self.score,
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


@dataclass(slots=True)
class _Tally:
    """A group's figures in a period while the sources are merged."""

    accepted: int = 0
    completed: int = 0
    on_time: int = 0
    early: int = 0
    warning_cards: int = 0
    yellow_cards: int = 0
    red_cards: int = 0
    vacant_s: float | None = None
    waits: int = 0
    wait_total_s: float = 0.0
    wait_max_s: float | None = None

    def add_vacancy(self, seconds: float) -> None:
        self.vacant_s = (self.vacant_s or 0.0) + seconds

    def add_waits(self, count: int, total_s: float, longest_s: float) -> None:
        self.waits += count
        self.wait_total_s += total_s
        self.wait_max_s = max(longest_s, self.wait_max_s or 0.0)

    def figures(self) -> Figures:
        return Figures(
            accepted=self.accepted,
            completed=self.completed,
            on_time=self.on_time,
            early=self.early,
            warning_cards=self.warning_cards,
            yellow_cards=self.yellow_cards,
            red_cards=self.red_cards,
            vacancy_minutes=None if self.vacant_s is None else self.vacant_s / 60,
            waits=self.waits,
            wait_mean_s=self.wait_total_s / self.waits if self.waits else None,
            wait_max_s=self.wait_max_s if self.waits else None,
        )


class _Grid:
    """Granules to periods, and each (group, period)'s tally."""

    def __init__(self, found: Sequence[Period]) -> None:
        self.periods = found
        self.bounds = [period.since for period in found] + [found[-1].until]
        self.granule, self.shift = granule_s(self.bounds)
        self.since, self.until = self.bounds[0], self.bounds[-1]
        self.tallies: dict[tuple[str, int], _Tally] = {}

    def tally(self, group: str, granule: Any) -> _Tally:
        start = int(granule) * self.granule - self.shift
        index = bisect.bisect_right(self.bounds, start) - 1
        return self.tallies.setdefault((group, index), _Tally())

    def bucket(self, dialect: Dialect, column: str) -> str:
        """SQL: the granule of a UNIX time column (never negative: ranges start in 2000)."""
        if dialect is Dialect.SQLITE:  # SQLite may lack FLOOR; CAST truncates, = floor here
            return f"CAST(({column} + {self.shift}) / {self.granule} AS INTEGER)"
        return f"FLOOR(({column} + {self.shift}) / {self.granule})"


def score_rows(
    db: Database,
    query: ScoreQuery,
    weights: ScoringSettings,
    windows: Sequence[Window] = (),
    statistics: Statistics | None = None,
) -> list[ScoreRow]:
    """Each group's figures and score in each period of `query` (rows in period order, then by
    group; only groups with a figure in the period). `windows`: the site config's, for the
    department of a window's analyzer figures and a window's name."""
    grid = _Grid(periods(query.period, query.first, query.last, ZoneInfo(query.timezone)))
    _count_cases(db, grid, _CASE_COLUMN[query.by])
    if statistics is not None and windows:
        _count_statistics(statistics, grid, query.by, windows)
    names = {window.id: window.name for window in windows}
    rows = []
    for (group, index), tally in grid.tallies.items():
        figures = tally.figures()
        rows.append(
            ScoreRow(
                group=group,
                name=group if query.by == "department" else names.get(group),
                period=grid.periods[index],
                figures=figures,
                deductions=deductions(figures, weights),
                bonus=bonus(figures, weights),
                score=score(figures, weights),
            )
        )
    rows.sort(key=lambda row: (row.period.since, row.group))
    return rows


def _count_cases(db: Database, grid: _Grid, column: str) -> None:
    span = (grid.since, grid.until)
    accepted_k = grid.bucket(db.dialect, "accepted_at")
    completed_k = grid.bucket(db.dialect, "completed_at")
    at_k = grid.bucket(db.dialect, "at")
    with db.transaction() as cursor:  # the three counts from one snapshot
        accepted = cursor.execute(
            f"SELECT {column} AS grp, {accepted_k} AS k, COUNT(*) AS n FROM cases"
            f" WHERE accepted_at >= ? AND accepted_at < ? AND {column} IS NOT NULL"
            " GROUP BY 1, 2",
            span,
        )
        completed = cursor.execute(
            f"SELECT {column} AS grp, {completed_k} AS k, COUNT(*) AS n,"
            " SUM(COALESCE(on_time, 0)) AS on_time, SUM(COALESCE(early, 0)) AS early"
            " FROM cases WHERE status = 'completed' AND completed_at >= ?"
            f" AND completed_at < ? AND {column} IS NOT NULL GROUP BY 1, 2",
            span,
        )
        cards = cursor.execute(  # grouped per card first: the history drives the joins
            f"SELECT c.{column} AS grp, h.k AS k, h.level AS level, SUM(h.n) AS n FROM"
            f" (SELECT card_id, {at_k} AS k, level, COUNT(*) AS n FROM card_history"
            "  WHERE action IN ('raise', 'escalate') AND at >= ? AND at < ? GROUP BY 1, 2, 3) h"
            " JOIN cards d ON d.id = h.card_id JOIN cases c ON c.case_id = d.case_id"
            " GROUP BY 1, 2, 3",
            span,
        )
    for row in accepted:
        grid.tally(row["grp"], row["k"]).accepted += int(row["n"])
    for row in completed:
        tally = grid.tally(row["grp"], row["k"])
        tally.completed += int(row["n"])
        tally.on_time += int(row["on_time"])
        tally.early += int(row["early"])
    for row in cards:
        if row["grp"] is None:  # a case without a department or window: in no group
            continue
        tally = grid.tally(row["grp"], row["k"])
        if row["level"] == "warning":
            tally.warning_cards += int(row["n"])
        elif row["level"] == "yellow":
            tally.yellow_cards += int(row["n"])
        elif row["level"] == "red":
            tally.red_cards += int(row["n"])


def _count_statistics(
    statistics: Statistics, grid: _Grid, by: GroupBy, windows: Sequence[Window]
) -> None:
    """Vacancy and waits of the site's windows (the hallwatch store: SQLite)."""
    group_of = {w.id: (w.department if by == "department" else w.id) for w in windows}
    ids = sorted(group_of)
    marks = in_list(len(ids))
    span = (grid.since, grid.until)
    minutes = statistics.store.query(
        f"SELECT window, {grid.bucket(Dialect.SQLITE, 'minute')} AS k,"
        " SUM(COALESCE(json_extract(seconds, '$.vacant'), 0)) AS vacant_s,"
        " SUM(CASE WHEN state = 'off_duty' THEN 0 ELSE 1 END) AS in_service"
        f" FROM window_minutes WHERE window IN ({marks}) AND minute >= ? AND minute < ?"
        " GROUP BY 1, 2",
        (*ids, *span),
    )
    for row in minutes:
        if row["in_service"] or row["vacant_s"]:  # watched in service hours in this granule
            grid.tally(group_of[row["window"]], row["k"]).add_vacancy(float(row["vacant_s"]))
    waits = statistics.store.query(
        f"SELECT queue, {grid.bucket(Dialect.SQLITE, 'entered')} AS k, COUNT(*) AS n,"
        " SUM(wait_s) AS total_s, MAX(wait_s) AS longest_s"
        f" FROM queue_waits WHERE queue IN ({marks}) AND entered >= ? AND entered < ?"
        " GROUP BY 1, 2",
        (*ids, *span),
    )
    for row in waits:
        grid.tally(group_of[row["queue"]], row["k"]).add_waits(
            int(row["n"]), float(row["total_s"]), float(row["longest_s"])
        )
