"""Tender-site (招投标现场) zone rules: intrusion in restricted hours, overcrowding.

A camera of kind tender_site watches zones such as a sealed bid-evaluation room. Per zone:

- `intrusion`: anyone in the zone during its restricted hours (e.g. the evaluation room at
  night, 22:00–07:00). Leaving the restricted hours ends an open intrusion at that sample.
- `overcrowded`: more than `max_persons` people in the zone, at any time.

Both are episodes of the shared `DelayedCondition`: they open once the condition has held for
`intrusion_delay_s` / `overcrowd_delay_s` and close once it has been false for `clear_delay_s`.
People are counted by their feet (bottom centre of the box) in relative coordinates.

The analyzer does not read clocks: the caller converts the sample's time to the site's local
wall-clock time and passes `restricted` (`ZoneRuleSpec.restricted_at(local)` does the check).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from analyzers.episodes import DelayedCondition, Delays, EpisodeChange, Transition
from analyzers.zones import Zone

TimeRange = tuple[dt.time, dt.time]


def in_daily_range(local: dt.time, start: dt.time, end: dt.time) -> bool:
    """Whether the wall-clock time `local` is in the daily range [start, end).

    start < end: the same day (09:00–17:00). start > end: the range crosses midnight
    (22:00–07:00 is 22:00–24:00 and 00:00–07:00). start == end: all day. A time zone attached
    to `local` is ignored: it is read as the wall-clock time it shows.
    """
    clock = local.replace(tzinfo=None)
    if start == end:
        return True
    if start < end:
        return start <= clock < end
    return clock >= start or clock < end


def in_daily_ranges(local: dt.time, ranges: Sequence[TimeRange]) -> bool:
    """Whether `local` is in any of the daily ranges (see `in_daily_range`); no ranges: never."""
    return any(in_daily_range(local, start, end) for start, end in ranges)


def persons_in(zone: Zone, feet_rel: npt.NDArray[np.floating]) -> int:
    """How many of the feet points ([N, 2], relative 0–1) are inside `zone`."""
    return int(zone.contains(feet_rel).sum()) if len(feet_rel) else 0


class SiteRule(StrEnum):
    INTRUSION = "intrusion"
    OVERCROWDED = "overcrowded"


@dataclass(frozen=True, slots=True)
class ZoneRuleSpec:
    """The rules of one tender-site zone; `max_persons` None: no crowd limit."""

    zone_id: str
    zone: Zone
    restricted_hours: tuple[TimeRange, ...] = ()
    max_persons: int | None = None
    intrusion_delay_s: float = 5.0
    overcrowd_delay_s: float = 30.0
    clear_delay_s: float = 10.0

    def __post_init__(self) -> None:
        if self.max_persons is not None and self.max_persons < 0:
            raise ValueError(f"zone {self.zone_id}: max_persons must not be negative")
        for delay in (self.intrusion_delay_s, self.overcrowd_delay_s, self.clear_delay_s):
            if delay < 0:
                raise ValueError(f"zone {self.zone_id}: delays must not be negative")

    def restricted_at(self, local: dt.time) -> bool:
        """Whether the site's local wall-clock time `local` is in the zone's restricted hours."""
        return in_daily_ranges(local, self.restricted_hours)


def intruding(persons: int, restricted: bool) -> bool:
    return restricted and persons > 0


def overcrowded(persons: int, max_persons: int | None) -> bool:
    return max_persons is not None and persons > max_persons


@dataclass(frozen=True, slots=True)
class ZoneUpdate:
    """One sample of one zone: people in it, the episodes it opened or closed, what is open."""

    zone_id: str
    persons: int
    changes: tuple[EpisodeChange, ...]
    open_kinds: tuple[SiteRule, ...] = ()


class _ZoneEpisode:
    """One rule of one zone: its delayed condition and the peak person count of its episode."""

    def __init__(self, rule: SiteRule, spec: ZoneRuleSpec, delays: Delays) -> None:
        self.rule = rule
        self.key = f"{spec.zone_id}/{rule.value}"
        self._details: dict[str, Any] = {"zone": spec.zone_id}
        if rule is SiteRule.OVERCROWDED:
            self._details["max_persons"] = spec.max_persons
        self._condition = DelayedCondition(delays)
        self._peak = 0

    @property
    def is_open(self) -> bool:
        return self._condition.is_open

    def feed(self, t: float, condition: bool, persons: int) -> EpisodeChange | None:
        if condition:
            fresh = not self._condition.is_open and self._condition.pending_since is None
            self._peak = persons if fresh else max(self._peak, persons)
        return self._change(self._condition.feed(t, condition))

    def end(self, t: float) -> EpisodeChange | None:
        return self._change(self._condition.end(t))

    def _change(self, transition: Transition | None) -> EpisodeChange | None:
        if transition is None:
            return None
        details = {**self._details, "persons": self._peak}
        return EpisodeChange(self.rule.value, self.key, transition, None, details)


class SiteZoneAnalyzer:
    """Feed one zone's samples in time order; each update returns the episodes it changed.

    `details` of every change: the zone id, `persons` (the peak count in the zone while the
    condition held, up to this change) and, for overcrowded, `max_persons`.
    """

    def __init__(self, spec: ZoneRuleSpec) -> None:
        self.spec = spec
        self._intrusion = _ZoneEpisode(
            SiteRule.INTRUSION, spec, Delays(spec.intrusion_delay_s, spec.clear_delay_s)
        )
        self._overcrowded = _ZoneEpisode(
            SiteRule.OVERCROWDED, spec, Delays(spec.overcrowd_delay_s, spec.clear_delay_s)
        )

    def update(self, t: float, feet_rel: npt.NDArray[np.floating], restricted: bool) -> ZoneUpdate:
        persons = persons_in(self.spec.zone, feet_rel)
        if restricted:
            intrusion = self._intrusion.feed(t, intruding(persons, restricted), persons)
        else:
            intrusion = self._intrusion.end(t)
        crowd = self._overcrowded.feed(t, overcrowded(persons, self.spec.max_persons), persons)
        return self._update(persons, (intrusion, crowd))

    def end(self, t: float) -> ZoneUpdate:
        """Close the open episodes at `t` (camera gone, shutdown, end of file)."""
        return self._update(0, (self._intrusion.end(t), self._overcrowded.end(t)))

    def _update(self, persons: int, changes: Sequence[EpisodeChange | None]) -> ZoneUpdate:
        episodes = (self._intrusion, self._overcrowded)
        return ZoneUpdate(
            self.spec.zone_id,
            persons,
            tuple(change for change in changes if change is not None),
            tuple(episode.rule for episode in episodes if episode.is_open),
        )
