"""The case ledger: intake of validated events, projection of each touched case, its card.

`CaseLedger.ingest(source, events, now)` stores a batch in ONE transaction: the events not seen
before (idempotent by source and event id), then, for every case they touch, the case row
folded from all its events, its evaluation and its card with history. When it returns, all of
it is committed: the caller may answer 2xx. With each case row it keeps the facts the bulk
judgement needs (limits, pauses, limited steps: see cases.store).

`reevaluate_due(now)` re-judges the cases whose `next_change_at` has come (a deadline passed
without a new event) and `rejudge_open(now)` every open case (at start, or after a change of
rules or calendar); both judge in bulk (cases.rejudge, cases.judge) and write only what
changed. A calendar whose zone changes its UTC offset (summer time) is judged case by case.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cases.cards import (
    CardAction,
    CardLevel,
    CardRules,
    CardState,
    CaseView,
    Evaluation,
    evaluate,
    transition,
)
from cases.intake import EventBase, canonical_json
from cases.judge import Line, fixed_offset
from cases.projection import CaseFacts, case_view, fold
from cases.rejudge import (
    ALL_OPEN,
    Outcome,
    Rejudge,
    evaluation_digest,
    pack_facts,
    reasons_json,
)
from cases.rules import card_rules_for
from cases.store import IncomingEvent, append_events, events_of_cases
from cases.workdays import WorkCalendar
from hallwatch.config_cases import CasesSettings
from hallwatch.database import Cursor, Database, in_list


@dataclass(frozen=True, slots=True)
class IngestResult:
    accepted: int  # events stored now
    duplicates: int  # events already stored (sent again)
    cases: tuple[str, ...]  # cases re-evaluated


def incoming(event: EventBase) -> IncomingEvent:
    """The event as stored: its canonical content (`at` in UTC, absent fields left out), so a
    repeat with the same meaning is a duplicate whatever offset the source wrote."""
    body = json.loads(canonical_json(event))
    return IncomingEvent(event.event_id, event.case_id, event.type, event.at.timestamp(), body)


def _ts(when: dt.datetime | None) -> float | None:
    return None if when is None else when.timestamp()


class CaseLedger:
    def __init__(
        self,
        db: Database,
        calendar: WorkCalendar,
        settings: CasesSettings,
        *,
        bulk: bool = True,
    ) -> None:
        """`bulk=False` judges every re-judged case by folding its events (the reference path,
        slower; used where the calendar's zone has summer time, and by tests)."""
        self.db = db
        self.calendar = calendar
        self.settings = settings
        self._rules = lru_cache(maxsize=4096)(self._rules_of)
        offset = fixed_offset(calendar)
        self._line = Line(calendar, offset) if bulk and offset is not None else None

    def _rules_of(self, item_code: str) -> CardRules:
        return card_rules_for(self.settings, item_code)

    def ingest(
        self, source: str, events: Sequence[EventBase], now: dt.datetime | None = None
    ) -> IngestResult:
        when = now or dt.datetime.now(dt.UTC)
        with self.db.transaction() as cursor:
            fresh = append_events(cursor, source, [incoming(e) for e in events], time.time())
            touched = sorted({event.case_id for event in fresh})
            self._project(cursor, [(case_id, source) for case_id in touched], when)
        return IngestResult(len(fresh), len(events) - len(fresh), tuple(touched))

    def reevaluate_due(self, now: dt.datetime) -> int:
        """Re-judge every case whose card may have changed by `now`; returns how many."""
        return self._rejudge("c.next_change_at <= ?", (now.timestamp(),), now)

    def rejudge_open(self, now: dt.datetime) -> int:
        """Re-judge every open case (rules or calendar may have changed); returns how many."""
        return self._rejudge(ALL_OPEN, (), now)

    def _rejudge(self, where: str, params: tuple[object, ...], now: dt.datetime) -> int:
        with self.db.transaction() as cursor:
            if self._line is None:  # case by case
                rows = cursor.execute(
                    f"SELECT c.case_id, c.source FROM cases c WHERE c.status = 'open' AND {where}",
                    params,
                )
                self._project(cursor, [(r["case_id"], r["source"]) for r in rows], now)
                return len(rows)
            outcome: Outcome = Rejudge(cursor, self._line, self._rules).run(where, params, now)
            self._project(cursor, outcome.legacy, now)
        return outcome.judged + len(outcome.legacy)

    # --- cases ------------------------------------------------------------------------------

    def _project(self, cursor: Cursor, cases: Sequence[tuple[str, str]], now: dt.datetime) -> None:
        """Fold, judge and write `cases` ((case id, source)), reading and writing in chunks
        (a few statements per chunk, not per case: round trips dominate on PostgreSQL)."""
        for start in range(0, len(cases), CHUNK):
            chunk = cases[start : start + CHUNK]
            ids = [case_id for case_id, _ in chunk]
            events = events_of_cases(cursor, ids)
            cards = cards_of_cases(cursor, ids)
            values, judged = [], []
            for case_id, source in chunk:
                bodies = [event.body for event in events.get(case_id, [])]
                facts = fold(case_id, bodies, self.settings)
                view = case_view(facts, self.settings)
                evaluation = None
                if view is not None:
                    rules = self._rules(facts.item_code or "")
                    evaluation = evaluate(self.calendar, rules, view, now)
                    judged.append((case_id, evaluation))
                values.append(self._case_values(facts, source, view, evaluation, now))
            cursor.execute_many(UPSERT_CASE, values)
            for case_id, evaluation in judged:
                self._write_card(cursor, case_id, evaluation, now, cards.get(case_id))

    def _case_values(
        self,
        facts: CaseFacts,
        source: str,
        view: CaseView | None,
        evaluation: Evaluation | None,
        now: dt.datetime,
    ) -> tuple[object, ...]:
        accepted, completed = facts.accepted, facts.completed
        status = "open" if evaluation is None else evaluation.status.value
        completion = None if evaluation is None else evaluation.completion
        values = (
            facts.case_id, source,
            None if accepted is None else accepted.item_code,
            None if accepted is None else accepted.item_name,
            None if accepted is None else accepted.department,
            None if accepted is None else accepted.window_id,
            None if accepted is None else accepted.applicant_type.value,
            None if accepted is None else accepted.at.timestamp(),
            status,
            None if completed is None else completed.at.timestamp(),
            None if completed is None else completed.outcome.value,
            _ts(None if evaluation is None or evaluation.promised is None
                else evaluation.promised.at),
            _ts(None if evaluation is None or evaluation.legal is None else evaluation.legal.at),
            int(evaluation is not None and evaluation.provisional),
            int(bool(facts.pauses) and any(p.end is None for p in facts.pauses)),
            None if evaluation is None else evaluation.remaining_s,
            None if evaluation is None or evaluation.level is None else evaluation.level.value,
            _reasons_json(evaluation),
            None if completion is None else int(completion.on_time),
            None if completion is None else int(completion.early),
            _ts(None if evaluation is None else evaluation.next_change_at),
            now.timestamp(), time.time(),
        )  # fmt: skip
        return values + _limit_values(view) + (_digest(evaluation),)

    def _write_card(
        self,
        cursor: Cursor,
        case_id: str,
        evaluation: Evaluation,
        now: dt.datetime,
        row: dict[str, Any] | None,
    ) -> None:
        previous = None
        if row is not None:
            previous = CardState(
                CardLevel(row["level"]), row["state"] == "open", row["acknowledged_at"] is not None
            )
        change = transition(previous, evaluation)
        if change.state is None or change.actions == (CardAction.KEEP,):
            return
        at = now.timestamp()
        reasons = _reasons_json(evaluation)
        level = change.state.level.value
        card_id = None if row is None else int(row["id"])
        for action in change.actions:
            if action is CardAction.RAISE:
                (inserted,) = cursor.execute(
                    "INSERT INTO cards (case_id, level, state, reasons, raised_at)"
                    " VALUES (?, ?, 'open', ?, ?) RETURNING id",
                    (case_id, level, reasons, at),
                )
                card_id = int(inserted["id"])
            elif action is CardAction.ESCALATE:
                cursor.execute(
                    "UPDATE cards SET level = ?, reasons = ?, escalated_at = ?,"
                    " acknowledged_by = NULL, acknowledged_at = NULL, note = NULL,"
                    " published_state = NULL WHERE id = ?",
                    (level, reasons, at, card_id),
                )
            elif action is CardAction.CLOSE:
                cursor.execute(
                    "UPDATE cards SET state = 'closed', closed_at = ?, published_state = NULL"
                    " WHERE id = ?",
                    (at, card_id),
                )
            if action is not CardAction.KEEP:
                cursor.execute(
                    "INSERT INTO card_history (card_id, at, action, level) VALUES (?, ?, ?, ?)",
                    (card_id, at, action.value, level),
                )


CHUNK = 500  # cases per read: IN lists well under SQLite's and PostgreSQL's limits


def cards_of_cases(cursor: Cursor, case_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    rows = cursor.execute(
        "SELECT id, case_id, level, state, acknowledged_at FROM cards"
        f" WHERE case_id IN ({in_list(len(case_ids))})",
        tuple(case_ids),
    )
    return {row["case_id"]: row for row in rows}


def _reasons_json(evaluation: Evaluation | None) -> str:
    return "[]" if evaluation is None else reasons_json(evaluation.reasons)


def _digest(evaluation: Evaluation | None) -> int | None:
    if evaluation is None:
        return None
    return evaluation_digest(
        None if evaluation.level is None else evaluation.level.value,
        evaluation.reasons,
        _ts(None if evaluation.promised is None else evaluation.promised.at),
        _ts(None if evaluation.legal is None else evaluation.legal.at),
        evaluation.provisional,
        _ts(evaluation.next_change_at),
    )


def _limit_values(view: CaseView | None) -> tuple[object, ...]:
    """The fact columns of a case row: what the bulk judgement reads (cases.rejudge)."""
    if view is None:
        return (None,) * 8
    legal = view.legal
    return (
        view.promised.amount, view.promised.unit.value,
        None if legal is None else legal.amount, None if legal is None else legal.unit.value,
        *pack_facts(view),
    )  # fmt: skip


# the columns of a case row, in the order of CaseLedger._case_values
CASE_ROW = (
    "case_id", "source", "item_code", "item_name", "department", "window_id", "applicant_type",
    "accepted_at", "status", "completed_at", "outcome", "promised_deadline", "legal_deadline",
    "provisional", "suspended", "remaining_s", "card_level", "reasons", "on_time", "early",
    "next_change_at", "evaluated_at", "updated_at", "promised_amount", "promised_unit",
    "legal_amount", "legal_unit", "suspended_since", "pauses", "steps", "step_names",
    "judged_digest",
)  # fmt: skip
UPSERT_CASE = (
    f"INSERT INTO cases ({', '.join(CASE_ROW)}) VALUES ({in_list(len(CASE_ROW))})"
    " ON CONFLICT (case_id) DO UPDATE SET "
    + ", ".join(f"{name} = excluded.{name}" for name in CASE_ROW[1:])
)
