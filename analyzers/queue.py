"""Queues (排队) in one queue zone: length, waiting times and build-up / long-wait episodes.

Fed per sampled frame with the tracked people's ids and feet in relative coordinates (0–1):

- a person *queues* once their feet have been in the zone for `confirm_s`, counted from the first
  sample in it; gaps shorter than `exit_grace_s` (stepping out, a missed detection) do not break it;
- the queue length is the number of queuing people whose feet are in the zone in this sample;
- a person's wait runs from their first sample in the zone to their last one, and is final once
  they have been out of the zone or unseen for more than `exit_grace_s`; people who never queued
  have no wait;
- ``queue_buildup`` (key: the queue id) opens when the length stays at `max_length` or more for
  `min_duration_s`, and closes once it has been below for `clear_delay_s`;
- ``long_wait`` (key: queue id / track id) opens when a person has waited `max_wait_s` and closes
  when their wait ends;
- leaving service hours ends every wait and closes every episode; nothing is tracked outside them
  and the length counts as 0 there.

Times must not go backwards (a ValueError says so).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from analyzers.episodes import Closed, DelayedCondition, Delays, EpisodeChange, Opened
from analyzers.minutes import MinuteMean, ValueMinutes
from analyzers.zones import Zone

BUILDUP = "queue_buildup"
LONG_WAIT = "long_wait"


@dataclass(frozen=True, slots=True)
class QueueRule:
    max_length: int = 5  # a queue this long or longer builds up
    min_duration_s: float = 120.0  # … when it stays that long for this time
    max_wait_s: float = 900.0  # a wait this long is a long wait
    confirm_s: float = 3.0  # feet in the zone this long before a person counts as queuing
    exit_grace_s: float = 5.0  # out of the zone / unseen longer than this ends a wait
    clear_delay_s: float = 30.0  # a build-up ends once the queue has been shorter this long

    def __post_init__(self) -> None:
        if self.max_length < 1:
            raise ValueError(f"max_length must be at least 1, got {self.max_length}")
        durations = {
            "min_duration_s": self.min_duration_s,
            "max_wait_s": self.max_wait_s,
            "confirm_s": self.confirm_s,
            "exit_grace_s": self.exit_grace_s,
            "clear_delay_s": self.clear_delay_s,
        }
        for name, value in durations.items():
            if value < 0:
                raise ValueError(f"{name} must not be negative, got {value}")


@dataclass(frozen=True, slots=True)
class Waiting:
    """A queuing person whose wait is still running."""

    track_id: int
    entered: float  # first sample in the zone


@dataclass(frozen=True, slots=True)
class Wait:
    """A finished wait: from the first to the last sample in the zone."""

    track_id: int
    queue_id: str
    entered: float
    left: float

    @property
    def wait_s(self) -> float:
        return self.left - self.entered


@dataclass(frozen=True, slots=True)
class QueueUpdate:
    length: int  # queuing people in the zone in this sample
    waiting: tuple[Waiting, ...] = ()  # running waits, earliest entry first
    finished: tuple[Wait, ...] = ()  # waits that ended with this sample
    minutes: tuple[MinuteMean, ...] = ()  # clock minutes of queue length completed by it
    changes: tuple[EpisodeChange, ...] = ()


@dataclass(slots=True)
class _Person:
    track_id: int
    entered: float
    last_in: float
    queuing: bool = False
    long_wait: bool = False  # a long_wait episode is open

    @property
    def wait_s(self) -> float:
        return self.last_in - self.entered


def is_gone(last_in: float, t: float, grace_s: float) -> bool:
    """Out of the zone or unseen since `last_in` for longer than the grace: the wait is over."""
    return t - last_in > grace_s


def is_queuing(entered: float, last_in: float, confirm_s: float) -> bool:
    return last_in - entered >= confirm_s


def is_long_wait(entered: float, last_in: float, max_wait_s: float) -> bool:
    return last_in - entered >= max_wait_s


def present_ids(
    zone: Zone, ids: Sequence[int] | npt.NDArray[np.integer], feet_rel: npt.NDArray[np.floating]
) -> list[int]:
    """Ids (without duplicates, in input order) whose feet [N, 2] are inside the zone."""
    id_list = [int(i) for i in np.asarray(ids, dtype=np.int64).reshape(-1)]
    points = np.asarray(feet_rel, dtype=np.float64).reshape(-1, 2)
    if len(id_list) != len(points):
        raise ValueError(f"{len(id_list)} ids but {len(points)} feet points")
    if not id_list:
        return []
    inside = zone.contains(points).tolist()
    return list(dict.fromkeys(i for i, hit in zip(id_list, inside, strict=True) if hit))


@dataclass(slots=True)
class _Changes:
    """What one sample produced besides the length."""

    finished: list[Wait] = field(default_factory=list)
    changes: list[EpisodeChange] = field(default_factory=list)


class QueueAnalyzer:
    """One queue zone. Feed `update` in time order; call `flush` at end of file or shutdown."""

    def __init__(
        self, queue_id: str, zone: Zone, rule: QueueRule | None = None, window: str | None = None
    ) -> None:
        self.queue_id = queue_id
        self.zone = zone
        self.rule = rule or QueueRule()
        self.window = window
        self._people: dict[int, _Person] = {}
        self._buildup = DelayedCondition(Delays(self.rule.min_duration_s, self.rule.clear_delay_s))
        self._peak = 0
        self._minutes = ValueMinutes()
        self._last_t: float | None = None

    def update(
        self,
        t: float,
        ids: Sequence[int] | npt.NDArray[np.integer],
        feet_rel: npt.NDArray[np.floating],
        in_service: bool = True,
    ) -> QueueUpdate:
        """One sample: tracked people's ids [N] and feet [N, 2] in relative coordinates."""
        self._advance(t)
        if not in_service:
            out = self._stop(t)
            minutes = self._minutes.feed(t, 0.0)
            return QueueUpdate(0, (), tuple(out.finished), tuple(minutes), tuple(out.changes))
        present = present_ids(self.zone, ids, feet_rel)
        out = _Changes()
        for person in self._by_entry(lambda p: is_gone(p.last_in, t, self.rule.exit_grace_s)):
            self._finish(person, t, out)
        for track_id in present:
            self._observe(track_id, t, out)
        length = sum(1 for i in present if self._people[i].queuing)
        self._feed_buildup(t, length, out)
        minutes = self._minutes.feed(t, float(length))
        return QueueUpdate(
            length, self._waiting(), tuple(out.finished), tuple(minutes), tuple(out.changes)
        )

    def flush(self, t: float) -> QueueUpdate:
        """End of file or shutdown: end every wait and episode, report every open minute."""
        self._advance(t)
        out = self._stop(t)
        minutes = self._minutes.flush(t)
        return QueueUpdate(0, (), tuple(out.finished), tuple(minutes), tuple(out.changes))

    def _advance(self, t: float) -> None:
        if self._last_t is not None and t < self._last_t:
            raise ValueError(
                f"queue {self.queue_id}: sample at {t} is older than the previous one at "
                f"{self._last_t}"
            )
        self._last_t = t

    def _observe(self, track_id: int, t: float, out: _Changes) -> None:
        person = self._people.get(track_id)
        if person is None:
            person = self._people[track_id] = _Person(track_id, t, t)
        person.last_in = t
        if not person.queuing:
            person.queuing = is_queuing(person.entered, t, self.rule.confirm_s)
        if (
            person.queuing
            and not person.long_wait
            and is_long_wait(person.entered, t, self.rule.max_wait_s)
        ):
            person.long_wait = True
            opened = Opened(person.entered, t)
            out.changes.append(self._long_wait(person, opened))

    def _finish(self, person: _Person, t: float, out: _Changes) -> None:
        """The person's wait ended at their last sample in the zone (seen at `t`)."""
        del self._people[person.track_id]
        if not person.queuing:
            return
        out.finished.append(Wait(person.track_id, self.queue_id, person.entered, person.last_in))
        if person.long_wait:
            closed = Closed(person.entered, person.last_in, t)
            out.changes.append(self._long_wait(person, closed))

    def _long_wait(self, person: _Person, change: Opened | Closed) -> EpisodeChange:
        details = {"track_id": person.track_id, "entered": person.entered, "wait_s": person.wait_s}
        key = f"{self.queue_id}/{person.track_id}"
        return EpisodeChange(LONG_WAIT, key, change, self.window, details)

    def _feed_buildup(self, t: float, length: int, out: _Changes) -> None:
        if length >= self.rule.max_length:
            self._peak = max(self._peak, length)
        change = self._buildup.feed(t, length >= self.rule.max_length)
        if change is not None:
            out.changes.append(self._buildup_change(change, length))
        if self._buildup.open_since is None and self._buildup.pending_since is None:
            self._peak = 0

    def _buildup_change(self, change: Opened | Closed, length: int) -> EpisodeChange:
        details = {"length": length, "peak_length": self._peak}
        return EpisodeChange(BUILDUP, self.queue_id, change, self.window, details)

    def _stop(self, t: float) -> _Changes:
        """Service over or analysis ended: every wait ends, every episode closes at `t`."""
        out = _Changes()
        for person in self._by_entry(lambda p: True):
            self._finish(person, t, out)
        closed = self._buildup.end(t)
        if closed is not None:
            out.changes.append(self._buildup_change(closed, 0))
        self._peak = 0
        return out

    def _waiting(self) -> tuple[Waiting, ...]:
        return tuple(Waiting(p.track_id, p.entered) for p in self._by_entry(lambda p: p.queuing))

    def _by_entry(self, keep: Callable[[_Person], bool]) -> list[_Person]:
        """The tracked people that `keep` selects, earliest entry first (a new list)."""
        chosen = [person for person in self._people.values() if keep(person)]
        return sorted(chosen, key=lambda p: (p.entered, p.track_id))
