"""A case's state, folded from its events (in the order they happened), and the card view of it.

Rules of `fold`:

- `accepted`: the acceptance facts (item, department, window, applicant, limits, time); a later
  `accepted` (a correction from the source) replaces an earlier one.
- `step` start and end pair by `step_id`, else an end closes the latest open start of the same
  step name; an end without a start is a step that started and ended at that time. A step's
  node limit is the start's, else the end's, else the site config's for the item and step.
- `suspended` / `resumed` pair by `suspension_id`, else a resume ends the last open
  suspension; a resume without one is ignored (there is no pause to end).
- `completed` sets the outcome, reason and time; `withdrawn` marks the case withdrawn.
- Places to play (the link to video): the acceptance at its window, and every step handled at
  a window, each with its time range (an open step runs until now).

Because the events are sorted by time before folding, out-of-order arrival ends in the same
state as in-order arrival.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from cases.cards import CaseView, Outcome, Step
from cases.clock import Limit, Pause
from cases.intake import (
    Accepted,
    Completed,
    Resumed,
    StepEvent,
    StepPhase,
    Suspended,
    Withdrawn,
    parse_event,
)
from cases.rules import promised_default, step_limit
from hallwatch.config_cases import CasesSettings


@dataclass(frozen=True, slots=True)
class Place:
    """Where and when part of a case was handled, for the console to play."""

    what: str  # "accepted" or the step name
    window_id: str
    start: dt.datetime
    end: dt.datetime | None  # None: still going on


@dataclass
class CaseFacts:
    case_id: str
    accepted: Accepted | None = None
    steps: list[Step] = field(default_factory=list)
    places: list[Place] = field(default_factory=list)
    pauses: list[Pause] = field(default_factory=list)
    completed: Completed | None = None
    withdrawn: Withdrawn | None = None
    _open_steps: list[tuple[StepEvent, int]] = field(default_factory=list)
    _open_pauses: list[tuple[str | None, dt.datetime]] = field(default_factory=list)

    @property
    def item_code(self) -> str | None:
        return None if self.accepted is None else self.accepted.item_code


def fold(case_id: str, bodies: Sequence[dict[str, object]], settings: CasesSettings) -> CaseFacts:
    """The case's facts from its stored event bodies (folded in time order; events of the same
    time in the order given)."""
    facts = CaseFacts(case_id)
    for event in sorted((parse_event(body) for body in bodies), key=lambda e: e.at):
        if isinstance(event, Accepted):
            _accept(facts, event)
        elif isinstance(event, StepEvent):
            _step(facts, event, settings)
        elif isinstance(event, Suspended):
            facts._open_pauses.append((event.suspension_id, event.at))
        elif isinstance(event, Resumed):
            _resume(facts, event)
        elif isinstance(event, Completed):
            facts.completed = event
        else:
            facts.withdrawn = event
    facts.pauses.extend(Pause(start) for _, start in facts._open_pauses)
    return facts


def _accept(facts: CaseFacts, event: Accepted) -> None:
    facts.accepted = event
    facts.places = [p for p in facts.places if p.what != "accepted"]
    if event.window_id is not None:
        facts.places.insert(0, Place("accepted", event.window_id, event.at, event.at))


def _step(facts: CaseFacts, event: StepEvent, settings: CasesSettings) -> None:
    item = facts.item_code or ""
    if event.phase is StepPhase.START:
        limit = event.limit.to_limit() if event.limit else step_limit(settings, item, event.step)
        facts.steps.append(Step(event.step, event.at, None, limit))
        facts._open_steps.append((event, len(facts.steps) - 1))
        if event.window_id is not None:
            facts.places.append(Place(event.step, event.window_id, event.at, None))
        return
    match = _matching_start(facts, event)
    if match is None:  # an end without its start
        limit = event.limit.to_limit() if event.limit else step_limit(settings, item, event.step)
        facts.steps.append(Step(event.step, event.at, event.at, limit))
        return
    index = match[1]
    facts._open_steps.remove(match)
    step = facts.steps[index]
    limit = step.limit or (event.limit.to_limit() if event.limit else None)
    facts.steps[index] = Step(step.name, step.start, event.at, limit)
    for n, place in enumerate(facts.places):
        if place.what == step.name and place.start == step.start and place.end is None:
            facts.places[n] = Place(place.what, place.window_id, place.start, event.at)
            break


def _matching_start(facts: CaseFacts, end: StepEvent) -> tuple[StepEvent, int] | None:
    for start, index in reversed(facts._open_steps):
        same = start.step_id == end.step_id if end.step_id is not None else start.step == end.step
        if same:
            return start, index
    return None


def _resume(facts: CaseFacts, event: Resumed) -> None:
    for n in range(len(facts._open_pauses) - 1, -1, -1):
        pause_id, start = facts._open_pauses[n]
        if event.suspension_id is None or pause_id == event.suspension_id:
            del facts._open_pauses[n]
            facts.pauses.append(Pause(start, max(start, event.at)))
            return


def promised_limit(facts: CaseFacts, settings: CasesSettings) -> Limit | None:
    """The promised limit the source sent, else the site config's for the item."""
    if facts.accepted is None:
        return None
    if facts.accepted.promised is not None:
        return facts.accepted.promised.to_limit()
    return promised_default(settings, facts.accepted.item_code)


def case_view(facts: CaseFacts, settings: CasesSettings) -> CaseView | None:
    """What the card rules need; None while no promised limit is known (nothing to judge)."""
    promised = promised_limit(facts, settings)
    if promised is None:
        if facts.completed is None:
            return None
        promised = Limit(0)  # a completion without acceptance is judged on handling alone
    accepted = facts.accepted
    legal = None if accepted is None or accepted.legal is None else accepted.legal.to_limit()
    completed = facts.completed
    return CaseView(
        promised=promised,
        accepted_at=None if accepted is None else accepted.at,
        legal=legal,
        pauses=tuple(facts.pauses),
        steps=tuple(facts.steps),
        completed_at=None if completed is None else completed.at,
        outcome=None if completed is None else Outcome(completed.outcome),
        reason=None if completed is None else completed.reason,
        withdrawn=facts.withdrawn is not None,
    )
