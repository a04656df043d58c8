"""A random mix of approval cases as intake events, for tests and benches of the case store:
limits in working days, natural days and working hours, legal limits, steps with node limits
(some still open), suspensions (some still open), a few completions and withdrawals, accepted
over 110 days from mid-September 2026 (so across National Day and into 2027)."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any
from zoneinfo import ZoneInfo

SH = ZoneInfo("Asia/Shanghai")
START = dt.datetime(2026, 9, 14, 9, tzinfo=SH)
UNITS = ["working_days", "working_days", "natural_days", "working_hours"]


def random_limit(rng: random.Random) -> dict[str, Any]:
    unit = rng.choice(UNITS)
    low = 1 if unit == "working_hours" else 0
    return {"amount": rng.randint(low, 40 if unit == "working_hours" else 15), "unit": unit}


def case_events(
    rng: random.Random, case: str, start: dt.datetime = START, *, closing: bool = True
) -> list[dict[str, Any]]:
    """One case's events: acceptance, maybe steps with node limits, suspensions (some left
    open), a completion or a withdrawal now and then."""
    accepted = start + dt.timedelta(hours=rng.randrange(0, 24 * 110))
    events: list[dict[str, Any]] = [{
        "type": "accepted", "event_id": f"{case}-a", "case_id": case,
        "at": accepted.isoformat(), "item_code": rng.choice(["ITEM-1", "ITEM-2"]),
        "item_name": "许可", "department": "市场监管局", "applicant_type": "individual",
        "promised": random_limit(rng),
    }]  # fmt: skip
    if rng.random() < 0.4:
        events[0]["legal"] = random_limit(rng)

    def later(hours: int) -> str:
        return (accepted + dt.timedelta(hours=rng.randrange(1, hours))).isoformat()

    for n in range(rng.choice([0, 0, 1, 2])):
        events.append({"type": "step", "event_id": f"{case}-s{n}", "case_id": case,
                       "at": later(300), "step": f"审核{n}", "phase": "start",
                       "handler_id": "h1", "step_id": f"s{n}", "limit": random_limit(rng)})  # fmt: skip
        if rng.random() < 0.5:
            events.append({"type": "step", "event_id": f"{case}-e{n}", "case_id": case,
                           "at": later(600), "step": f"审核{n}", "phase": "end",
                           "handler_id": "h1", "step_id": f"s{n}"})  # fmt: skip
    for n in range(rng.choice([0, 0, 1, 2])):
        events.append({"type": "suspended", "event_id": f"{case}-p{n}", "case_id": case,
                       "at": later(400), "kind": "correction", "suspension_id": f"p{n}"})  # fmt: skip
        if rng.random() < 0.6:
            events.append({"type": "resumed", "event_id": f"{case}-r{n}", "case_id": case,
                           "at": later(800), "suspension_id": f"p{n}"})  # fmt: skip
    if not closing:  # the case stays open
        return events
    if rng.random() < 0.1:
        events.append({"type": "completed", "event_id": f"{case}-c", "case_id": case,
                       "at": later(900), "outcome": "approved", "handler_id": "h2"})  # fmt: skip
    elif rng.random() < 0.05:
        events.append({"type": "withdrawn", "event_id": f"{case}-w", "case_id": case,
                       "at": later(900)})  # fmt: skip
    return events
