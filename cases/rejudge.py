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
import zlib
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
_UNITS = {unit.value: code for unit, code in UNIT_CODES.items()}
LEVEL_CODES = {
    None: 0,
    CardLevel.WARNING.value: 1,
    CardLevel.YELLOW.value: 2,
    CardLevel.RED.value: 3,
}

# the facts as numbers: no NULLs, units as UNIT_CODES, so columns become arrays in one step
CASE_COLUMNS = (
    "c.case_id, COALESCE(c.item_code, ''), c.accepted_at, c.promised_amount,"
    " {promised_unit}, COALESCE(c.legal_amount, -1), {legal_unit},"
    " COALESCE(c.suspended_since, 0), CASE WHEN c.suspended_since IS NULL THEN 0 ELSE 1 END,"
    " COALESCE(c.judged_digest, 0), k.level, k.state"
)


def _unit_code(column: str) -> str:
    cases = " ".join(f"WHEN '{unit.value}' THEN {code}" for unit, code in UNIT_CODES.items())
    return f"CASE {column} {cases} ELSE 0 END"


CASE_COLUMNS = CASE_COLUMNS.format(
    promised_unit=_unit_code("c.promised_unit"), legal_unit=_unit_code("c.legal_unit")
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
    judged_digest BIGINT NOT NULL,
    action TEXT
)
"""
TEMP_COLUMNS = (
    "case_id", "level", "reasons", "promised_deadline", "legal_deadline", "provisional",
    "remaining_s", "next_change_at", "judged_digest", "action",
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
    return Limits(np.asarray(amounts, dtype=np.int64), np.asarray(units, dtype=np.int64))


def reasons_json(reasons: Sequence[Reason]) -> str:
    return json.dumps(
        [{"code": r.code, "text": r.text, "level": r.level.value} for r in reasons],
        ensure_ascii=False,
    )


_MIX = np.uint64(0x9E3779B97F4A7C15)


def judgement_digest(
    level: Ints, reasons_crc: Ints, promised_us: Ints, legal_us: Ints, provisional: Ints,
    next_us: Ints,
) -> Ints:  # fmt: skip
    """A 64-bit digest of what a judgement writes to a case row (level, reasons, deadlines,
    provisional, next change; NEVER for an absent instant): equal judgements give equal
    digests, so a re-judgement finds what changed by comparing one stored number."""
    digest = np.zeros(level.shape, dtype=np.uint64)
    for part in (level, reasons_crc, promised_us, legal_us, provisional, next_us):
        digest = (digest ^ part.astype(np.int64).view(np.uint64)) * _MIX
        digest ^= digest >> np.uint64(29)
    return digest.view(np.int64)


def evaluation_digest(
    level: str | None, reasons: str, promised: float | None, legal: float | None,
    provisional: bool, next_change: float | None,
) -> int:  # fmt: skip
    """`judgement_digest` of one evaluation as the ledger stores it (seconds, JSON reasons)."""

    def instant(value: float | None) -> Ints:
        at = NEVER if value is None else round(value * 1_000_000)
        return np.asarray([at], dtype=np.int64)

    def number(value: int) -> Ints:
        return np.asarray([value], dtype=np.int64)

    digest = judgement_digest(
        number(LEVEL_CODES[level]), number(zlib.crc32(reasons.encode())), instant(promised),
        instant(legal), number(int(provisional)), instant(next_change),
    )  # fmt: skip
    return int(digest[0])


class Rejudge:
    """One bulk re-judgement inside the caller's transaction."""

    def __init__(self, cursor: Cursor, line: Line, rules_of: Callable[[str], CardRules]) -> None:
        self.cursor = cursor
        self.line = line
        self.rules_of = rules_of

    def run(self, where: str, params: Sequence[Any], now: dt.datetime) -> Outcome:
        legacy = tuple(
            (row[0], row[1])
            for row in self.cursor.tuples(
                "SELECT c.case_id, c.source FROM cases c WHERE c.status = 'open'"
                f" AND c.promised_amount IS NULL AND c.accepted_at IS NOT NULL AND {where}",
                params,
            )
        )
        rows = self.cursor.tuples(
            f"SELECT {CASE_COLUMNS} FROM cases c LEFT JOIN cards k ON k.case_id = c.case_id"
            f" WHERE c.status = 'open' AND c.promised_amount IS NOT NULL AND {where}",
            params,
        )
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
        columns = list(zip(*rows, strict=True))
        cases = self._arrays(columns, index, [p for p in pauses if p[0] in index], steps)
        now_us = np.full(len(rows), round(now.timestamp() * 1_000_000), dtype=np.int64)
        result = judge(self.line, cases, now_us)
        changes = self._changes(columns, result, cases, [s[2] for s in steps])
        raised, escalated = self._write(changes, now)
        return Outcome(len(rows), len(changes), raised, escalated, legacy)

    def _arrays(
        self,
        columns: Sequence[Sequence[Any]],
        index: dict[str, int],
        pauses: Sequence[tuple[Any, ...]],
        steps: Sequence[tuple[Any, ...]],
    ) -> OpenCases:
        n = len(columns[0])
        pause_case = np.asarray([index[p[0]] for p in pauses], dtype=np.int64)
        pause_start, pause_end = (
            seconds_to_us([p[1] for p in pauses]),
            seconds_to_us([p[2] for p in pauses]),
        )
        order = np.lexsort((pause_start, pause_case))
        spans = padded_spans(n, pause_case[order], pause_start[order], pause_end[order])
        codes = {code: k for k, code in enumerate(sorted(set(columns[1])))}
        rules = RuleArrays.of(
            [self.rules_of(code) for code in codes],
            np.asarray([codes[c] for c in columns[1]], dtype=np.int64),
        )
        return OpenCases(
            accepted=seconds_to_us(columns[2]),
            promised=_limits(columns[3], columns[4]),
            legal=_limits(columns[5], columns[6]),
            pauses=Pauses(spans, seconds_to_us(columns[7]), np.asarray(columns[8], dtype=bool)),
            rules=rules,
            step_case=np.asarray([index[s[0]] for s in steps], dtype=np.int64),
            step_start=seconds_to_us([s[3] for s in steps]),
            step_end=seconds_to_us([s[4] for s in steps]),
            step_ended=np.asarray([s[4] is not None for s in steps], dtype=bool),
            step_limit=_limits([s[5] for s in steps], [_UNITS[s[6]] for s in steps]),
        )

    def _changes(
        self,
        columns: Sequence[Sequence[Any]],
        result: Judgement,
        cases: OpenCases,
        step_names: Sequence[str],
    ) -> list[tuple[Any, ...]]:
        """The rows of the temporary table: the cases whose judgement's digest differs from the
        stored one (reasons are written out for those only)."""
        texts = _reason_texts(result, cases, step_names)
        crcs = np.asarray([zlib.crc32(text.encode()) for text in texts.values], dtype=np.int64)
        digest = judgement_digest(
            result.level, crcs[texts.index], result.promised_at, result.legal_at,
            result.provisional.astype(np.int64), result.next_change_at,
        )  # fmt: skip
        changed = np.flatnonzero(digest != np.asarray(columns[9], dtype=np.int64))
        changes = []
        for n in changed.tolist():
            level = LEVELS[int(result.level[n])]
            changes.append((
                columns[0][n], level, texts.values[texts.index[n]],
                int(result.promised_at[n]) / 1_000_000, _seconds(int(result.legal_at[n])),
                int(result.provisional[n]), int(result.remaining_us[n]) / 1_000_000,
                _seconds(int(result.next_change_at[n])), int(digest[n]),
                _action(level, columns[10][n], columns[11][n]),
            ))  # fmt: skip
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
            " next_change_at = r.next_change_at, judged_digest = r.judged_digest,"
            " evaluated_at = ?, updated_at = ?"
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


def _seconds(us: int) -> float | None:
    return None if us == NEVER else us / 1_000_000


def _action(level: str | None, card_level: str | None, card_state: str | None) -> str | None:
    """As cases.cards.transition for an open case: raise, escalate an open card, else keep."""
    if level is None:
        return None
    if card_level is None:
        return "raise"
    if card_state == "open" and LEVEL_CODES[level] > LEVEL_CODES[card_level]:
        return "escalate"
    return None


@dataclass(frozen=True, slots=True)
class Texts:
    """Distinct reason texts (JSON), and for each case the index of its own."""

    values: list[str]
    index: Ints


def _reason_texts(result: Judgement, cases: OpenCases, step_names: Sequence[str]) -> Texts:
    """Each case's reasons as stored (JSON), in the reference's order: the promised chain's
    highest reason, past the legal limit, then each overdue step in order. Cases without an
    overdue step share one of eight texts; the others get their own."""
    values = [
        reasons_json(
            ([PROMISED_CHAIN[chain - 1]] if chain else []) + ([PAST_LEGAL] if legal else [])
        )
        for chain in range(4)
        for legal in (False, True)
    ]
    index = result.chain * 2 + result.past_legal.astype(np.int64)
    names: dict[int, list[str]] = {}
    for row in np.flatnonzero(result.step_overdue).tolist():
        names.setdefault(int(cases.step_case[row]), []).append(step_names[row])
    known: dict[tuple[int, bool, tuple[str, ...]], int] = {}  # most cases share a few texts
    for n, overdue in names.items():
        chain, legal = int(result.chain[n]), bool(result.past_legal[n])
        key = (chain, legal, tuple(overdue))
        if key not in known:
            head = ([PROMISED_CHAIN[chain - 1]] if chain else []) + ([PAST_LEGAL] if legal else [])
            known[key] = len(values)
            values.append(reasons_json(head + [step_overdue(name) for name in overdue]))
        index[n] = known[key]
    return Texts(values, index)
