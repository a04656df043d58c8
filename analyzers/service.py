"""A service window's state per sample and per clock minute, for reports.

People whose feet are in the window's staff zone count as staff; people in its customer zone
(where the customer being served stands or sits at the counter) count as customers. Each sample
gets one `ServiceState`; `ServiceMinutes` turns the samples into one `WindowMinute` record per
clock minute with the seconds spent in each state and the dominant one.

The state is what the sample shows, without delays: a vacant minute here is time without enough
staff, whether or not it lasted long enough to become a counter_vacant event (see
`analyzers.vacancy` for that).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from analyzers.minutes import MinuteTally, StateMinutes


class ServiceState(StrEnum):
    OFF_DUTY = "off_duty"  # outside service hours
    VACANT = "vacant"  # in service with fewer staff than on duty, whatever the customers
    STAFFED = "staffed"  # enough staff, nobody at the counter
    SERVING = "serving"  # enough staff and at least one person in the customer zone


def service_state(in_service: bool, staff: int, staff_on_duty: int, customers: int) -> ServiceState:
    """The state one sample shows; a window without a customer zone passes customers=0."""
    if not in_service:
        return ServiceState.OFF_DUTY
    if staff < staff_on_duty:
        return ServiceState.VACANT
    return ServiceState.SERVING if customers > 0 else ServiceState.STAFFED


@dataclass(frozen=True, slots=True)
class WindowMinute:
    """One clock minute of one window: seconds per state over the covered part of the minute."""

    window: str
    minute: float  # UNIX (or media) seconds at the start of the minute
    state: ServiceState  # the state held longest (ties: first in name order)
    seconds: Mapping[ServiceState, float]

    @property
    def covered_s(self) -> float:
        return sum(self.seconds.values())


def window_minute(window: str, tally: MinuteTally) -> WindowMinute | None:
    """The record for a completed minute; None for a minute without covered time."""
    dominant = tally.dominant
    if dominant is None:
        return None
    seconds = {ServiceState(state): s for state, s in sorted(tally.seconds.items())}
    return WindowMinute(window, tally.minute, ServiceState(dominant), seconds)


class ServiceMinutes:
    """Samples of one window in time order → completed `WindowMinute` records.

    A sample's state holds until the next sample, at most `max_hold_s` (a camera that stops
    delivering frames leaves its minutes uncovered instead of repeating the last state).
    """

    def __init__(self, window_id: str, max_hold_s: float = 10.0) -> None:
        self.window_id = window_id
        self._minutes = StateMinutes(max_hold_s)

    def feed(self, t: float, state: ServiceState) -> list[WindowMinute]:
        """Record `state` from `t` on; returns the minutes completed before `t`'s minute."""
        return self._records(self._minutes.feed(t, state.value))

    def flush(self, t: float) -> list[WindowMinute]:
        """Close everything up to `t` (end of file, shutdown) and return all open minutes."""
        return self._records(self._minutes.flush(t))

    def _records(self, tallies: list[MinuteTally]) -> list[WindowMinute]:
        records = (window_minute(self.window_id, tally) for tally in tallies)
        return [record for record in records if record is not None]
