"""cameras.yaml `analysis.tracking:` checks, and tracking settings reaching the tracker."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from analyzers.tracker import TrackerSettings
from hallwatch.config import ConfigError, LocatedProblem, load_site
from hallwatch.config_analysis import (
    AnalysisSettings,
    TrackingSettings,
)
from hallwatch.rules import tracker_settings

REPO = Path(__file__).resolve().parents[2]

SITE = """\
name: 测试中心
halls:
  - id: H1
    name: 大厅
cameras:
  - id: cam01
    name: 一号
    hall: H1
    url: rtsp://192.0.2.1/stream
windows:
  - id: W01
    name: 1号窗口
    department: 税务局
    camera: cam01
    staff_zone: [[0.1, 0.5], [0.4, 0.5], [0.4, 0.9]]
schedule:
  hours: {start: "09:00", end: "17:00"}
"""


def write(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "cameras.yaml"
    path.write_text(SITE + textwrap.dedent(extra), encoding="utf-8")
    return path


def problem_of(tmp_path: Path, extra: str) -> LocatedProblem:
    with pytest.raises(ConfigError) as caught:
        load_site(write(tmp_path, extra))
    problems = caught.value.problems
    assert len(problems) == 1, problems
    return problems[0]


def line_of(extra: str, fragment: str) -> int:
    """The 1-based line of the file written by `write` that holds `fragment`."""
    lines = (SITE + textwrap.dedent(extra)).splitlines()
    return next(number for number, line in enumerate(lines, 1) if fragment in line)


# --- tracking -----------------------------------------------------------------------------------

TRACKING_BAD = [
    ("max_centre_distance", -0.5, "greater than or equal to 0"),
    ("max_centre_distance", 11, "less than or equal to 10"),
    ("high_score", -0.1, "greater than or equal to 0"),
    ("high_score", 1.0, "less than 1"),
    ("max_size_ratio", 0.9, "greater than or equal to 1"),
    ("max_size_ratio", 10.5, "less than or equal to 10"),
]


@pytest.mark.parametrize(("key", "value", "reason"), TRACKING_BAD)
def test_tracking_problems_are_located(tmp_path: Path, key: str, value: float, reason: str) -> None:
    extra = f"analysis:\n  tracking:\n    {key}: {value}\n"
    problem = problem_of(tmp_path, extra)
    assert problem.key == f"analysis.tracking.{key}", str(problem)
    assert reason in problem.reason
    assert problem.line == line_of(extra, f"{key}:")


@pytest.mark.parametrize(
    ("key", "value"),
    [(key, value) for key, value, reason in TRACKING_BAD if "less than or equal" not in reason],
)
def test_the_tracker_rejects_them_too(key: str, value: float) -> None:
    """The config's lower bounds are the tracker's rules (its upper ones are sanity limits)."""
    with pytest.raises(ValueError, match=key):
        TrackerSettings(**{key: value})  # type: ignore[arg-type]


def test_defaults_are_the_trackers() -> None:
    assert tracker_settings(AnalysisSettings()) == TrackerSettings()
    config_fields = set(TrackingSettings.model_fields)
    assert config_fields == {field.name for field in dataclasses.fields(TrackerSettings)}


def test_every_tracking_value_reaches_the_tracker(tmp_path: Path) -> None:
    extra = """\
    analysis:
      tracking:
        match_iou: 0.3
        max_centre_distance: 1.5
        high_score: 0.6
        min_hits: 3
        max_age_s: 5
        max_size_ratio: 1.5
    """
    site = load_site(write(tmp_path, extra))
    assert tracker_settings(site.analysis) == TrackerSettings(
        match_iou=0.3,
        max_centre_distance=1.5,
        high_score=0.6,
        min_hits=3,
        max_age_s=5.0,
        max_size_ratio=1.5,
    )


@pytest.mark.parametrize(
    "values",
    [
        {"max_centre_distance": 0.0},  # IoU only
        {"high_score": 0.0},  # every detection may start a person
        {"max_size_ratio": 1.0},
        {"max_centre_distance": 10.0, "max_size_ratio": 10.0, "high_score": 0.99},
    ],
)
def test_config_edges_are_valid_tracker_settings(values: dict[str, Any]) -> None:
    tracking = TrackingSettings(**values)
    assert tracker_settings(AnalysisSettings(tracking=tracking)) == TrackerSettings(**values)


def test_unknown_tracking_key_is_refused() -> None:
    with pytest.raises(ValidationError, match="max_speed"):
        TrackingSettings.model_validate({"max_speed": 2})
