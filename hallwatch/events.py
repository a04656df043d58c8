"""Supervision events: the facts analyzers raise and the console shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    """Every event type: an analyzer's (the `kind` of its EpisodeChange) or a case card's."""

    COUNTER_VACANT = "counter_vacant"
    QUEUE_BUILDUP = "queue_buildup"
    LONG_WAIT = "long_wait"
    INTRUSION = "intrusion"
    OVERCROWDED = "overcrowded"
    CASE_WARNING = "case_warning"  # raised by the supervision store, not by an analyzer
    CASE_YELLOW = "case_yellow"
    CASE_RED = "case_red"


EVENT_LABELS_ZH: dict[str, str] = {
    EventType.COUNTER_VACANT: "窗口空岗",
    EventType.QUEUE_BUILDUP: "排队拥堵",
    EventType.LONG_WAIT: "等候超时",
    EventType.INTRUSION: "非开放时段闯入",
    EventType.OVERCROWDED: "人员超限",
    EventType.CASE_WARNING: "办件预警",
    EventType.CASE_YELLOW: "办件黄牌",
    EventType.CASE_RED: "办件红牌",
}


@dataclass(frozen=True, slots=True)
class Event:
    """An event; times are UNIX seconds (live) or media seconds (offline analysis)."""

    type: str
    camera: str
    start: float
    detected_at: float
    window: str | None = None
    end: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    id: int | None = None
    seq: int = 0  # store change counter: grows with every insert or update

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "label": EVENT_LABELS_ZH.get(self.type, self.type),
            "camera": self.camera,
            "window": self.window,
            "start": self.start,
            "end": self.end,
            "detected_at": self.detected_at,
            "details": self.details,
            "seq": self.seq,
        }
