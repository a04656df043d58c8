"""cameras.yaml validation: every check reports file, line, key path and reason."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hallwatch.calendar import CalendarSource, calendar_source
from hallwatch.config import (
    ConfigError,
    LocatedProblem,
    calendar_gap_years,
    calendar_notices,
    load_site,
    site_years,
)

REPO = Path(__file__).resolve().parents[2]

VALID = """\
name: 测试中心
halls:
  - id: H1
    name: 大厅
cameras:
  - id: cam01
    name: 一号
    hall: H1
    url: rtsp://user:secret@192.0.2.1/stream
  - id: cam02
    name: 二号
    url: file:clip.mp4
    sub_url: clip-small.mp4
    kind: tender_site
windows:
  - id: W01
    name: 1号窗口
    department: 税务局
    camera: cam01
    staff_zone: [[0.1, 0.5], [0.4, 0.5], [0.4, 0.9]]
    queue_zone: [[0.1, 0.0], [0.4, 0.0], [0.4, 0.4]]
schedule:
  hours: {start: "09:00", end: "17:00"}
  lunch_break: {start: "12:00", end: "13:30"}
  holidays: [2027-01-01]
thresholds:
  absence_delay_s: 30
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cameras.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(tmp_path: Path, text: str) -> list[LocatedProblem]:
    with pytest.raises(ConfigError) as caught:
        load_site(write(tmp_path, text))
    return caught.value.problems


def test_valid_file_loads_with_defaults(tmp_path: Path) -> None:
    site = load_site(write(tmp_path, VALID))
    assert [c.id for c in site.cameras] == ["cam01", "cam02"]
    assert site.windows[0].staff_on_duty == 1
    assert site.thresholds.absence_delay_s == 30
    assert site.thresholds.return_delay_s == 5  # default
    assert site.schedule.hours.start == dt.time(9, 0)
    assert site.cameras[1].kind == "tender_site"


def test_example_and_demo_configs_are_valid() -> None:
    load_site(REPO / "cameras.yaml")
    load_site(REPO / "hallwatch" / "demo" / "demo.yaml")


CASES = [
    # (description, replace old → new, expected line, key path, reason fragment)
    ("unknown key", ("    kind: tender_site", "    kind: tender_site\n    colour: red"),
     15, "cameras[1].colour", "unknown key 'colour'"),
    ("unknown camera", ("    camera: cam01", "    camera: cam09"),
     19, "windows[0].camera", "unknown camera 'cam09'"),
    ("unknown hall", ("    hall: H1", "    hall: H9"), 8, "cameras[0].hall", "unknown hall 'H9'"),
    ("duplicate id", ("  - id: cam02", "  - id: cam01"),
     10, "cameras[1].id", "duplicate id 'cam01'"),
    ("polygon with 2 points", ("[[0.1, 0.5], [0.4, 0.5], [0.4, 0.9]]", "[[0.1, 0.5], [0.4, 0.5]]"),
     20, "windows[0].staff_zone", "at least 3 points"),
    ("coordinate outside 0-1", ("[[0.1, 0.0], [0.4, 0.0]", "[[0.1, 0.0], [1.4, 0.0]"),
     21, "windows[0].queue_zone", "outside the frame"),
    ("missing required key", ("    department: 税务局\n", ""),
     16, "windows[0].department", "required key 'department' is missing"),
    ("bad time of day", ('start: "09:00"', 'start: "9am"'),
     23, "schedule.hours.start", "'HH:MM'"),
    ("hours end before start", ('end: "17:00"', 'end: "08:00"'),
     23, "schedule.hours", "must be after start"),
    ("lunch outside hours", ('{start: "12:00", end: "13:30"}', '{start: "18:00", end: "19:00"}'),
     22, "schedule", "lunch_break must lie within"),
    ("holiday also a workday", ("  holidays: [2027-01-01]", "  holidays: [2027-01-01]\n  workdays: [2027-01-01]"),
     22, "schedule", "both as holiday and as working day"),
    ("unsupported url scheme", ("url: file:clip.mp4", "url: http://x/clip.mp4"),
     12, "cameras[1].url", "unsupported scheme 'http'"),
    ("negative threshold", ("absence_delay_s: 30", "absence_delay_s: -1"),
     27, "thresholds.absence_delay_s", "greater than or equal to 0"),
    ("staff on duty zero", ("    camera: cam01", "    camera: cam01\n    staff_on_duty: 0"),
     20, "windows[0].staff_on_duty", "greater than or equal to 1"),
    ("bad id characters", ("  - id: W01", "  - id: W 01"), 16, "windows[0].id", "pattern"),
    ("unknown time zone", ("schedule:\n", "schedule:\n  timezone: Mars/Olympus\n"),
     23, "schedule.timezone", "unknown time zone"),
    ("zones on a window camera", ("    hall: H1\n", "    hall: H1\n    zones: [{id: Z1, name: 室, zone: [[0, 0], [1, 0], [1, 1]], max_persons: 3}]\n"),
     9, "cameras[0].zones", "is not kind: tender_site"),
    ("tender zone without a rule", ("    kind: tender_site", "    kind: tender_site\n    zones: [{id: Z1, name: 室, zone: [[0, 0], [1, 0], [1, 1]]}]"),
     15, "cameras[1].zones[0]", "needs restricted_hours, max_persons"),
    ("empty restricted range", ("    kind: tender_site", "    kind: tender_site\n    zones:\n      - {id: Z1, name: 室, zone: [[0, 0], [1, 0], [1, 1]], restricted_hours: [{start: '22:00', end: '22:00'}]}"),
     16, "cameras[1].zones[0].restricted_hours[0]", "the range is empty"),
    ("duplicate tender zone", ("    kind: tender_site", "    kind: tender_site\n    zones:\n      - {id: Z1, name: 室, zone: [[0, 0], [1, 0], [1, 1]], max_persons: 2}\n      - {id: Z1, name: 厅, zone: [[0, 0], [1, 0], [1, 1]], max_persons: 9}"),
     17, "cameras[1].zones[1].id", "duplicate id 'Z1' (already used by cameras[1].zones[0])"),
    ("yolo without a model file", ("thresholds:\n", "detector:\n  type: yolo\nthresholds:\n"),
     26, "detector", "needs `model`"),
    ("queue on an unknown camera", ("schedule:\n", "queues:\n  - {id: Q1, name: 取号机, camera: cam07, zone: [[0, 0], [1, 0], [1, 1]]}\nschedule:\n"),
     23, "queues[0].camera", "unknown camera 'cam07'"),
    ("queue id used by a window", ("schedule:\n", "queues:\n  - {id: W01, name: 取号机, camera: cam01, zone: [[0, 0], [1, 0], [1, 1]]}\nschedule:\n"),
     23, "queues[0].id", "duplicate id 'W01' (already used by windows[0])"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "line", "key", "reason"), [case[1:] for case in CASES], ids=[c[0] for c in CASES]
)
def test_each_check_is_located(
    tmp_path: Path, change: tuple[str, str], line: int, key: str, reason: str
) -> None:
    old, new = change
    assert old in VALID
    problems = problems_of(tmp_path, VALID.replace(old, new, 1))
    assert len(problems) == 1, problems
    problem = problems[0]
    assert problem.file.endswith("cameras.yaml")
    assert (problem.line, problem.key) == (line, key), str(problem)
    assert reason in problem.reason
    assert str(problem).startswith(f"{problem.file}:{line}: {key}: ")


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    text = VALID.replace("    camera: cam01", "    camera: cam09").replace(
        "  - id: cam02", "  - id: cam01"
    )
    text = text.replace("    kind: tender_site", "    kind: tender_site\n    colour: red")
    keys = [problem.key for problem in problems_of(tmp_path, text)]
    assert keys == ["cameras[1].id", "cameras[1].colour", "windows[0].camera"]


def test_yaml_syntax_error_is_located(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, VALID.replace("    name: 一号", "    name: [一号"))
    assert len(problems) == 1
    assert problems[0].line is not None and 7 <= problems[0].line <= 9
    assert "YAML syntax error" in problems[0].reason


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "- just\n- a list\n")
    assert problems[0].reason == "expected a mapping at the top level"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_site(tmp_path / "absent.yaml")


def test_calendar_fallback_notice_for_unpublished_year(tmp_path: Path) -> None:
    site = load_site(write(tmp_path, VALID.replace("  holidays: [2027-01-01]\n", "")))
    assert calendar_source(site.schedule, 2026) is CalendarSource.STATUTORY
    assert calendar_source(site.schedule, 2027) is CalendarSource.WEEKDAYS_ONLY
    notices = calendar_notices(site, [2026, 2027])
    assert len(notices) == 1
    assert "2027 holiday calendar not yet published" in notices[0]
    listed = load_site(write(tmp_path, VALID))  # lists a 2027 holiday: the site took over
    assert calendar_source(listed.schedule, 2027) is CalendarSource.SITE
    assert calendar_notices(listed, [2027]) == []
    assert calendar_gap_years(site, [2026, 2027]) == [2027]
    assert calendar_gap_years(listed, [2026, 2027]) == []


@pytest.mark.parametrize(
    ("now", "years"),
    [("2026-12-31T15:59:59+00:00", [2026, 2027]), ("2026-12-31T16:00:00+00:00", [2027, 2028])],
)
def test_site_years_turn_at_midnight_in_the_site_time_zone(
    tmp_path: Path, now: str, years: list[int]
) -> None:
    site = load_site(write(tmp_path, VALID))  # Asia/Shanghai, UTC+8
    assert site_years(site, dt.datetime.fromisoformat(now).timestamp()) == years


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hallwatch.cli", *args], capture_output=True, text=True, cwd=REPO
    )


def test_check_config_cli_exit_codes(tmp_path: Path) -> None:
    good = run_cli(
        "check-config", str(write(tmp_path, VALID.replace("  holidays: [2027-01-01]\n", "")))
    )
    assert good.returncode == 0, good.stderr
    assert "OK" in good.stdout
    assert "2027 holiday calendar not yet published" in good.stdout
    bad_path = write(tmp_path, VALID.replace("    camera: cam01", "    camera: cam09"))
    bad = run_cli("check-config", str(bad_path))
    assert bad.returncode == 2
    assert (
        f"{bad_path}:19: windows[0].camera: window 'W01' names unknown camera 'cam09'" in bad.stderr
    )
