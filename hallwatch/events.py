"""Supervision events: the facts analyzers raise and the console shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    COUNTER_VACANT = "counter_vacant"


EVENT_LABELS_ZH: dict[str, str] = {
    EventType.COUNTER_VACANT: "窗口空岗",
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
