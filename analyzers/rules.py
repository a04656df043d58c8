"""The rules a camera's people are checked against: service windows, hall queues, tender zones.

Each rule sees the same `People` for a sample (detections and tracks, feet in relative frame
coordinates) and the sample's `Context` (time, service hours, local time of day), and returns a
`RuleOutput`: what it shows now (a typed sample for the live view and `hallwatch analyze`), the
episodes it opened or closed, and the report records it completed (minutes, waits).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from analyzers.episodes import EpisodeChange, Transition
from analyzers.minutes import MinuteMean
from analyzers.queue import QueueAnalyzer, QueueUpdate, Wait
from analyzers.service import ServiceMinutes, ServiceState, WindowMinute, service_state
from analyzers.site_rules import SiteZoneAnalyzer, ZoneRuleSpec, ZoneUpdate
from analyzers.tracker import Tracks
from analyzers.vacancy import VacancyMachine, VacancyRule, WindowState
from analyzers.zones import Zone

COUNTER_VACANT = "counter_vacant"

Points = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Context:
    t: float  # UNIX seconds live, media seconds offline
    in_service: bool
    local_time: dt.time | None = None  # the site's wall clock; None when unknown


@dataclass(frozen=True, slots=True)
class People:
    """One sample's people: raw detections' feet, and the tracks with their feet (relative)."""

    feet: Points  # [N, 2] of every detection
    tracks: Tracks
    track_feet: Points  # [M, 2] of the tracks, in the order of tracks.ids

    @staticmethod
    def count(zone: Zone, feet: Points) -> int:
        return int(zone.contains(feet).sum()) if len(feet) else 0


@dataclass(frozen=True, slots=True)
class WindowSample:
    window: str
    staff: int
    state: WindowState
    service: ServiceState
    queue: int | None = None  # queuing people, when the window has a queue zone
    customers: int | None = None  # people at the counter, when it has a customer zone

    def to_json(self) -> dict[str, Any]:
        line: dict[str, Any] = {"window": self.window, "staff": self.staff}
        line["state"] = self.state.value
        line["service"] = self.service.value
        for name in ("queue", "customers"):
            if getattr(self, name) is not None:
                line[name] = getattr(self, name)
        return line


@dataclass(frozen=True, slots=True)
class QueueSample:
    queue: str
    length: int
    longest_wait_s: float | None

    def to_json(self) -> dict[str, Any]:
        wait = self.longest_wait_s
        return {
            "queue_zone": self.queue,
            "queue": self.length,
            "longest_wait_s": None if wait is None else round(wait, 3),
        }


@dataclass(frozen=True, slots=True)
class ZoneSample:
    zone: str
    persons: int
    alarms: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"zone": self.zone, "persons": self.persons, "alarms": list(self.alarms)}


Sample = WindowSample | QueueSample | ZoneSample


@dataclass(frozen=True, slots=True)
class RuleOutput:
    sample: Sample | None = None
    changes: tuple[EpisodeChange, ...] = ()
    window_minutes: tuple[WindowMinute, ...] = ()
    queue_minutes: tuple[tuple[str, MinuteMean], ...] = ()
    waits: tuple[Wait, ...] = ()


@dataclass(frozen=True, slots=True)
class Outputs:
    """The outputs of all of a camera's rules for one sample, gathered by kind."""

    samples: tuple[Sample, ...] = ()
    changes: tuple[EpisodeChange, ...] = ()
    window_minutes: tuple[WindowMinute, ...] = ()
    queue_minutes: tuple[tuple[str, MinuteMean], ...] = ()
    waits: tuple[Wait, ...] = ()

    @classmethod
    def of(cls, outputs: Sequence[RuleOutput]) -> Outputs:
        return cls(
            tuple(o.sample for o in outputs if o.sample is not None),
            tuple(c for o in outputs for c in o.changes),
            tuple(m for o in outputs for m in o.window_minutes),
            tuple(m for o in outputs for m in o.queue_minutes),
            tuple(w for o in outputs for w in o.waits),
        )


class Rule(Protocol):
    key: str

    def zones(self) -> dict[str, Zone]:
        """The rule's zones by role (staff, queue, customer, zone): crops, gate, drawing."""
        ...

    def update(self, ctx: Context, people: People) -> RuleOutput: ...

    def flush(self, t: float) -> RuleOutput:
        """End of file or shutdown: close open episodes, hand over open minutes and waits."""
        ...


def _queue_output(queue_id: str, update: QueueUpdate) -> RuleOutput:
    return RuleOutput(
        changes=update.changes,
        queue_minutes=tuple((queue_id, minute) for minute in update.minutes),
        waits=update.finished,
    )


def _longest_wait(update: QueueUpdate, t: float) -> float | None:
    return max((t - person.entered for person in update.waiting), default=None)


def _vacancy_change(window: str, rule: VacancyRule, change: Transition) -> EpisodeChange:
    details = {"staff_on_duty": rule.staff_on_duty}
    return EpisodeChange(COUNTER_VACANT, window, change, window, details)


class WindowRule:
    """A service window: staff in its staff zone, the vacancy rule, service state, its queue."""

    def __init__(
        self,
        window_id: str,
        staff_zone: Zone,
        vacancy: VacancyRule,
        queue: QueueAnalyzer | None = None,
        customer_zone: Zone | None = None,
    ) -> None:
        self.key = window_id
        self.staff_zone = staff_zone
        self.customer_zone = customer_zone
        self.vacancy = vacancy
        self.machine = VacancyMachine(vacancy)
        self.queue = queue
        self.minutes = ServiceMinutes(window_id)

    def zones(self) -> dict[str, Zone]:
        zones = {"staff": self.staff_zone}
        if self.queue is not None:
            zones["queue"] = self.queue.zone
        if self.customer_zone is not None:
            zones["customer"] = self.customer_zone
        return zones

    def update(self, ctx: Context, people: People) -> RuleOutput:
        staff = People.count(self.staff_zone, people.feet)
        customers = None
        if self.customer_zone is not None:
            customers = People.count(self.customer_zone, people.feet)
        changes = [
            _vacancy_change(self.key, self.vacancy, change)
            for change in self.machine.feed(ctx.t, staff, ctx.in_service)
        ]
        state = service_state(ctx.in_service, staff, self.vacancy.staff_on_duty, customers or 0)
        minutes = tuple(self.minutes.feed(ctx.t, state))
        queue_length = None
        out = RuleOutput()
        if self.queue is not None:
            update = self.queue.update(ctx.t, people.tracks.ids, people.track_feet, ctx.in_service)
            queue_length = update.length
            out = _queue_output(self.key, update)
        sample = WindowSample(self.key, staff, self.machine.state, state, queue_length, customers)
        return RuleOutput(sample, (*changes, *out.changes), minutes, out.queue_minutes, out.waits)

    def flush(self, t: float) -> RuleOutput:
        changes = [
            _vacancy_change(self.key, self.vacancy, change)
            for change in self.machine.feed(t, 0, in_service=False)
        ]
        minutes = tuple(self.minutes.flush(t))
        out = RuleOutput() if self.queue is None else _queue_output(self.key, self.queue.flush(t))
        return RuleOutput(None, (*changes, *out.changes), minutes, out.queue_minutes, out.waits)


class HallQueueRule:
    """A queue zone of the hall, not tied to one window."""

    def __init__(self, analyzer: QueueAnalyzer) -> None:
        self.key = analyzer.queue_id
        self.analyzer = analyzer

    def zones(self) -> dict[str, Zone]:
        return {"queue": self.analyzer.zone}

    def update(self, ctx: Context, people: People) -> RuleOutput:
        update = self.analyzer.update(ctx.t, people.tracks.ids, people.track_feet, ctx.in_service)
        out = _queue_output(self.key, update)
        sample = QueueSample(self.key, update.length, _longest_wait(update, ctx.t))
        return RuleOutput(sample, out.changes, (), out.queue_minutes, out.waits)

    def flush(self, t: float) -> RuleOutput:
        return _queue_output(self.key, self.analyzer.flush(t))


def _zone_output(update: ZoneUpdate) -> RuleOutput:
    sample = ZoneSample(update.zone_id, update.persons, tuple(k.value for k in update.open_kinds))
    return RuleOutput(sample, update.changes)


class TenderZoneRule:
    """A tender-site zone: intrusion during restricted hours, overcrowding."""

    def __init__(self, spec: ZoneRuleSpec) -> None:
        self.key = spec.zone_id
        self.spec = spec
        self.analyzer = SiteZoneAnalyzer(spec)

    def zones(self) -> dict[str, Zone]:
        return {"zone": self.spec.zone}

    def update(self, ctx: Context, people: People) -> RuleOutput:
        restricted = ctx.local_time is not None and self.spec.restricted_at(ctx.local_time)
        return _zone_output(self.analyzer.update(ctx.t, people.feet, restricted))

    def flush(self, t: float) -> RuleOutput:
        out = _zone_output(self.analyzer.end(t))
        return RuleOutput(None, out.changes)
