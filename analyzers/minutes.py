"""Per-minute statistics from sparse samples (for reports: queue length, service state).

A sample holds its value from its time until the next sample, but never longer than
`max_hold_s`: a camera that stops delivering frames leaves its minutes uncovered instead of
repeating the last value. Minutes are aligned to the clock (t // 60 · 60, UNIX seconds) and are
reported once a later sample shows they are complete, or by `flush`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

MINUTE = 60.0


def minute_of(t: float) -> float:
    return (t // MINUTE) * MINUTE


def longest_held(seconds: Mapping[str, float]) -> str | None:
    """The state with the most seconds (ties: first in name order), or None when empty."""
    if not seconds:
        return None
    return max(sorted(seconds), key=lambda state: seconds[state])


def split_by_minute(start: float, end: float) -> Iterator[tuple[float, float]]:
    """(minute start, seconds of [start, end) inside that minute), in order."""
    t = start
    while t < end:
        minute = minute_of(t)
        stop = min(end, minute + MINUTE)
        yield minute, stop - t
        t = stop


@dataclass(frozen=True, slots=True)
class MinuteTally:
    """Seconds spent in each state during one clock minute (covered seconds only)."""

    minute: float
    seconds: dict[str, float]

    @property
    def covered_s(self) -> float:
        return sum(self.seconds.values())

    @property
    def dominant(self) -> str | None:
        """The state held longest in the minute (ties: first in name order), or None."""
        return longest_held(self.seconds)


@dataclass(frozen=True, slots=True)
class MinuteMean:
    """Time-weighted mean and maximum of a value over the covered part of one clock minute."""

    minute: float
    mean: float
    maximum: float
    covered_s: float


class _Held:
    """The previous sample, held until the next one (at most max_hold_s)."""

    def __init__(self, max_hold_s: float) -> None:
        if max_hold_s <= 0:
            raise ValueError(f"max_hold_s must be positive, got {max_hold_s}")
        self.max_hold_s = max_hold_s
        self.t: float | None = None

    def span(self, t: float) -> tuple[float, float] | None:
        """The interval the previous sample covers now that a sample at `t` arrived."""
        previous = self.t
        if previous is not None and t < previous:
            return None  # out of order: ignore the sample
        self.t = t
        if previous is None:
            return None
        return previous, min(t, previous + self.max_hold_s)


class StateMinutes:
    """Seconds per state per minute, e.g. a window's staffed / serving / vacant time."""

    def __init__(self, max_hold_s: float = 10.0) -> None:
        self._held = _Held(max_hold_s)
        self._state: str | None = None
        self._open: dict[float, dict[str, float]] = defaultdict(dict)

    def feed(self, t: float, state: str) -> list[MinuteTally]:
        """Record `state` from `t` on; returns the minutes completed before `t`'s minute."""
        span = self._held.span(t)
        if span is None and self._held.t != t:
            return []
        if span is not None and self._state is not None:
            for minute, seconds in split_by_minute(*span):
                tally = self._open[minute]
                tally[self._state] = tally.get(self._state, 0.0) + seconds
        self._state = state
        return self._complete_before(minute_of(t))

    def flush(self, t: float) -> list[MinuteTally]:
        """Close everything up to `t` (end of file, shutdown) and return all open minutes."""
        done: list[MinuteTally] = []
        if self._held.t is not None and self._state is not None and t > self._held.t:
            done = self.feed(t, self._state)
        return done + self._complete_before(float("inf"))

    def _complete_before(self, minute: float) -> list[MinuteTally]:
        done = sorted(m for m in self._open if m < minute)
        return [MinuteTally(m, self._open.pop(m)) for m in done]


class ValueMinutes:
    """Time-weighted mean and maximum of a number per minute, e.g. a queue's length."""

    def __init__(self, max_hold_s: float = 10.0) -> None:
        self._held = _Held(max_hold_s)
        self._value: float | None = None
        self._sums: dict[float, list[float]] = {}  # minute -> [weighted sum, seconds, max]

    def feed(self, t: float, value: float) -> list[MinuteMean]:
        span = self._held.span(t)
        if span is None and self._held.t != t:
            return []
        if span is not None and self._value is not None:
            for minute, seconds in split_by_minute(*span):
                acc = self._sums.setdefault(minute, [0.0, 0.0, self._value])
                acc[0] += self._value * seconds
                acc[1] += seconds
                acc[2] = max(acc[2], self._value)
        self._value = value
        return self._complete_before(minute_of(t))

    def flush(self, t: float) -> list[MinuteMean]:
        done: list[MinuteMean] = []
        if self._held.t is not None and self._value is not None and t > self._held.t:
            done = self.feed(t, self._value)
        return done + self._complete_before(float("inf"))

    def _complete_before(self, minute: float) -> list[MinuteMean]:
        done = sorted(m for m in self._sums if m < minute)
        out: list[MinuteMean] = []
        for m in done:
            total, seconds, maximum = self._sums.pop(m)
            if seconds > 0:
                out.append(MinuteMean(m, total / seconds, maximum, seconds))
        return out
