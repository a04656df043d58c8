"""cameras.yaml `detector:` and `analysis.tracking:` checks, and tracking settings reaching the
tracker."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from analyzers import detector_spec
from analyzers.tracker import TrackerSettings
from hallwatch.config import load_site
from hallwatch.config_analysis import (
    MAX_STRIDE,
    AnalysisSettings,
    DetectorSettings,
    TrackingSettings,
)
from hallwatch.rules import tracker_settings
from tests.support.config_files import ConfigFiles

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


FILES = ConfigFiles(SITE)
write, problem_of, line_of = FILES.write, FILES.problem_of, FILES.line_of


# --- detector -----------------------------------------------------------------------------------

DETECTOR_CASES = [
    # (description, detector section, key path, reason fragment)
    ("input size not a multiple of 32", "  input_size: 600\n", "detector.input_size",
     "input_size 600 is not a multiple of 32 (the networks' largest stride); use 576 or 608"),
    ("input size just above a multiple", "  input_size: 33\n", "detector.input_size",
     "use 32 or 64"),
    ("input size too small", "  input_size: 16\n", "detector.input_size",
     "greater than or equal to 32"),
    ("no labels", "  labels: []\n", "detector.labels", "labels is empty"),
    ("an empty label", "  labels: [person, '', car]\n", "detector.labels",
     "empty name at position 1"),
    ("a blank label", "  labels: [person, '  ']\n", "detector.labels", "empty name at position 1"),
    ("a label twice", "  labels: [person, car, person]\n", "detector.labels",
     "labels names 'person' twice (positions 0 and 2"),
    ("person label missing", "  labels: [car, bus]\n", "detector", "person_label 'person'"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("section", "key", "reason"),
    [c[1:] for c in DETECTOR_CASES],
    ids=[c[0] for c in DETECTOR_CASES],
)
def test_detector_problems_are_located(tmp_path: Path, section: str, key: str, reason: str) -> None:
    extra = "detector:\n" + section
    problem = problem_of(tmp_path, extra)
    assert problem.key == key, str(problem)
    assert reason in problem.reason, problem.reason
    field = section.strip().split(":")[0]
    assert problem.line == line_of(extra, field + ":") or key == "detector"


@pytest.mark.parametrize(
    "section",
    [
        "  input_size: 320\n",
        "  input_size: 640\n",
        "  input_size: 4096\n",
        "  labels: [person]\n",
        "  labels: [background, person, car]\n",
        "  labels: [人, person]\n  person_label: 人\n",
    ],
)
def test_good_detector_settings_load(tmp_path: Path, section: str) -> None:
    site = load_site(write(tmp_path, "detector:\n" + section))
    assert site.detector.input_size is None or site.detector.input_size % 32 == 0


def test_stride_is_the_detectors() -> None:
    assert MAX_STRIDE == detector_spec.MAX_STRIDE


def test_check_config_names_the_reason(tmp_path: Path) -> None:
    path = write(tmp_path, "detector:\n  labels: [person, car, car]\n")
    done = subprocess.run(
        [sys.executable, "-m", "hallwatch.cli", "check-config", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 2
    line = line_of("detector:\n  labels: [person, car, car]\n", "labels:")
    assert f"{path}:{line}: detector.labels: labels names 'car' twice" in done.stderr


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


def test_detector_settings_validate_outside_a_file() -> None:
    with pytest.raises(ValidationError, match="not a multiple of 32"):
        DetectorSettings(input_size=500)
    assert DetectorSettings(input_size=512, labels=["person"]).input_size == 512
