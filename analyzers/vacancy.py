"""Counter vacancy (空岗): a pure state machine fed with (timestamp, staff count, in service).

The vacancy is an episode of the shared `DelayedCondition`: the condition is "fewer staff than
`staff_on_duty` during service"; it opens after `absence_delay_s` and closes once staff have
been back for `return_delay_s`. The delays only decide whether an absence becomes an event. The
event's start and end are the times the state really changed: the first sample without enough
staff, and the first sample with staff back, so clips and reports show the whole absence.
Leaving service (lunch, closing time) ends an open vacancy at that sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from analyzers.episodes import Closed, DelayedCondition, Delays, Opened


@dataclass(frozen=True, slots=True)
class VacancyRule:
    staff_on_duty: int = 1
    absence_delay_s: float = 60.0
    return_delay_s: float = 5.0


# A vacancy opens and closes like every other episode: (start, detected_at) and
# (start, end, detected_at), where end is the first sample with staff back (or service end).
VacancyOpened = Opened
VacancyClosed = Closed
Transition = Opened | Closed


class WindowState(StrEnum):
    OFF_DUTY = "off_duty"  # outside service hours
    STAFFED = "staffed"
    VACANT = "vacant"  # an open counter_vacant event


def understaffed(staff: int, rule: VacancyRule) -> bool:
    return staff < rule.staff_on_duty


class VacancyMachine:
    """Feed samples in time order; each call returns the transitions it caused."""

    def __init__(self, rule: VacancyRule) -> None:
        self.rule = rule
        self._absence = DelayedCondition(Delays(rule.absence_delay_s, rule.return_delay_s))
        self._in_service = False

    @property
    def state(self) -> WindowState:
        if not self._in_service:
            return WindowState.OFF_DUTY
        return WindowState.VACANT if self._absence.is_open else WindowState.STAFFED

    @property
    def open_since(self) -> float | None:
        return self._absence.open_since

    def feed(self, t: float, staff: int, in_service: bool = True) -> list[Transition]:
        self._in_service = in_service
        change: Transition | None
        if in_service:
            change = self._absence.feed(t, understaffed(staff, self.rule))
        else:
            change = self._absence.end(t)
        return [] if change is None else [change]
