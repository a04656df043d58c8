"""Report statistics in the store: per-minute window service state and queue length, waits.

A minute can arrive twice: the part before a restart and the part after. Both parts are
merged (seconds added, means weighted by the seconds they cover), never overwritten.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from analyzers.minutes import longest_held
from analyzers.rules import Outputs
from hallwatch.store import Store


@dataclass(frozen=True, slots=True)
class WindowMinute:
    window: str
    minute: float
    seconds: dict[str, float]  # seconds per service state

    @property
    def state(self) -> str:
        """The state held longest in the minute (ties: first in name order)."""
        return longest_held(self.seconds) or ""


@dataclass(frozen=True, slots=True)
class QueueMinute:
    queue: str
    minute: float
    mean: float
    maximum: float
    covered_s: float


@dataclass(frozen=True, slots=True)
class QueueWait:
    queue: str
    track: int
    entered: float
    left: float
    wait_s: float


def merge_seconds(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    return {key: a.get(key, 0.0) + b.get(key, 0.0) for key in sorted(set(a) | set(b))}


class Statistics:
    def __init__(self, store: Store) -> None:
        self.store = store

    def add_window_minutes(self, minutes: Iterable[WindowMinute]) -> None:
        with self.store.transaction() as conn:
            for item in minutes:
                row = conn.execute(
                    "SELECT seconds FROM window_minutes WHERE window = ? AND minute = ?",
                    (item.window, item.minute),
                ).fetchone()
                seconds = item.seconds
                if row is not None:
                    seconds = merge_seconds(json.loads(row["seconds"]), seconds)
                merged = WindowMinute(item.window, item.minute, seconds)
                conn.execute(
                    "INSERT OR REPLACE INTO window_minutes (window, minute, state, seconds)"
                    " VALUES (?, ?, ?, ?)",
                    (item.window, item.minute, merged.state, json.dumps(seconds)),
                )

    def add_queue_minutes(self, minutes: Iterable[QueueMinute]) -> None:
        with self.store.transaction() as conn:
            for m in minutes:
                conn.execute(
                    "INSERT INTO queue_minutes (queue, minute, mean, maximum, covered_s)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (queue, minute) DO UPDATE SET"
                    " mean = (mean * covered_s + excluded.mean * excluded.covered_s)"
                    " / (covered_s + excluded.covered_s),"
                    " maximum = max(maximum, excluded.maximum),"
                    " covered_s = covered_s + excluded.covered_s",
                    (m.queue, m.minute, m.mean, m.maximum, m.covered_s),
                )

    def add_waits(self, waits: Iterable[QueueWait]) -> None:
        with self.store.transaction() as conn:
            conn.executemany(
                'INSERT INTO queue_waits (queue, track, entered, "left", wait_s)'
                " VALUES (?, ?, ?, ?, ?)",
                [(w.queue, w.track, w.entered, w.left, w.wait_s) for w in waits],
            )

    def window_minutes(self, window: str, since: float, until: float) -> list[WindowMinute]:
        rows = self.store.query(
            "SELECT window, minute, seconds FROM window_minutes"
            " WHERE window = ? AND minute >= ? AND minute < ? ORDER BY minute",
            (window, since, until),
        )
        return [WindowMinute(r["window"], r["minute"], json.loads(r["seconds"])) for r in rows]

    def queue_minutes(self, queue: str, since: float, until: float) -> list[QueueMinute]:
        rows = self.store.query(
            "SELECT queue, minute, mean, maximum, covered_s FROM queue_minutes"
            " WHERE queue = ? AND minute >= ? AND minute < ? ORDER BY minute",
            (queue, since, until),
        )
        return [QueueMinute(*tuple(r)) for r in rows]

    def waits(self, queue: str, since: float, until: float) -> list[QueueWait]:
        rows = self.store.query(
            'SELECT queue, track, entered, "left", wait_s FROM queue_waits'
            " WHERE queue = ? AND entered >= ? AND entered < ? ORDER BY entered",
            (queue, since, until),
        )
        return [QueueWait(*tuple(r)) for r in rows]


def record_outputs(statistics: Statistics, outputs: Outputs) -> None:
    """Store the report records one analysed sample completed (usually none)."""
    if outputs.window_minutes:
        statistics.add_window_minutes(
            WindowMinute(m.window, m.minute, {state.value: s for state, s in m.seconds.items()})
            for m in outputs.window_minutes
        )
    if outputs.queue_minutes:
        statistics.add_queue_minutes(
            QueueMinute(queue, m.minute, m.mean, m.maximum, m.covered_s)
            for queue, m in outputs.queue_minutes
        )
    if outputs.waits:
        statistics.add_waits(
            QueueWait(w.queue_id, w.track_id, w.entered, w.left, w.wait_s) for w in outputs.waits
        )
