"""Counter vacancy (空岗): a pure state machine fed with (timestamp, staff count, in service).

The delays only decide whether an absence becomes an event. The event's start and end are the
times the state really changed: the first sample without enough staff, and the first sample
with staff back, so clips and reports show the whole absence.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class VacancyRule:
    staff_on_duty: int = 1
    absence_delay_s: float = 60.0
    return_delay_s: float = 5.0


@dataclass(frozen=True, slots=True)
class VacancyOpened:
    start: float  # first sample without enough staff
    detected_at: float  # sample at which the absence delay was reached


@dataclass(frozen=True, slots=True)
class VacancyClosed:
    start: float
    end: float  # first sample with staff back (or service end)
    detected_at: float


Transition = VacancyOpened | VacancyClosed


class WindowState(StrEnum):
    OFF_DUTY = "off_duty"  # outside service hours
    STAFFED = "staffed"
    VACANT = "vacant"  # an open counter_vacant event


class VacancyMachine:
    """Feed samples in time order; each call returns the transitions it caused."""

    def __init__(self, rule: VacancyRule) -> None:
        self.rule = rule
        self._absent_since: float | None = None
        self._back_since: float | None = None
        self._open = False
        self._in_service = False

    @property
    def state(self) -> WindowState:
        if not self._in_service:
            return WindowState.OFF_DUTY
        return WindowState.VACANT if self._open else WindowState.STAFFED

    @property
    def open_since(self) -> float | None:
        return self._absent_since if self._open else None

    def feed(self, t: float, staff: int, in_service: bool = True) -> list[Transition]:
        self._in_service = in_service
        if not in_service:
            return self._leave_service(t)
        if staff >= self.rule.staff_on_duty:
            return self._staff_seen(t)
        return self._staff_missing(t)

    def _leave_service(self, t: float) -> list[Transition]:
        closed: list[Transition] = []
        if self._open and self._absent_since is not None:
            closed.append(VacancyClosed(self._absent_since, t, t))
        self._reset()
        return closed

    def _staff_seen(self, t: float) -> list[Transition]:
        if not self._open:
            self._absent_since = None
            return []
        if self._back_since is None:
            self._back_since = t
        if t - self._back_since < self.rule.return_delay_s:
            return []
        assert self._absent_since is not None
        closed = VacancyClosed(self._absent_since, self._back_since, t)
        self._reset()
        return [closed]

    def _staff_missing(self, t: float) -> list[Transition]:
        self._back_since = None
        if self._absent_since is None:
            self._absent_since = t
        if self._open or t - self._absent_since < self.rule.absence_delay_s:
            return []
        self._open = True
        return [VacancyOpened(self._absent_since, t)]

    def _reset(self) -> None:
        self._absent_since = None
        self._back_since = None
        self._open = False
