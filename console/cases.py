"""Case supervision API: cases with their deadlines and cards, the link to video, card review.

Every route needs a logged-in user (the router's dependency); acknowledging a card needs an
inspector (or admin). The routes read `app.state.cases` (console.app.CaseSetup | None) and
answer 503 when no case store is set up. Times are UNIX seconds.

- `GET /api/cases`: {"items": [case], "total": n}, most urgent first: open cases with a red,
  yellow, warning card, then by promised deadline. Filters: status, card (a level or "none"),
  department, window, item (item code), provisional, from/to (accepted at, inclusive),
  limit (1..500), offset.
- `GET /api/cases/{case_id}`: the case plus its events, its card with history (or null) and
  `video`: where and when each part of the case was handled (acceptance at its window, each
  step at a window), with the window's camera, ready for `/api/recordings` or the live feed;
  `clock`: the promised limit in working days (clock start, deadline with pauses, office time
  paused, used and remaining at now or at completion; null without acceptance or limit),
  `steps` (each with the working days it took) and `pauses` (each with its working days).
- `GET /api/cards`: {"items": [card], "total": n}, open before closed, most severe and oldest
  first, each with its case's item name, department and window.
- `POST /api/cards/{card_id}/acknowledge` {"note"}: an inspector acknowledges the card's current
  level (a red card needs a note); 409 when the card is closed or that level was acknowledged
  already. Audited as "card_acknowledged". A later escalation clears the acknowledgement.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from cases.cards import CardLevel, CaseStatus, Step
from cases.clock import (
    Limit,
    Pause,
    clock_start,
    deadline,
    limit_office_seconds,
    merge_pauses,
    signed_working_seconds,
    working_seconds,
)
from cases.ledger import CaseLedger
from cases.projection import CaseFacts, Place, fold, promised_limit
from cases.store import URGENCY_ORDER, StoredEvent, events_of
from cases.workdays import MICROS, WorkCalendar
from console.auth import (
    MAX_ID,
    InspectorDep,
    StoreDep,
    current_user,
    problem,
    unprocessable,
)
from console.recordings import MAX_RANGE_S
from hallwatch.config import Site
from hallwatch.database import Cursor, Row

router = APIRouter(prefix="/api", dependencies=[Depends(current_user)])

# Recordings are opened from a little before a place's start to a little after its end: an
# acceptance is recorded as one instant, after the applicant has been served at the counter.
PLAY_MARGIN_S = 300.0

CASE_COLUMNS = (
    "case_id, item_code, item_name, department, window_id, applicant_type, accepted_at,"
    " status, completed_at, outcome, promised_deadline, legal_deadline, provisional,"
    " suspended, remaining_s, card_level, reasons, on_time, early, evaluated_at"
)
CARD_COLUMNS = (
    "c.id, c.case_id, c.level, c.state, c.reasons, c.raised_at, c.escalated_at,"
    " c.acknowledged_by, c.acknowledged_at, c.note, c.closed_at"
)
SEVERITY = (
    "CASE WHEN c.state = 'open' THEN 0 ELSE 1 END,"
    " CASE c.level WHEN 'red' THEN 0 WHEN 'yellow' THEN 1 ELSE 2 END, c.raised_at, c.id"
)


def _ledger(request: Request) -> CaseLedger:
    cases = getattr(request.app.state, "cases", None)
    if cases is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "case store not set up")
    ledger: CaseLedger = cases.ledger
    return ledger


LedgerDep = Annotated[CaseLedger, Depends(_ledger)]


def _flag(value: Any) -> bool | None:
    return None if value is None else bool(value)


def case_json(row: Row) -> dict[str, Any]:
    return {
        "case_id": row["case_id"],
        "item_code": row["item_code"],
        "item_name": row["item_name"],
        "department": row["department"],
        "window_id": row["window_id"],
        "applicant_type": row["applicant_type"],
        "accepted_at": row["accepted_at"],
        "status": row["status"],
        "completed_at": row["completed_at"],
        "outcome": row["outcome"],
        "promised_deadline": row["promised_deadline"],
        "legal_deadline": row["legal_deadline"],
        "provisional": bool(row["provisional"]),
        "suspended": bool(row["suspended"]),
        "remaining_s": row["remaining_s"],  # as of evaluated_at
        "card_level": row["card_level"],
        "reasons": json.loads(row["reasons"]),
        "on_time": _flag(row["on_time"]),
        "early": _flag(row["early"]),
        "evaluated_at": row["evaluated_at"],
    }


def card_json(row: Row) -> dict[str, Any]:
    return {
        "id": int(row["id"]),
        "case_id": row["case_id"],
        "level": row["level"],
        "state": row["state"],
        "reasons": json.loads(row["reasons"]),
        "raised_at": row["raised_at"],
        "escalated_at": row["escalated_at"],
        "acknowledged_by": row["acknowledged_by"],
        "acknowledged_at": row["acknowledged_at"],
        "note": row["note"],
        "closed_at": row["closed_at"],
    }


def _where(clauses: list[str]) -> str:
    return f" WHERE {' AND '.join(clauses)}" if clauses else ""


@router.get("/cases")
def list_cases(
    ledger: LedgerDep,
    case_status: Annotated[CaseStatus | None, Query(alias="status")] = None,
    card: Literal["warning", "yellow", "red", "none"] | None = None,
    department: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    window: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    item: Annotated[str | None, Query(min_length=1, max_length=64, description="item code")] = None,
    provisional: bool | None = None,
    since: Annotated[float | None, Query(alias="from", ge=0, description="UNIX time")] = None,
    until: Annotated[float | None, Query(alias="to", ge=0, description="UNIX time")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> dict[str, Any]:
    if since is not None and until is not None and until < since:
        raise unprocessable([problem("query", "to", "'to' must not be before 'from'")])
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (("status", case_status), ("department", department),
                          ("window_id", window), ("item_code", item)):  # fmt: skip
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(str(value))
    if card == "none":
        clauses.append("card_level IS NULL")
    elif card is not None:
        clauses.append("card_level = ?")
        params.append(card)
    if provisional is not None:
        clauses.append("provisional = ?")
        params.append(int(provisional))
    if since is not None:
        clauses.append("accepted_at >= ?")
        params.append(since)
    if until is not None:
        clauses.append("accepted_at <= ?")
        params.append(until)
    where = _where(clauses)
    with ledger.db.transaction() as cursor:  # the page and its total in one transaction
        (count,) = cursor.execute(f"SELECT COUNT(*) AS n FROM cases{where}", params)
        rows = cursor.execute(
            f"SELECT {CASE_COLUMNS} FROM cases{where} ORDER BY {URGENCY_ORDER} LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
    return {"items": [case_json(row) for row in rows], "total": int(count["n"])}


def _card_of(cursor: Cursor, where: str, key: Any) -> dict[str, Any] | None:
    rows = cursor.execute(f"SELECT {CARD_COLUMNS} FROM cards c WHERE {where}", (key,))
    if not rows:
        return None
    card = card_json(rows[0])
    history = cursor.execute(
        "SELECT at, action, level, by_user, note FROM card_history WHERE card_id = ?"
        " ORDER BY id",  # as it happened: a ledger's `at` is its evaluation time, not the clock
        (card["id"],),
    )
    card["history"] = [dict(entry) for entry in history]
    return card


def _ts(when: dt.datetime | None) -> float | None:
    return None if when is None else when.timestamp()


def place_json(site: Site, place: Place, now: float) -> dict[str, Any]:
    """Where and when a part of the case was handled, and how to play it."""
    start, end = place.start.timestamp(), _ts(place.end)
    window = site.window_by_id(place.window_id)
    camera = None if window is None else window.camera
    entry: dict[str, Any] = {
        "what": place.what,
        "window_id": place.window_id,
        "window_name": None if window is None else window.name,
        "camera": camera,
        "from": start,
        "to": end,  # None: still going on
        "recording": None,
        "live": camera is not None and end is None,
        "note": None,
    }
    if camera is None:
        entry["note"] = f"window '{place.window_id}' is not in the site config: no camera known"
        return entry
    first = start - PLAY_MARGIN_S
    last = min(max(now if end is None else end, start) + PLAY_MARGIN_S, first + MAX_RANGE_S)
    entry["recording"] = "/api/recordings?" + urlencode(
        {"camera": camera, "from": f"{first:.3f}", "to": f"{last:.3f}"}
    )
    return entry


def event_json(event: StoredEvent) -> dict[str, Any]:
    return {"event_id": event.event_id, "source": event.source, "type": event.type,
            "at": event.at, "body": event.body}  # fmt: skip


@dataclass(frozen=True, slots=True)
class ClockFigures:
    """A case's promised limit in working days: when its clock started, how long it was paused,
    its deadline, and the office time used and left at `until` (now, or its completion)."""

    limit: Limit
    accepted_at: dt.datetime
    clock_start: dt.datetime
    deadline: dt.datetime
    until: dt.datetime
    allowed_days: float  # office time the limit allows, in working days
    paused_days: float  # office time inside the pauses that move the deadline
    used_days: float  # office time the clock ran from its start to `until`, pauses left out
    remaining_days: float  # office time from `until` (or the clock's start) to the deadline
    provisional: bool
    suspended: bool


def _days(calendar: WorkCalendar, seconds: float) -> float:
    return round(seconds / (calendar.day_micros / MICROS), 4)


def paused_office_seconds(
    calendar: WorkCalendar, spans: list[tuple[dt.datetime, dt.datetime]], start: dt.datetime,
    before: dt.datetime, until: dt.datetime | None = None,
) -> float:  # fmt: skip
    """Office time inside `spans` after `start`, of the spans that begin before `before`,
    each cut at `until` when given."""
    total = 0.0
    for span_start, span_end in spans:
        begin = max(span_start, start)
        if begin >= before:
            break
        end = span_end if until is None else min(span_end, until)
        total += working_seconds(calendar, begin, end)
    return total


def clock_figures(
    calendar: WorkCalendar,
    accepted_at: dt.datetime,
    limit: Limit,
    pauses: Sequence[Pause],
    now: dt.datetime,
    completed_at: dt.datetime | None = None,
) -> ClockFigures:
    """The working-day arithmetic of a promised limit, as the case page shows it (pure)."""
    until = now if completed_at is None else completed_at
    due = deadline(calendar, accepted_at, limit, pauses, until)
    start = clock_start(calendar, accepted_at, limit)
    spans = merge_pauses(pauses, until)
    paused = paused_office_seconds(calendar, spans, start, due.at)
    paused_until = paused_office_seconds(calendar, spans, start, due.at, until)
    used = max(working_seconds(calendar, start, until) - paused_until, 0.0)
    left = signed_working_seconds(calendar, max(until, start), due.at)
    return ClockFigures(
        limit=limit,
        accepted_at=accepted_at,
        clock_start=start,
        deadline=due.at,
        until=until,
        allowed_days=_days(calendar, limit_office_seconds(calendar, accepted_at, limit)),
        paused_days=_days(calendar, paused),
        used_days=_days(calendar, used),
        remaining_days=_days(calendar, left),
        provisional=due.provisional,
        suspended=due.suspended,
    )


def clock_json(figures: ClockFigures) -> dict[str, Any]:
    return {
        "limit": {"amount": figures.limit.amount, "unit": figures.limit.unit.value},
        "accepted_at": figures.accepted_at.timestamp(),
        "clock_start": figures.clock_start.timestamp(),
        "deadline": figures.deadline.timestamp(),
        "until": figures.until.timestamp(),
        "allowed_days": figures.allowed_days,
        "paused_days": figures.paused_days,
        "used_days": figures.used_days,
        "remaining_days": figures.remaining_days,
        "overdue": figures.until > figures.deadline,
        "provisional": figures.provisional,
        "suspended": figures.suspended,
    }


def _limit_json(limit: Limit | None) -> dict[str, Any] | None:
    return None if limit is None else {"amount": limit.amount, "unit": limit.unit.value}


def step_json(calendar: WorkCalendar, step: Step, now: dt.datetime) -> dict[str, Any]:
    """A handling step with the working days it took (so far, while open)."""
    end = step.end or now
    took = working_seconds(calendar, step.start, end)
    return {"name": step.name, "start": step.start.timestamp(), "end": _ts(step.end),
            "limit": _limit_json(step.limit), "working_days": _days(calendar, took)}  # fmt: skip


def pause_json(calendar: WorkCalendar, pause: Pause, now: dt.datetime) -> dict[str, Any]:
    end = pause.end or max(now, pause.start)
    took = working_seconds(calendar, pause.start, end)
    return {"start": pause.start.timestamp(), "end": _ts(pause.end),
            "working_days": _days(calendar, took)}  # fmt: skip


def case_clock(ledger: CaseLedger, facts: CaseFacts, now: dt.datetime) -> dict[str, Any] | None:
    """The promised limit's working-day figures; None without an acceptance or a limit."""
    limit = promised_limit(facts, ledger.settings)
    if facts.accepted is None or limit is None:
        return None
    completed = None if facts.completed is None else facts.completed.at
    figures = clock_figures(ledger.calendar, facts.accepted.at, limit, facts.pauses, now,
                            completed)  # fmt: skip
    return clock_json(figures)


@router.get("/cases/{case_id}")
def case_detail(
    case_id: Annotated[str, Path(min_length=1, max_length=64)],
    request: Request,
    ledger: LedgerDep,
) -> dict[str, Any]:
    with ledger.db.transaction() as cursor:
        rows = cursor.execute(f"SELECT {CASE_COLUMNS} FROM cases WHERE case_id = ?", (case_id,))
        if not rows:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no case '{case_id}'")
        events = events_of(cursor, case_id)
        card = _card_of(cursor, "c.case_id = ?", case_id)
    facts = fold(case_id, [event.body for event in events], ledger.settings)
    site: Site = request.app.state.site
    now = time.time()
    moment = dt.datetime.fromtimestamp(now, dt.UTC)
    calendar = ledger.calendar
    return {
        **case_json(rows[0]),
        "events": [event_json(event) for event in events],
        "card": card,
        "video": [place_json(site, place, now) for place in facts.places],
        "clock": case_clock(ledger, facts, moment),
        "steps": [step_json(calendar, step, moment) for step in facts.steps],
        "pauses": [pause_json(calendar, pause, moment) for pause in facts.pauses],
    }


@router.get("/cards")
def list_cards(
    ledger: LedgerDep,
    state: Literal["open", "closed"] | None = None,
    level: CardLevel | None = None,
    department: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    acknowledged: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> dict[str, Any]:
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (("c.state", state), ("c.level", level), ("k.department", department)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(str(value))
    if acknowledged is not None:
        clauses.append(f"c.acknowledged_at IS {'NOT ' if acknowledged else ''}NULL")
    where = _where(clauses)
    joined = f"FROM cards c JOIN cases k ON k.case_id = c.case_id{where}"
    with ledger.db.transaction() as cursor:
        (count,) = cursor.execute(f"SELECT COUNT(*) AS n {joined}", params)
        rows = cursor.execute(
            f"SELECT {CARD_COLUMNS}, k.item_name, k.department, k.window_id {joined}"
            f" ORDER BY {SEVERITY} LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
    items = [{**card_json(row), "item_name": row["item_name"], "department": row["department"],
              "window_id": row["window_id"]} for row in rows]  # fmt: skip
    return {"items": items, "total": int(count["n"])}


Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class AcknowledgeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Note | None = Field(default=None, description="Required for red cards; 1..500 chars")


@router.post("/cards/{card_id}/acknowledge")
def acknowledge_card(
    card_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    ledger: LedgerDep,
    store: StoreDep,
    user: InspectorDep,
    body: AcknowledgeBody | None = None,
) -> dict[str, Any]:
    note = None if body is None else body.note
    with ledger.db.transaction() as cursor:
        rows = cursor.execute(
            "SELECT case_id, level, state, acknowledged_at FROM cards WHERE id = ?", (card_id,)
        )
        if not rows:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no card {card_id}")
        card = rows[0]
        if card["state"] != "open":
            raise HTTPException(status.HTTP_409_CONFLICT, "the card is closed")
        if card["acknowledged_at"] is not None:
            raise HTTPException(
                status.HTTP_409_CONFLICT, f"the card's {card['level']} level is acknowledged"
            )
        if card["level"] == CardLevel.RED.value and note is None:
            raise unprocessable([problem("body", "note", "a red card needs a note")])
        at = time.time()
        updated = cursor.execute(  # only the card as read: never the level escalated meanwhile
            "UPDATE cards SET acknowledged_by = ?, acknowledged_at = ?, note = ?"
            " WHERE id = ? AND state = 'open' AND level = ? AND acknowledged_at IS NULL"
            " RETURNING id",
            (user.username, at, note, card_id, card["level"]),
        )
        if not updated:
            raise HTTPException(status.HTTP_409_CONFLICT, "the card changed meanwhile: reload it")
        cursor.execute(
            "INSERT INTO card_history (card_id, at, action, level, by_user, note)"
            " VALUES (?, ?, 'acknowledge', ?, ?, ?)",
            (card_id, at, card["level"], user.username, note),
        )
        answer = _card_of(cursor, "c.id = ?", card_id)
    # after the commit: by default the audit log is in the same SQLite file, whose write lock
    # the transaction above holds
    store.audit(user.username, "card_acknowledged", f"card/{card_id}",
                case=card["case_id"], level=card["level"], note=note)  # fmt: skip
    assert answer is not None
    return answer
