"""Dashboards (统计分析): per hall and department, for today or a range of days.

`GET /api/dashboard` (operators, inspectors, auditors, admins). Query: `hall` (a hall id of the
site config), `department` (a department of a configured window or of a stored case), and
either `from` and `to` (YYYY-MM-DD, inclusive, in the site's time zone, at most MAX_DAYS days)
or `days` (1..MAX_DAYS, ending today; default 1: today). Every 422 names its field.

A user limited to halls sees only those (403 for another hall; without `hall`, the halls the
user may see). The scope: the site config's windows in the hall (through their camera's hall)
and of the department; the queues are those windows' queues (a window's queue id is its window
id) and, without a department, the hall queues whose camera is in the hall. Cases and cards
count by the department and the window the approval system sent with the acceptance: with a
hall, only cases accepted at one of its windows.

The answer (times are UNIX seconds, figures computed by the databases, one row per group):

- `vacancy`: per window in scope, `vacancy_minutes` (seconds in state vacant / 60) and
  `watched_minutes` (minutes in service hours with a statistics row); `vacancy_by_day`: the
  scope's vacancy minutes per local day.
- `queue`: the local day in 15-minute slots; per slot `mean`, the queues' mean lengths added
  up (each the mean over the covered seconds of that slot on every day of the range) and
  `maximum`, the longest any one queue was; null where no queue was watched.
- `waits`: the finished waits that began in the range, as a histogram over `edges` (seconds;
  the last bucket is open-ended), with count, mean and longest.
- `cases` (null without a case store): per department, cases completed in the range on time or
  late, and the cases still open that were accepted before the range's end, on track or past
  their promised deadline as the ledger last judged them (`remaining_s` below 0; its ticker
  keeps that current).
- `cards` (null without a case store): the levels cards reached in the range (`card_history`
  actions raise and escalate), per department and in total.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status

from cases.ledger import CaseLedger
from console.auth import (
    Role,
    StoreDep,
    current_user,
    problem,
    require_role,
    sees_hall,
    unprocessable,
    visible_halls,
)
from hallwatch.config import Site, Window
from hallwatch.database import in_list
from hallwatch.store import Store, User

router = APIRouter(prefix="/api", dependencies=[Depends(current_user)])
ViewerDep = Annotated[User, Depends(require_role(Role.OPERATOR, Role.INSPECTOR, Role.AUDITOR))]

MAX_DAYS = 92
SLOT_S = 900
SLOTS = 24 * 3600 // SLOT_S
WAIT_EDGES = (60, 180, 300, 600, 900, 1800)  # seconds; the last bucket is 1800 and more
CARD_LEVELS = ("warning", "yellow", "red")
EARLIEST = dt.date(2000, 1, 1)
LATEST = dt.date(2199, 12, 31)

Day = tuple[dt.date, float, float]  # a local date and its [start, end) in UNIX seconds


@dataclass(frozen=True, slots=True)
class Scope:
    halls: frozenset[str] | None  # None: every hall
    department: str | None
    windows: tuple[Window, ...]
    queues: tuple[str, ...]


def local_days(zone: ZoneInfo, first: dt.date, last: dt.date) -> list[Day]:
    """Each local date from `first` to `last` with its start and end (its local midnights)."""
    days: list[Day] = []
    day = first
    while day <= last:
        following = day + dt.timedelta(days=1)
        start = dt.datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()
        end = dt.datetime(following.year, following.month, following.day, tzinfo=zone).timestamp()
        days.append((day, start, end))
        day = following
    return days


def date_range(
    today: dt.date, since: dt.date | None, until: dt.date | None, days: int
) -> tuple[dt.date, dt.date] | list[dict[str, Any]]:
    """(first, last) of the range asked, or the problems with it."""
    if since is None and until is None:
        return today - dt.timedelta(days=days - 1), today
    problems = [problem("query", name, "give both 'from' and 'to' (or neither)", "missing")
                for name, value in (("from", since), ("to", until)) if value is None]  # fmt: skip
    if since is None or until is None:
        return problems
    for name, day in (("from", since), ("to", until)):
        if not EARLIEST <= day <= LATEST:
            problems.append(problem("query", name, f"'{name}' must lie in {EARLIEST}..{LATEST}"))
    if until < since:
        problems.append(problem("query", "to", "'to' must not be before 'from'"))
    elif (until - since).days + 1 > MAX_DAYS:
        problems.append(problem("query", "to", f"at most {MAX_DAYS} days"))
    return problems or (since, until)


def scope_of(site: Site, halls: frozenset[str] | None, department: str | None) -> Scope:
    """The windows and queues a dashboard of `halls` and `department` (None: all) covers."""
    hall_of = {camera.id: camera.hall for camera in site.cameras}

    def inside(camera: str) -> bool:
        return halls is None or hall_of.get(camera) in halls

    windows = tuple(w for w in site.windows if inside(w.camera)
                    and (department is None or w.department == department))  # fmt: skip
    queues = [w.id for w in windows]
    if department is None:
        queues += [q.id for q in site.queues if inside(q.camera)]
    return Scope(halls, department, windows, tuple(queues))


def slot_label(slot: int) -> str:
    return f"{slot * SLOT_S // 3600:02d}:{slot * SLOT_S % 3600 // 60:02d}"


def wait_bucket_sql(edges: Sequence[int]) -> str:
    """SQL giving a wait's bucket number: 0 below edges[0], len(edges) from edges[-1] on."""
    whens = " ".join(f"WHEN wait_s < {int(edge)} THEN {n}" for n, edge in enumerate(edges))
    return f"CASE {whens} ELSE {len(edges)} END"


def _days_cte(days: Sequence[Day]) -> tuple[str, list[Any]]:
    values = ", ".join("(?, ?, ?)" for _ in days)
    params: list[Any] = []
    for n, (_, start, end) in enumerate(days):
        params += [n, start, end]
    return f"WITH days(d, s, e) AS (VALUES {values})", params


def vacancy(store: Store, scope: Scope, days: Sequence[Day]) -> dict[str, Any]:
    names = [w.id for w in scope.windows]
    per_window = {name: [0.0, 0] for name in names}
    per_day = [0.0 for _ in days]
    if names:
        cte, params = _days_cte(days)
        rows = store.query(
            f"{cte} SELECT m.window AS window, days.d AS d,"
            " SUM(COALESCE(json_extract(m.seconds, '$.vacant'), 0)) / 60.0 AS vacant,"
            " SUM(CASE WHEN m.state <> 'off_duty' THEN 1 ELSE 0 END) AS watched"
            " FROM window_minutes m JOIN days ON m.minute >= days.s AND m.minute < days.e"
            f" WHERE m.window IN ({in_list(len(names))}) GROUP BY m.window, days.d",
            [*params, *names],
        )
        for row in rows:
            per_window[row["window"]][0] += float(row["vacant"])
            per_window[row["window"]][1] += int(row["watched"])
            per_day[int(row["d"])] += float(row["vacant"])
    return {
        "vacancy": [{"window": w.id, "name": w.name, "department": w.department,
                     "vacancy_minutes": round(per_window[w.id][0], 2),
                     "watched_minutes": per_window[w.id][1]} for w in scope.windows],
        "vacancy_by_day": [{"date": day.isoformat(), "vacancy_minutes": round(per_day[n], 2)}
                           for n, (day, _, _) in enumerate(days)],
    }  # fmt: skip


def queue_by_slot(store: Store, scope: Scope, days: Sequence[Day]) -> dict[str, Any]:
    slots: list[dict[str, Any]] = [
        {"slot": n, "start": slot_label(n), "mean": None, "maximum": None} for n in range(SLOTS)
    ]
    if scope.queues:
        cte, params = _days_cte(days)
        rows = store.query(
            f"{cte}, per_queue AS (SELECT q.queue AS queue,"
            f" MIN(CAST((q.minute - days.s) / {SLOT_S} AS INTEGER), {SLOTS - 1}) AS slot,"
            " SUM(q.mean * q.covered_s) / SUM(q.covered_s) AS mean, MAX(q.maximum) AS maximum"
            " FROM queue_minutes q JOIN days ON q.minute >= days.s AND q.minute < days.e"
            f" WHERE q.queue IN ({in_list(len(scope.queues))}) AND q.covered_s > 0"
            " GROUP BY q.queue, slot)"
            " SELECT slot, SUM(mean) AS mean, MAX(maximum) AS maximum FROM per_queue"
            " GROUP BY slot ORDER BY slot",
            [*params, *scope.queues],
        )
        for row in rows:
            slots[int(row["slot"])].update(mean=round(float(row["mean"]), 2),
                                           maximum=float(row["maximum"]))  # fmt: skip
    return {"slot_s": SLOT_S, "queues": list(scope.queues), "slots": slots}


def waits(store: Store, scope: Scope, days: Sequence[Day]) -> dict[str, Any]:
    counts = [0] * (len(WAIT_EDGES) + 1)
    count, total, longest = 0, 0.0, None
    if scope.queues:
        where = f"queue IN ({in_list(len(scope.queues))}) AND entered >= ? AND entered < ?"
        params = [*scope.queues, days[0][1], days[-1][2]]
        rows = store.query(
            f"SELECT {wait_bucket_sql(WAIT_EDGES)} AS bucket, COUNT(*) AS n, SUM(wait_s) AS total,"
            f" MAX(wait_s) AS longest FROM queue_waits WHERE {where} GROUP BY bucket",
            params,
        )
        for row in rows:
            counts[int(row["bucket"])] = int(row["n"])
            count += int(row["n"])
            total += float(row["total"])
            longest = max(longest or 0.0, float(row["longest"]))
    edges = [0, *WAIT_EDGES, None]
    return {
        "edges": list(WAIT_EDGES),
        "buckets": [{"from": edges[n], "to": edges[n + 1], "count": counts[n]}
                    for n in range(len(counts))],
        "count": count,
        "mean_s": round(total / count, 1) if count else None,
        "max_s": longest,
    }  # fmt: skip


def _case_scope(scope: Scope, alias: str) -> tuple[str, list[Any]]:
    """SQL conditions (each starting with AND) limiting cases to the scope."""
    sql, params = "", []
    if scope.department is not None:
        sql += f" AND {alias}department = ?"
        params.append(scope.department)
    if scope.halls is not None:
        names = [w.id for w in scope.windows] or [""]  # halls without windows: no case
        sql += f" AND {alias}window_id IN ({in_list(len(names))})"
        params += names
    return sql, params


def case_figures(ledger: CaseLedger, scope: Scope, days: Sequence[Day]) -> Any:
    since, until = days[0][1], days[-1][2]
    done = "completed_at IS NOT NULL AND completed_at >= ? AND completed_at < ?"
    still = "status = 'open' AND accepted_at < ?"
    where, params = _case_scope(scope, "")
    sql = (
        "SELECT COALESCE(department, '') AS department,"
        f" SUM(CASE WHEN {done} AND on_time = 1 THEN 1 ELSE 0 END) AS on_time,"
        f" SUM(CASE WHEN {done} AND on_time = 0 THEN 1 ELSE 0 END) AS late,"
        f" SUM(CASE WHEN {still} AND (remaining_s IS NULL OR remaining_s >= 0)"
        " THEN 1 ELSE 0 END) AS open_on_track,"
        f" SUM(CASE WHEN {still} AND remaining_s < 0 THEN 1 ELSE 0 END) AS open_overdue"
        f" FROM cases WHERE (({still}) OR ({done})){where}"
        " GROUP BY COALESCE(department, '')"
    )
    bounds = [since, until, since, until, until, until, until, since, until]
    with ledger.db.transaction() as cursor:
        rows = cursor.execute(sql, [*bounds, *params])
    keys = ("on_time", "late", "open_on_track", "open_overdue")
    items = [{"department": row["department"], **{k: int(row[k] or 0) for k in keys}}
             for row in sorted(rows, key=lambda row: str(row["department"]))]  # fmt: skip
    return {"by_department": items, "total": {k: sum(i[k] for i in items) for k in keys}}


def card_figures(ledger: CaseLedger, scope: Scope, days: Sequence[Day]) -> Any:
    where, params = _case_scope(scope, "k.")
    sql = (
        "SELECT COALESCE(k.department, '') AS department, h.level AS level, COUNT(*) AS n"
        " FROM card_history h JOIN cards c ON c.id = h.card_id"
        " JOIN cases k ON k.case_id = c.case_id"
        f" WHERE h.action IN ('raise', 'escalate') AND h.at >= ? AND h.at < ?{where}"
        " GROUP BY COALESCE(k.department, ''), h.level"
    )
    with ledger.db.transaction() as cursor:
        rows = cursor.execute(sql, [days[0][1], days[-1][2], *params])
    by_department: dict[str, dict[str, int]] = {}
    for row in rows:
        levels = by_department.setdefault(row["department"], dict.fromkeys(CARD_LEVELS, 0))
        if row["level"] in levels:
            levels[row["level"]] += int(row["n"])
    items = [{"department": name, **levels} for name, levels in sorted(by_department.items())]
    total = {level: sum(row[level] for row in by_department.values()) for level in CARD_LEVELS}
    return {"by_department": items, "total": total}


def _ledger(request: Request) -> CaseLedger | None:
    cases = getattr(request.app.state, "cases", None)
    if cases is None:
        return None
    ledger: CaseLedger = cases.ledger
    return ledger


def known_department(site: Site, ledger: CaseLedger | None, department: str) -> bool:
    if any(w.department == department for w in site.windows):
        return True
    if ledger is None:
        return False
    with ledger.db.transaction() as cursor:
        rows = cursor.execute("SELECT 1 AS one FROM cases WHERE department = ? LIMIT 1",
                              (department,))  # fmt: skip
    return bool(rows)


def departments(site: Site, ledger: CaseLedger | None) -> list[str]:
    """The departments of the configured windows and of the stored cases."""
    names = {w.department for w in site.windows}
    if ledger is not None:
        with ledger.db.transaction() as cursor:
            rows = cursor.execute(
                "SELECT DISTINCT department FROM cases WHERE department IS NOT NULL"
            )
        names |= {row["department"] for row in rows}
    return sorted(names)


def halls_asked(user: User, hall: str | None) -> frozenset[str] | None:
    """The halls a dashboard covers: the one asked, else those the user may see (None: all).
    403 for a hall the user may not see."""
    if hall is None:
        return visible_halls(user)
    if not sees_hall(user, hall):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "you may not see this hall")
    return frozenset([hall])


def _checked(
    request: Request, user: User, hall: str | None, department: str | None,
    since: dt.date | None, until: dt.date | None, days: int,
) -> tuple[Scope, list[Day]]:  # fmt: skip
    site: Site = request.app.state.site
    zone = ZoneInfo(site.schedule.timezone)
    answer = date_range(dt.datetime.now(zone).date(), since, until, days)
    problems = answer if isinstance(answer, list) else []
    if hall is not None and hall not in {h.id for h in site.halls}:
        problems.append(problem("query", "hall", f"unknown hall '{hall}'"))
    if department is not None and not known_department(site, _ledger(request), department):
        problems.append(problem("query", "department", f"unknown department '{department}'"))
    if problems or isinstance(answer, list):
        raise unprocessable(problems)
    return scope_of(site, halls_asked(user, hall), department), local_days(zone, *answer)


@router.get("/dashboard")
def dashboard(
    request: Request,
    store: StoreDep,
    user: ViewerDep,
    hall: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    department: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    since: Annotated[dt.date | None, Query(alias="from", description="First date")] = None,
    until: Annotated[dt.date | None, Query(alias="to", description="Last date (inclusive)")] = None,
    days: Annotated[int, Query(ge=1, le=MAX_DAYS, description="Days ending today")] = 1,
) -> dict[str, Any]:
    scope, span = _checked(request, user, hall, department, since, until, days)
    site: Site = request.app.state.site
    ledger = _ledger(request)
    return {
        "from": span[0][0].isoformat(),
        "to": span[-1][0].isoformat(),
        "timezone": site.schedule.timezone,
        "hall": hall,
        "department": department,
        "halls": [{"id": h.id, "name": h.name} for h in site.halls],
        "departments": departments(site, ledger),
        **vacancy(store, scope, span),
        "queue": queue_by_slot(store, scope, span),
        "waits": waits(store, scope, span),
        "cases": None if ledger is None else case_figures(ledger, scope, span),
        "cards": None if ledger is None else card_figures(ledger, scope, span),
    }
