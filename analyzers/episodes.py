"""Episodes: a condition that must hold for a delay before it counts, and its end.

Every rule of the analyzers (a vacant counter, a queue build-up, an intrusion into a sealed
room, an overcrowded zone) has the same shape: a condition seen on samples in time order
becomes an *episode* once it has held for `open_delay_s`, and the episode ends once the
condition has been false for `close_delay_s`. The delays only decide *whether* something is
an episode; its start and end are the samples at which the condition really changed, so clips
and reports show the whole episode.

`EpisodeChange` is what an analyzer hands to the runtime: a kind (the event type), a key that
names the open episode within its camera (so its end can be matched to its start) and the
opening or closing itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Opened:
    start: float  # first sample at which the condition held
    detected_at: float  # sample at which the open delay was reached


@dataclass(frozen=True, slots=True)
class Closed:
    start: float
    end: float  # first sample at which the condition no longer held (or a forced end)
    detected_at: float  # sample at which the close delay was reached


Transition = Opened | Closed


@dataclass(frozen=True, slots=True)
class EpisodeChange:
    """An episode opened or closed by an analyzer.

    `kind` is the event type (e.g. ``queue_buildup``); `key` is unique among the camera's open
    episodes (e.g. ``W01``, ``Q1/track-7``); `details` are stored with the event.
    """

    kind: str
    key: str
    change: Transition
    window: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Delays:
    open_delay_s: float = 0.0
    close_delay_s: float = 0.0

    def __post_init__(self) -> None:
        if self.open_delay_s < 0 or self.close_delay_s < 0:
            raise ValueError(f"delays must not be negative: {self}")


class DelayedCondition:
    """Feed (t, condition) in time order; each call returns the transition it caused, if any."""

    def __init__(self, delays: Delays) -> None:
        self.delays = delays
        self._since: float | None = None  # condition true since (first sample)
        self._clear_since: float | None = None  # while open: condition false since
        self._open = False

    @property
    def is_open(self) -> bool:
        return self._open

    @property
    def open_since(self) -> float | None:
        """Start of the open episode, or None."""
        return self._since if self._open else None

    @property
    def pending_since(self) -> float | None:
        """Start of the condition while it has not yet lasted the open delay, or None."""
        return None if self._open else self._since

    def feed(self, t: float, condition: bool) -> Transition | None:
        if condition:
            return self._holds(t)
        return self._clears(t)

    def end(self, t: float) -> Closed | None:
        """Force the end of an open episode at `t` (service over, camera gone); then reset."""
        closed = None
        if self._open and self._since is not None:
            closed = Closed(self._since, t, t)
        self._reset()
        return closed

    def _holds(self, t: float) -> Opened | None:
        self._clear_since = None
        if self._since is None:
            self._since = t
        if self._open or t - self._since < self.delays.open_delay_s:
            return None
        self._open = True
        return Opened(self._since, t)

    def _clears(self, t: float) -> Closed | None:
        if not self._open:
            self._since = None
            return None
        if self._clear_since is None:
            self._clear_since = t
        if t - self._clear_since < self.delays.close_delay_s:
            return None
        assert self._since is not None
        closed = Closed(self._since, self._clear_since, t)
        self._reset()
        return closed

    def _reset(self) -> None:
        self._since = None
        self._clear_since = None
        self._open = False
