"""Re-judging many open cases at once: read their stored facts, judge them with `cases.judge`,
write only what changed.

Used by the ledger for the cases whose `next_change_at` has come (every tick) and for every
open case (at start, after a change of rules or calendar). In one transaction:

1. read the selected open cases' facts in one query: plain numbers, and closed pauses and
   limited steps packed as int64 arrays in the case row (`pack_facts`);
2. judge them all at `now` (cases.judge);
3. keep the cases whose judgement digest (level, reasons, deadlines, provisional, next change:
   `judgement_digest`) differs from the stored one; write out reasons for those only;
4. copy them into a temporary table and apply them with a few set-based statements: the case
   rows, then the card action of each (`ACTION`: raise where there is no card, escalate an
   open card to a higher level; an open card is never lowered, as in cases.cards.transition),
   raised and escalated cards, and their history.

Rows written before the facts were kept (no `promised_amount`) are handed back to the caller,
which folds their events.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from cases.cards import (
    PAST_LEGAL,
    PROMISED_CHAIN,
    CardLevel,
    CardRules,
    CaseView,
    Reason,
    step_overdue,
)
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
    instant_us,
    judge,
    padded_spans,
    pause_facts,
)
from hallwatch.database import Cursor

U64s = npt.NDArray[np.uint64]

LEVELS: tuple[str | None, ...] = (None, CardLevel.WARNING, CardLevel.YELLOW, CardLevel.RED)
LEVEL_CODES = {
    None: 0,
    CardLevel.WARNING.value: 1,
    CardLevel.YELLOW.value: 2,
    CardLevel.RED.value: 3,
}
ALL_OPEN = "1 = 1"  # the selection of every open case


def _unit_code(column: str) -> str:
    cases = " ".join(f"WHEN '{unit.value}' THEN {code}" for unit, code in UNIT_CODES.items())
    return f"CASE {column} {cases} ELSE 0 END"


def _rank(column: str) -> str:
    cases = " ".join(f"WHEN '{level}' THEN {code}" for level, code in LEVEL_CODES.items() if level)
    return f"CASE {column} {cases} ELSE 0 END"


# the facts as numbers: no NULLs, units as UNIT_CODES, so columns become arrays in one step
CASE_COLUMNS = (
    "c.case_id, COALESCE(c.item_code, ''), c.accepted_at, c.promised_amount,"
    f" {_unit_code('c.promised_unit')}, COALESCE(c.legal_amount, -1),"
    f" {_unit_code('c.legal_unit')}, COALESCE(c.suspended_since, 0),"
    " CASE WHEN c.suspended_since IS NULL THEN 0 ELSE 1 END, COALESCE(c.judged_digest, 0),"
    " c.pauses, c.steps, c.step_names"
)

# the card action of each changed case, as cases.cards.transition for an open case
ACTION = f"""
UPDATE rejudged SET action = CASE
    WHEN level IS NULL THEN NULL
    WHEN NOT EXISTS (SELECT 1 FROM cards k WHERE k.case_id = rejudged.case_id) THEN 'raise'
    WHEN EXISTS (SELECT 1 FROM cards k WHERE k.case_id = rejudged.case_id AND k.state = 'open'
                 AND {_rank("rejudged.level")} > {_rank("k.level")}) THEN 'escalate'
END
"""

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
    "remaining_s", "next_change_at", "judged_digest",
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


def reasons_json(reasons: Sequence[Reason]) -> str:
    return json.dumps(
        [{"code": r.code, "text": r.text, "level": r.level.value} for r in reasons],
        ensure_ascii=False,
    )


# --- the facts, packed ---------------------------------------------------------------------

PAUSE_FIELDS = 2  # start, end (µs)
STEP_FIELDS = 7  # seq, start, end (µs), ended, limit amount, limit unit, reason mark if overdue
_PACKED = np.dtype("<i8")


def pack_facts(
    view: CaseView,
) -> tuple[float | None, bytes | None, bytes | None, str | None]:
    """A case's pauses and limited steps as stored in its row: the start of its earliest open
    pause (UNIX seconds), closed pauses (merged) and limited steps as packed int64 records,
    and the steps' names (JSON, in the same order); None where there are none."""
    closed, opened = pause_facts(view.pauses)
    pauses = [instant_us(when) for span in closed for when in span]
    limited = [(seq, step) for seq, step in enumerate(view.steps) if step.limit is not None]
    records = []
    for seq, step in limited:
        assert step.limit is not None
        end = step.end
        records += [
            seq, instant_us(step.start), 0 if end is None else instant_us(end), end is not None,
            step.limit.amount, UNIT_CODES[step.limit.unit], reason_mark(step_overdue(step.name)),
        ]  # fmt: skip
    names = json.dumps([step.name for _, step in limited], ensure_ascii=False)
    since = None if opened is None else opened.timestamp()
    return since, _packed(pauses), _packed(records), names if limited else None


def _packed(values: Sequence[int]) -> bytes | None:
    return np.asarray(values, dtype=_PACKED).tobytes() if values else None


def unpack(blobs: Sequence[bytes | None], fields: int) -> tuple[Ints, Ints, Ints]:
    """Packed records of each row: (their row, their place within the row, records)."""
    counts = np.fromiter((len(b) if b else 0 for b in blobs), np.int64, len(blobs)) // (8 * fields)
    data = np.frombuffer(b"".join(b for b in blobs if b), dtype=_PACKED).astype(np.int64)
    row = np.repeat(np.arange(len(blobs), dtype=np.int64), counts)
    first = np.cumsum(counts) - counts
    return row, np.arange(row.size, dtype=np.int64) - first[row], data.reshape(-1, fields)


# --- the digest of a judgement ----------------------------------------------------------------

_MIX = np.uint64(0x9E3779B97F4A7C15)


def _mix(values: Ints) -> U64s:
    mixed = values.astype(np.int64).view(np.uint64) * _MIX
    return mixed ^ (mixed >> np.uint64(29))


def reason_mark(reason: Reason) -> int:
    """A reason as a number; a case's reasons count as the sum of theirs (mod 2**64)."""
    return int(zlib.crc32(f"{reason.code}\n{reason.text}".encode()))


def judgement_digest(
    level: Ints, reasons: U64s, promised_us: Ints, legal_us: Ints, provisional: Ints,
    next_us: Ints,
) -> Ints:  # fmt: skip
    """A 64-bit digest of what a judgement writes to a case row: level, reasons (the sum of
    their mixed `reason_mark`s), deadlines, provisional, next change (NEVER for an absent
    instant). Equal judgements give equal digests, so a re-judgement finds what changed by
    comparing one stored number per case."""
    digest = np.zeros(level.shape, dtype=np.uint64)
    for part in (level, reasons.view(np.int64), promised_us, legal_us, provisional, next_us):
        digest = _mix((digest ^ part.astype(np.int64).view(np.uint64)).view(np.int64))
    return digest.view(np.int64)


def evaluation_digest(
    level: str | None, reasons: Sequence[Reason], promised: float | None, legal: float | None,
    provisional: bool, next_change: float | None,
) -> int:  # fmt: skip
    """`judgement_digest` of one evaluation as the ledger stores it (times in seconds)."""

    def one(value: int) -> Ints:
        return np.asarray([value], dtype=np.int64)

    def instant(value: float | None) -> Ints:
        return one(NEVER if value is None else round(value * 1_000_000))

    marks = _mix(np.asarray([reason_mark(r) for r in reasons], dtype=np.int64))
    digest = judgement_digest(
        one(LEVEL_CODES[level]), np.asarray([marks.sum(dtype=np.uint64)], dtype=np.uint64),
        instant(promised), instant(legal), one(int(provisional)), instant(next_change),
    )  # fmt: skip
    return int(digest[0])


# --- the re-judgement -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Steps:
    """The limited steps read, as rows of the judgement: their case, their place in its
    list of names, and the reason mark each would give when overdue."""

    case: Ints
    place: Ints
    mark: Ints
    names: Sequence[str | None]  # per case: the JSON list of its limited steps' names


class Rejudge:
    """One bulk re-judgement inside the caller's transaction."""

    def __init__(self, cursor: Cursor, line: Line, rules_of: Callable[[str], CardRules]) -> None:
        self.cursor = cursor
        self.line = line
        self.rules_of = rules_of

    def run(self, where: str, params: Sequence[Any], now: dt.datetime) -> Outcome:
        """Re-judge the open cases matching `where` (SQL on `cases c`; ALL_OPEN for all)."""
        with _without_cycle_collection():
            return self._run(where, params, now)

    def _run(self, where: str, params: Sequence[Any], now: dt.datetime) -> Outcome:
        legacy = tuple(
            (row[0], row[1])
            for row in self.cursor.tuples(
                "SELECT c.case_id, c.source FROM cases c WHERE c.status = 'open'"
                f" AND c.promised_amount IS NULL AND c.accepted_at IS NOT NULL AND {where}",
                params,
            )
        )
        rows = self.cursor.tuples(
            f"SELECT {CASE_COLUMNS} FROM cases c"
            f" WHERE c.status = 'open' AND c.promised_amount IS NOT NULL AND {where}",
            params,
        )
        if not rows:
            return Outcome(0, 0, 0, 0, legacy)
        columns = list(zip(*rows, strict=True))
        cases, steps = self._arrays(columns)
        now_us = np.full(len(rows), round(now.timestamp() * 1_000_000), dtype=np.int64)
        result = judge(self.line, cases, now_us)
        changes = self._changes(columns, result, steps)
        raised, escalated = self._write(changes, now)
        return Outcome(len(rows), len(changes), raised, escalated, legacy)

    def _arrays(self, columns: Sequence[Sequence[Any]]) -> tuple[OpenCases, _Steps]:
        n = len(columns[0])
        pause_case, _, pauses = unpack(columns[10], PAUSE_FIELDS)
        spans = padded_spans(n, pause_case, pauses[:, 0], pauses[:, 1])
        step_case, place, steps = unpack(columns[11], STEP_FIELDS)
        codes = {code: k for k, code in enumerate(sorted(set(columns[1])))}
        rules = RuleArrays.of(
            [self.rules_of(code) for code in codes],
            np.asarray([codes[c] for c in columns[1]], dtype=np.int64),
        )
        cases = OpenCases(
            accepted=seconds_to_us(columns[2]),
            promised=Limits(_ints(columns[3]), _ints(columns[4])),
            legal=Limits(_ints(columns[5]), _ints(columns[6])),
            pauses=Pauses(spans, seconds_to_us(columns[7]), np.asarray(columns[8], dtype=bool)),
            rules=rules,
            step_case=step_case,
            step_start=steps[:, 1],
            step_end=steps[:, 2],
            step_ended=steps[:, 3].astype(bool),
            step_limit=Limits(steps[:, 4], steps[:, 5]),
        )
        return cases, _Steps(step_case, place, steps[:, 6], columns[12])

    def _changes(
        self, columns: Sequence[Sequence[Any]], result: Judgement, steps: _Steps
    ) -> list[tuple[Any, ...]]:
        """The rows of the temporary table: the cases whose judgement's digest differs from the
        stored one (reasons are written out for those only)."""
        digest = judgement_digest(
            result.level, _reason_sums(result, steps), result.promised_at, result.legal_at,
            result.provisional.astype(np.int64), result.next_change_at,
        )  # fmt: skip
        changed = np.flatnonzero(digest != np.asarray(columns[9], dtype=np.int64))
        texts = _reason_texts(result, steps, changed)
        return [
            (
                columns[0][n],
                LEVELS[int(result.level[n])],
                texts[n],
                int(result.promised_at[n]) / 1_000_000,
                _seconds(int(result.legal_at[n])),
                int(result.provisional[n]),
                int(result.remaining_us[n]) / 1_000_000,
                _seconds(int(result.next_change_at[n])),
                int(digest[n]),
            )
            for n in changed.tolist()
        ]

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
        cursor.execute(ACTION)
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
            " ON r.case_id = k.case_id WHERE r.action IS NOT NULL",
            (at,),
        )
        counts = dict(
            (row[0], row[1])
            for row in cursor.tuples(
                "SELECT action, COUNT(*) FROM rejudged WHERE action IS NOT NULL GROUP BY action"
            )
        )
        return int(counts.get("raise", 0)), int(counts.get("escalate", 0))


@contextmanager
def _without_cycle_collection() -> Iterator[None]:
    """Millions of row tuples (no cycles among them) would set off the cyclic garbage
    collector again and again, each pass walking all of them (measured: 10-15% of a full
    re-judgement of 1 M cases); the collector runs again once the re-judgement is done."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _ints(values: Sequence[Any]) -> Ints:
    return np.asarray(values, dtype=np.int64)


def _seconds(us: int) -> float | None:
    return None if us == NEVER else us / 1_000_000


_CHAIN_MARKS = np.asarray([0] + [reason_mark(r) for r in PROMISED_CHAIN], dtype=np.int64)


def _reason_sums(result: Judgement, steps: _Steps) -> U64s:
    """Per case, the sum of its reasons' mixed marks (see `judgement_digest`)."""
    chain = np.where(result.chain > 0, _mix(_CHAIN_MARKS[result.chain]), np.uint64(0))
    legal = np.where(result.past_legal, _mix(np.asarray([reason_mark(PAST_LEGAL)])), np.uint64(0))
    sums = chain + legal
    overdue = result.step_overdue
    np.add.at(sums, steps.case[overdue], _mix(steps.mark[overdue]))
    return sums


def _reason_texts(result: Judgement, steps: _Steps, changed: Ints) -> dict[int, str]:
    """The reasons (JSON) of the changed cases, in the reference's order: the promised chain's
    highest reason, past the legal limit, then each overdue step in step order."""
    wanted = set(changed.tolist())
    overdue: dict[int, list[int]] = {}
    for row in np.flatnonzero(result.step_overdue).tolist():
        case = int(steps.case[row])
        if case in wanted:
            overdue.setdefault(case, []).append(int(steps.place[row]))
    texts = {}
    for n in wanted:
        chain = int(result.chain[n])
        reasons = [PROMISED_CHAIN[chain - 1]] if chain else []
        reasons += [PAST_LEGAL] if result.past_legal[n] else []
        if n in overdue:
            names = json.loads(steps.names[n] or "[]")
            reasons += [step_overdue(names[place]) for place in sorted(overdue[n])]
        texts[n] = reasons_json(reasons)
    return texts
