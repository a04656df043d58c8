"""Building blocks of the site configuration: the strict base model, ids, polygons, times."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Model(BaseModel):
    """Base for every config model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
Ident = Annotated[
    str,
    Field(pattern=ID_PATTERN, description="Identifier: letters, digits, '_', '.', '-'"),
]


def check_polygon(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    if len(points) < 3:
        raise ValueError(f"a polygon needs at least 3 points, got {len(points)}")
    for index, (x, y) in enumerate(points):
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise ValueError(
                f"point {index} ({x}, {y}) is outside the frame: coordinates are relative, 0 to 1"
            )
    return points


Polygon = Annotated[
    list[tuple[float, float]],
    Field(description="Polygon as [[x, y], ...] in relative frame coordinates (0–1)"),
]


TIME_PATTERN = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _parse_clock(value: Any) -> dt.time:
    if isinstance(value, dt.time):
        return value
    if isinstance(value, int) and 0 <= value < 24 * 60:
        # YAML 1.1 reads 09:00 as a sexagesimal integer; accept it as minutes.
        return dt.time(value // 60, value % 60)
    if isinstance(value, str) and TIME_PATTERN.match(value):
        hours, minutes = value.split(":")
        return dt.time(int(hours), int(minutes))
    raise ValueError(f"expected a time of day as 'HH:MM', got {value!r}")


ClockTime = Annotated[dt.time, Field(description="Time of day, 'HH:MM'")]


class TimeRange(Model):
    start: ClockTime = Field(description="Start, 'HH:MM'")
    end: ClockTime = Field(description="End, 'HH:MM' (after start)")

    _clock = field_validator("start", "end", mode="before")(_parse_clock)

    @model_validator(mode="after")
    def _ordered(self) -> TimeRange:
        if self.end <= self.start:
            raise ValueError(f"end {self.end:%H:%M} must be after start {self.start:%H:%M}")
        return self


class DailyRange(Model):
    """A daily time range that may cross midnight: 22:00–07:00 is the night."""

    start: ClockTime = Field(description="Start, 'HH:MM'")
    end: ClockTime = Field(description="End, 'HH:MM'; earlier than start when it crosses midnight")

    _clock = field_validator("start", "end", mode="before")(_parse_clock)

    @model_validator(mode="after")
    def _not_empty(self) -> DailyRange:
        if self.end == self.start:
            raise ValueError(f"start and end are both {self.start:%H:%M}: the range is empty")
        return self


def optional_polygon(value: list[tuple[float, float]] | None) -> list[tuple[float, float]] | None:
    return None if value is None else check_polygon(value)
