"""What the console shows of a camera right now (produced by the runtime)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class LiveView:
    """The newest annotated snapshot of one camera and the counts behind it."""

    jpeg: bytes
    t: float
    persons: int
    windows: dict[str, dict[str, Any]]
