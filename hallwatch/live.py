"""What the console shows of a camera right now (produced by the runtime)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class LiveView:
    """The newest annotated snapshot of one camera and the counts behind it."""

    jpeg: bytes
    t: float
    persons: int
    windows: dict[str, dict[str, Any]]
    queues: dict[str, dict[str, Any]] = field(default_factory=dict)
    zones: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "t": self.t,
            "persons": self.persons,
            "windows": self.windows,
            "queues": self.queues,
            "zones": self.zones,
        }
