"""Scoring API (绩效评估): figures and scores per department or window, per day or month.

Every route needs a logged-in user (the router's dependency); both answer 503 when no case
store is set up (`app.state.cases` is None). Figures, periods and the formula: cases.scoring;
the weights: `cases.scoring` in cameras.yaml. Vacancy and queue waits come from the
analyzers' statistics in the console's store (`app.state.store`).

Query (both routes): `by` = department | window (default department), `period` = day | month
(default day), `from` and `to` = YYYY-MM-DD, inclusive, in the site's time zone; `to` before
`from` is 422, and so is a range of more than 366 days (daily) or 36 months (monthly), or a
date outside 2000-01-01 .. 2199-12-31; each 422 names its field.

- `GET /api/scores`: {"by", "period", "from", "to", "timezone", "weights", "items": [row]}, a
  row: {"group", "name", "period", "from", "to", "accepted", "completed", "on_time", "early",
  "on_time_rate", "early_rate", "warning_cards", "yellow_cards", "red_cards",
  "vacancy_minutes", "waits", "wait_mean_s", "wait_max_s", "deductions": {figure: points},
  "bonus", "score"} (rates in percent; null: unknown in the period), in period order, then by
  group.
- `GET /api/scores.csv`: the same rows as CSV for Excel: UTF-8 with a BOM (Excel on Chinese
  Windows otherwise reads it as GBK), Chinese column headers with the English in parentheses,
  as an attachment. Audited as "scores_exported".
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel

from cases.ledger import CaseLedger
from cases.scoring import (
    EARLIEST,
    LATEST,
    MAX_DAYS,
    MAX_MONTHS,
    ScoreQuery,
    ScoreRow,
    months_between,
    score_rows,
)
from console.auth import StoreDep, UserDep, current_user, problem, unprocessable
from console.cases import LedgerDep
from hallwatch.config import Site
from hallwatch.statistics import Statistics

router = APIRouter(prefix="/api", dependencies=[Depends(current_user)])


class ScoreParams(BaseModel):
    by: Literal["department", "window"] = "department"
    period: Literal["day", "month"] = "day"
    since: dt.date
    until: dt.date


def _params(
    since: Annotated[dt.date, Query(alias="from", description="First date, YYYY-MM-DD")],
    until: Annotated[dt.date, Query(alias="to", description="Last date (inclusive)")],
    by: Literal["department", "window"] = "department",
    period: Literal["day", "month"] = "day",
) -> ScoreParams:
    problems = []
    for field, day in (("from", since), ("to", until)):
        if not EARLIEST <= day <= LATEST:
            problems.append(problem("query", field, f"'{field}' must lie in {EARLIEST}..{LATEST}"))
    if until < since:
        problems.append(problem("query", "to", "'to' must not be before 'from'"))
    elif period == "day" and (until - since).days + 1 > MAX_DAYS:
        problems.append(problem("query", "to", f"daily scores cover at most {MAX_DAYS} days"))
    elif period == "month" and months_between(since, until) > MAX_MONTHS:
        problems.append(problem("query", "to", f"monthly scores cover at most {MAX_MONTHS} months"))
    if problems:
        raise unprocessable(problems)
    return ScoreParams(by=by, period=period, since=since, until=until)


ParamsDep = Annotated[ScoreParams, Depends(_params)]


def _rows(request: Request, ledger: CaseLedger, params: ScoreParams) -> list[ScoreRow]:
    site: Site = request.app.state.site
    query = ScoreQuery(params.by, params.period, params.since, params.until, site.schedule.timezone)
    statistics = Statistics(request.app.state.store)
    return score_rows(ledger.db, query, ledger.settings.scoring, site.windows, statistics)


@router.get("/scores")
def scores(request: Request, ledger: LedgerDep, params: ParamsDep) -> dict[str, Any]:
    site: Site = request.app.state.site
    rows = _rows(request, ledger, params)
    return {
        "by": params.by,
        "period": params.period,
        "from": params.since.isoformat(),
        "to": params.until.isoformat(),
        "timezone": site.schedule.timezone,
        "weights": ledger.settings.scoring.model_dump(),
        "items": [row.to_json() for row in rows],
    }


# (header, key of ScoreRow.to_json()); the first column's header depends on `by`
CSV_COLUMNS: tuple[tuple[str, str], ...] = (
    ("名称 (name)", "name"),
    ("周期 (period)", "period"),
    ("起始日期 (from)", "from"),
    ("截止日期 (to)", "to"),
    ("受理件数 (accepted)", "accepted"),
    ("办结件数 (completed)", "completed"),
    ("按时办结件数 (on time)", "on_time"),
    ("提前办结件数 (early)", "early"),
    ("按时办结率% (on-time rate %)", "on_time_rate"),
    ("提前办结率% (early rate %)", "early_rate"),
    ("预警 (warnings)", "warning_cards"),
    ("黄牌 (yellow cards)", "yellow_cards"),
    ("红牌 (red cards)", "red_cards"),
    ("空岗分钟 (vacancy minutes)", "vacancy_minutes"),
    ("排队人次 (waits)", "waits"),
    ("平均等候秒 (mean wait s)", "wait_mean_s"),
    ("最长等候秒 (max wait s)", "wait_max_s"),
    ("加分 (bonus)", "bonus"),
    ("得分 (score)", "score"),
)
GROUP_HEADERS = {"department": "部门 (department)", "window": "窗口 (window)"}
# A cell starting with one of these is a formula to Excel: it is written as text instead.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def scores_csv_text(by: str, rows: list[ScoreRow]) -> str:
    """The CSV text (without the BOM)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([GROUP_HEADERS[by], *(header for header, _ in CSV_COLUMNS)])
    for row in rows:
        data = row.to_json()
        writer.writerow([_cell(row.group), *(_cell(data[key]) for _, key in CSV_COLUMNS)])
    return out.getvalue()


@router.get("/scores.csv")
def scores_csv(
    request: Request, ledger: LedgerDep, params: ParamsDep, store: StoreDep, user: UserDep
) -> Response:
    rows = _rows(request, ledger, params)
    body = ("\ufeff" + scores_csv_text(params.by, rows)).encode("utf-8")
    name = f"scores-{params.by}-{params.period}-{params.since:%Y%m%d}-{params.until:%Y%m%d}.csv"
    # after the case store's transaction: by default the audit log is in the same SQLite file
    store.audit(user.username, "scores_exported", "scores.csv", by=params.by,
                period=params.period, since=params.since.isoformat(),
                until=params.until.isoformat(), rows=len(rows))  # fmt: skip
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )
