"""Re-judging many open cases at once: read their stored facts, judge them with `cases.judge`,
write only what changed.

Used by the ledger for the cases whose `next_change_at` has come (every tick) and for every
open case (at start, after a change of rules or calendar). In one transaction:

1. read the open cases selected by `where` with their card, their closed pauses and their
   limited steps (three queries, plain tuples);
2. judge them all at `now` (cases.judge);
3. keep the cases whose card level, reasons, deadlines, provisional flag or next change
   differ from what is stored, and the card action each needs (raise where there is no card,
   escalate an open card to a higher level: an open card is never lowered, as in
   cases.cards.transition);
4. copy those rows into a temporary table and apply them with a few set-based statements
   (case rows, raised cards, escalated cards, card history).

Rows written before the facts were kept (no `promised_amount`) are handed back to the caller,
which folds their events.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cases.cards import PAST_LEGAL, PROMISED_CHAIN, CardLevel, CardRules, Reason, step_overdue
from cases.judge import (
    NEVER,
    UNIT_CODES,
    Ints,
    Judgement,
    Limits,
    Line,
    OpenCases,
    Pauses,
    RuleArrays,
    judge,
    padded_spans,
)
from hallwatch.database import Cursor

LEVELS: tuple[str | None, ...] = (None, CardLevel.WARNING, CardLevel.YELLOW, CardLevel.RED)
_RANKS = {None: 0, CardLevel.WARNING.value: 1, CardLevel.YELLOW.value: 2, CardLevel.RED.value: 3}
_UNITS = {unit.value: code for unit, code in UNIT_CODES.items()}

CASE_COLUMNS = (
    "c.case_id, c.source, c.item_code, c.accepted_at, c.promised_amount, c.promised_unit,"
    " c.legal_amount, c.legal_unit, c.suspended_since, c.card_level, c.reasons,"
    " c.next_change_at, c.promised_deadline, c.legal_deadline, c.provisional, k.level, k.state"
)

TEMP_TABLE = """
CREATE TEMP TABLE IF NOT EXISTS rejudged (
    case_id TEXT PRIMARY KEY,
    level TEXT,
    reasons TEXT NOT NULL,
    promised_deadline DOUBLE PRECISION,
    legal_deadline DOUBLE PRECISION,
    provisional INTEGER NOT NULL,
    remaining_s DOUBLE PRECISION,
    next_change_at DOUBLE PRECISION,
    action TEXT
)
"""
TEMP_COLUMNS = (
    "case_id", "level", "reasons", "promised_deadline", "legal_deadline", "provisional",
    "remaining_s", "next_change_at", "action",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Outcome:
    judged: int  # cases judged in bulk
    changed: int  # of them, cases whose row or card changed
    raised: int
    escalated: int
    legacy: tuple[tuple[str, str], ...]  # (case id, source) without stored facts: fold these


def seconds_to_us(values: Sequence[Any]) -> Ints:
    """Stored UNIX seconds (REAL) to integer microseconds; NULL as 0."""
    floats = np.asarray([0.0 if v is None else v for v in values], dtype=np.float64)
    return np.round(floats * 1_000_000).astype(np.int64)


def _limits(amounts: Sequence[Any], units: Sequence[Any]) -> Limits:
    amount = np.asarray([-1 if a is None else a for a in amounts], dtype=np.int64)
    unit = np.asarray([_UNITS.get(u, 0) for u in units], dtype=np.int64)
    return Limits(amount, unit)


def reasons_json(reasons: Sequence[Reason]) -> str:
    return json.dumps(
        [{"code": r.code, "text": r.text, "level": r.level.value} for r in reasons],
        ensure_ascii=False,
    )


class Rejudge:
    """One bulk re-judgement inside the caller's transaction."""

    def __init__(self, cursor: Cursor, line: Line, rules_of: Callable[[str], CardRules]) -> None:
        self.cursor = cursor
        self.line = line
        self.rules_of = rules_of

    def run(self, where: str, params: Sequence[Any], now: dt.datetime) -> Outcome:
        rows = self.cursor.tuples(
            f"SELECT {CASE_COLUMNS} FROM cases c LEFT JOIN cards k ON k.case_id = c.case_id"
            f" WHERE c.status = 'open' AND {where}",
            params,
        )
        legacy = tuple((r[0], r[1]) for r in rows if r[4] is None)
        rows = [r for r in rows if r[4] is not None]
        if not rows:
            return Outcome(0, 0, 0, 0, legacy)
        index = {row[0]: n for n, row in enumerate(rows)}
        pauses = self.cursor.tuples(
            "SELECT p.case_id, p.starts_at, p.ends_at FROM case_pauses p"
            f" JOIN cases c ON c.case_id = p.case_id WHERE c.status = 'open' AND {where}",
            params,
        )
        steps = self.cursor.tuples(
            "SELECT s.case_id, s.seq, s.name, s.started_at, s.ended_at, s.amount, s.unit"
            f" FROM case_steps s JOIN cases c ON c.case_id = s.case_id"
            f" WHERE c.status = 'open' AND {where}",
            params,
        )
        steps = sorted((s for s in steps if s[0] in index), key=lambda s: (index[s[0]], s[1]))
        cases = self._arrays(rows, index, [p for p in pauses if p[0] in index], steps)
        now_us = np.full(len(rows), round(now.timestamp() * 1_000_000), dtype=np.int64)
        result = judge(self.line, cases, now_us)
        changes = self._changes(rows, result, cases, [s[2] for s in steps])
        raised, escalated = self._write(changes, now)
        return Outcome(len(rows), len(changes), raised, escalated, legacy)

    def _arrays(
        self,
        rows: Sequence[tuple[Any, ...]],
        index: dict[str, int],
        pauses: Sequence[tuple[Any, ...]],
        steps: Sequence[tuple[Any, ...]],
    ) -> OpenCases:
        columns = list(zip(*rows, strict=True))
        n = len(rows)
        pause_case = np.asarray([index[p[0]] for p in pauses], dtype=np.int64)
        pause_start, pause_end = (
            seconds_to_us([p[1] for p in pauses]),
            seconds_to_us([p[2] for p in pauses]),
        )
        order = np.lexsort((pause_start, pause_case))
        spans = padded_spans(n, pause_case[order], pause_start[order], pause_end[order])
        codes = {code: k for k, code in enumerate(sorted({c or "" for c in columns[2]}))}
        rules = RuleArrays.of(
            [self.rules_of(code) for code in codes],
            np.asarray([codes[c or ""] for c in columns[2]], dtype=np.int64),
        )
        return OpenCases(
            accepted=seconds_to_us(columns[3]),
            promised=_limits(columns[4], columns[5]),
            legal=_limits(columns[6], columns[7]),
            pauses=Pauses(
                spans,
                seconds_to_us(columns[8]),
                np.asarray([v is not None for v in columns[8]], dtype=bool),
            ),
            rules=rules,
            step_case=np.asarray([index[s[0]] for s in steps], dtype=np.int64),
            step_start=seconds_to_us([s[3] for s in steps]),
            step_end=seconds_to_us([s[4] for s in steps]),
            step_ended=np.asarray([s[4] is not None for s in steps], dtype=bool),
            step_limit=_limits([s[5] for s in steps], [s[6] for s in steps]),
        )

    def _changes(
        self,
        rows: Sequence[tuple[Any, ...]],
        result: Judgement,
        cases: OpenCases,
        step_names: Sequence[str],
    ) -> list[tuple[Any, ...]]:
        """The rows of the temporary table: the cases whose judgement differs from the stored."""
        texts = _reason_texts(result, cases, step_names)
        promised = result.promised_at / 1_000_000
        legal = np.where(result.legal_at == NEVER, np.nan, result.legal_at / 1_000_000)
        upcoming = np.where(
            result.next_change_at == NEVER, np.nan, result.next_change_at / 1_000_000
        )
        remaining = result.remaining_us / 1_000_000
        changes = []
        for n, row in enumerate(rows):
            level = LEVELS[int(result.level[n])]
            new = (
                level, texts[n], float(promised[n]), _none(legal[n]),
                int(result.provisional[n]), _none(upcoming[n]),
            )  # fmt: skip
            if new == (row[9], row[10], row[12], row[13], int(row[14]), row[11]):
                continue
            action = _action(level, row[15], row[16])
            changes.append((row[0], *new[:5], float(remaining[n]), new[5], action))
        return changes

    def _write(self, changes: Sequence[tuple[Any, ...]], now: dt.datetime) -> tuple[int, int]:
        if not changes:
            return 0, 0
        cursor, at = self.cursor, now.timestamp()
        cursor.script(TEMP_TABLE)
        cursor.execute("DELETE FROM rejudged")
        cursor.copy_in("rejudged", TEMP_COLUMNS, changes)
        cursor.execute(
            "UPDATE cases SET card_level = r.level, reasons = r.reasons,"
            " promised_deadline = r.promised_deadline, legal_deadline = r.legal_deadline,"
            " provisional = r.provisional, remaining_s = r.remaining_s,"
            " next_change_at = r.next_change_at, evaluated_at = ?, updated_at = ?"
            " FROM rejudged r WHERE cases.case_id = r.case_id",
            (at, time.time()),
        )
        cursor.execute(
            "INSERT INTO cards (case_id, level, state, reasons, raised_at)"
            " SELECT case_id, level, 'open', reasons, ? FROM rejudged WHERE action = 'raise'",
            (at,),
        )
        cursor.execute(
            "UPDATE cards SET level = r.level, reasons = r.reasons, escalated_at = ?,"
            " acknowledged_by = NULL, acknowledged_at = NULL, note = NULL,"
            " published_state = NULL FROM rejudged r"
            " WHERE cards.case_id = r.case_id AND r.action = 'escalate'",
            (at,),
        )
        cursor.execute(
            "INSERT INTO card_history (card_id, at, action, level)"
            " SELECT k.id, ?, r.action, r.level FROM cards k JOIN rejudged r"
            " ON r.case_id = k.case_id WHERE r.action IN ('raise', 'escalate')",
            (at,),
        )
        actions = [change[-1] for change in changes]
        return actions.count("raise"), actions.count("escalate")


def _none(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def _action(level: str | None, card_level: str | None, card_state: str | None) -> str | None:
    """As cases.cards.transition for an open case: raise, escalate an open card, else keep."""
    if level is None:
        return None
    if card_level is None:
        return "raise"
    if card_state == "open" and _RANKS[level] > _RANKS[card_level]:
        return "escalate"
    return None


def _reason_texts(result: Judgement, cases: OpenCases, step_names: Sequence[str]) -> list[str]:
    """Each case's reasons as stored (JSON), in the reference's order: the promised chain's
    highest reason, past the legal limit, then each overdue step in order."""
    simple = [
        reasons_json(
            ([PROMISED_CHAIN[chain - 1]] if chain else []) + ([PAST_LEGAL] if legal else [])
        )
        for chain in range(4)
        for legal in (False, True)
    ]
    texts = [simple[c * 2 + int(lg)] for c, lg in zip(result.chain, result.past_legal, strict=True)]
    overdue = np.flatnonzero(result.step_overdue)
    by_case: dict[int, list[Reason]] = {}
    for row in overdue:
        by_case.setdefault(int(cases.step_case[row]), []).append(step_overdue(step_names[int(row)]))
    for n, steps in by_case.items():
        chain = int(result.chain[n])
        head = ([PROMISED_CHAIN[chain - 1]] if chain else []) + (
            [PAST_LEGAL] if result.past_legal[n] else []
        )
        texts[n] = reasons_json(head + steps)
    return texts
