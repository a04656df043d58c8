"""Edits of cameras.yaml: each kind of edit changes what it should, keeps every comment and the
untouched lines byte for byte, refuses what check-config refuses (with its located problems),
writes atomically with a bounded set of backups, and refuses a stale version."""

from __future__ import annotations

import datetime as dt
import difflib
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from hallwatch.config import load_site
from hallwatch.config_edit import (
    NULL,
    ConfigFile,
    Edit,
    InvalidEdit,
    ItemPath,
    NotFound,
    Reason,
    SecretMissing,
    StaleVersion,
    add_item,
    check_text,
    remove_item,
    restart_reasons,
    restore_secrets,
    set_camera,
    set_item,
    set_section,
    version_of,
)

CONFIG = """\
# site header comment
name: 测试中心   # trailing comment on name

halls:
  - id: H1
    name: 大厅

cameras:
  - id: cam01
    name: 一号
    hall: H1
    # credentials stay in this file
    url: rtsp://viewer:S3cret@192.0.2.11:554/main
    sub_url: rtsp://viewer:S3cret@192.0.2.11:554/sub?token=abc
  - id: tender01
    name: 开标室
    url: rtsp://192.0.2.21/main
    kind: tender_site
    zones:
      - id: Z1
        name: 评标室
        zone: [[0.1, 0.3], [0.6, 0.3], [0.6, 0.95]]
        restricted_hours: [{start: "20:00", end: "07:30"}]   # sealed at night
        max_persons: 9

windows:
  - id: W01
    name: 1号窗口
    department: 市场监管局
    camera: cam01
    # the staff seats
    staff_zone: [[0.05, 0.45], [0.45, 0.45], [0.45, 0.95], [0.05, 0.95]]
    queue_zone: [[0.05, 0.0], [0.45, 0.0], [0.45, 0.3]]

# hall queues
queues:
  - id: Q1
    name: 取号机
    camera: cam01
    zone: [[0.0, 0.0], [0.2, 0.0], [0.2, 0.45]]

schedule:
  weekdays: [1, 2, 3, 4, 5]
  hours: {start: "09:00", end: "17:30"}   # office hours
  lunch_break: {start: "12:00", end: "13:30"}
  # local holidays
  holidays: []

thresholds:
  absence_delay_s: 60   # one minute
  queue_max_length: 5
"""

COMMENTS = [line.split("#", 1)[1] for line in CONFIG.splitlines() if "#" in line]


@pytest.fixture
def config(tmp_path: Path) -> ConfigFile:
    path = tmp_path / "cameras.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return ConfigFile(path, max_backups=3)


def changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    """Lines removed and added (difflib), to show an edit touched only what it should."""
    diff = list(difflib.ndiff(before.splitlines(), after.splitlines()))
    return (
        [line[2:] for line in diff if line.startswith("- ")],
        [line[2:] for line in diff if line.startswith("+ ")],
    )


EDITS: list[tuple[str, Edit, list[str], list[str]]] = [
    (
        "window zone moved",
        set_item(ItemPath("windows"), "W01", {"staff_zone": [[0.1, 0.5], [0.45, 0.45], [0.4, 1]]}),
        ["    staff_zone: [[0.05, 0.45], [0.45, 0.45], [0.45, 0.95], [0.05, 0.95]]"],
        ["    staff_zone: [[0.1, 0.5], [0.45, 0.45], [0.4, 1]]"],
    ),
    (
        "window fields, a zone removed",
        set_item(
            ItemPath("windows"), "W01",
            {"name": "一号窗口", "staff_on_duty": 2, "queue_zone": None, "department": "市场监管局"},
        ),
        ["    name: 1号窗口", "    queue_zone: [[0.05, 0.0], [0.45, 0.0], [0.45, 0.3]]"],
        ["    name: 一号窗口", "    staff_on_duty: 2"],
    ),
    (
        "window added in the style of the others",
        add_item(ItemPath("windows"), {"id": "W02", "name": "2号", "department": "税务局",
                                       "camera": "cam01",
                                       "staff_zone": [[0.5, 0.5], [0.9, 0.5], [0.9, 0.9]]}),
        [],
        ["  - id: W02", "    name: 2号", "    department: 税务局", "    camera: cam01",
         "    staff_zone: [[0.5, 0.5], [0.9, 0.5], [0.9, 0.9]]"],
    ),
    (
        "queue removed",
        remove_item(ItemPath("queues"), "Q1"),
        ["queues:", "  - id: Q1", "    name: 取号机", "    camera: cam01",
         "    zone: [[0.0, 0.0], [0.2, 0.0], [0.2, 0.45]]"],
        ["queues: []"],
    ),
    (
        "last window removed: the next section's comment stays",
        remove_item(ItemPath("windows"), "W01"),
        ["windows:", "  - id: W01", "    name: 1号窗口", "    department: 市场监管局",
         "    camera: cam01", "    # the staff seats",
         "    staff_zone: [[0.05, 0.45], [0.45, 0.45], [0.45, 0.95], [0.05, 0.95]]",
         "    queue_zone: [[0.05, 0.0], [0.45, 0.0], [0.45, 0.3]]"],
        ["windows: []"],
    ),
    (
        "last of two cameras removed: the blank line before windows stays",
        remove_item(ItemPath("cameras"), "tender01"),
        ["  - id: tender01", "    name: 开标室", "    url: rtsp://192.0.2.21/main",
         "    kind: tender_site", "    zones:", "      - id: Z1", "        name: 评标室",
         "        zone: [[0.1, 0.3], [0.6, 0.3], [0.6, 0.95]]",
         '        restricted_hours: [{start: "20:00", end: "07:30"}]   # sealed at night',
         "        max_persons: 9"],
        [],
    ),
    (
        "hall queue zone",
        set_item(ItemPath("queues"), "Q1", {"zone": [[0, 0], [0.3, 0], [0.3, 0.5]], "max_length": 8}),
        ["    zone: [[0.0, 0.0], [0.2, 0.0], [0.2, 0.45]]"],
        ["    zone: [[0, 0], [0.3, 0], [0.3, 0.5]]", "    max_length: 8"],
    ),
    (
        "tender-site zone",
        set_item(ItemPath("zones", "tender01"), "Z1", {"max_persons": 7}),
        ["        max_persons: 9"],
        ["        max_persons: 7"],
    ),
    (
        "tender-site zone added",
        add_item(ItemPath("zones", "tender01"), {"id": "Z2", "name": "候标区",
                                                 "zone": [[0, 0], [1, 0], [1, 1]],
                                                 "max_persons": 30}),
        [],
        ["      - id: Z2", "        name: 候标区", "        zone: [[0, 0], [1, 0], [1, 1]]",
         "        max_persons: 30"],
    ),
    (
        "camera renamed, sub-stream dropped",
        set_camera("cam01", {"name": "一号机", "sub_url": None}),
        ["    name: 一号", "    sub_url: rtsp://viewer:S3cret@192.0.2.11:554/sub?token=abc"],
        ["    name: 一号机"],
    ),
    (
        "camera url sent back redacted stays",
        set_camera("cam01", {"url": "rtsp://***@192.0.2.11:554/main",
                             "sub_url": "rtsp://***@192.0.2.11:554/sub?token=***"}),
        [],
        [],
    ),
    (
        "camera path changed, credentials kept",
        set_camera("cam01", {"url": "rtsp://***@192.0.2.11:554/main2"}),
        ["    url: rtsp://viewer:S3cret@192.0.2.11:554/main"],
        ["    url: rtsp://viewer:S3cret@192.0.2.11:554/main2"],
    ),
    (
        "camera added",
        add_item(ItemPath("cameras"), {"id": "cam02", "name": "二号", "url": "file:/v.mp4"}),
        [],
        ["  - id: cam02", "    name: 二号", "    url: file:/v.mp4"],
    ),
    (
        "schedule",
        set_section("schedule", {"hours": {"start": "08:30", "end": "17:30"},
                                 "lunch_break": NULL, "holidays": [dt.date(2030, 10, 1)],
                                 "weekdays": [1, 2, 3, 4, 5]}),
        ['  hours: {start: "09:00", end: "17:30"}   # office hours',
         '  lunch_break: {start: "12:00", end: "13:30"}', "  holidays: []"],
        ['  hours: {start: "08:30", end: "17:30"}   # office hours', "  lunch_break: null",
         "  holidays: [2030-10-01]"],
    ),
    (
        "thresholds",
        set_section("thresholds", {"absence_delay_s": 90, "queue_max_length": 5}),
        ["  absence_delay_s: 60   # one minute"],
        ["  absence_delay_s: 90   # one minute"],
    ),
]


@pytest.mark.parametrize(("name", "edit", "removed", "added"), EDITS, ids=[e[0] for e in EDITS])
def test_edit_changes_only_its_lines_and_keeps_comments(
    config: ConfigFile, name: str, edit: Edit, removed: list[str], added: list[str]
) -> None:
    saved = config.edit(config.read().version, edit)
    text = config.path.read_text(encoding="utf-8")
    assert text == saved.snapshot.text and saved.snapshot.version == version_of(text)
    assert changed_lines(CONFIG, text) == (removed, added)
    for comment in COMMENTS:
        if not any(comment in line for line in removed):
            assert comment in text
    assert load_site(config.path) == saved.snapshot.site  # what check-config reads
    assert bool(saved.changed) == bool(removed or added)


def test_unchanged_edit_writes_nothing(config: ConfigFile) -> None:
    before = config.read()
    saved = config.edit(before.version, set_item(ItemPath("windows"), "W01", {"name": "1号窗口"}))
    assert saved.changed == [] and saved.snapshot.version == before.version
    assert config.backups() == []


REFUSED: list[tuple[str, Edit, str, str]] = [
    (
        "polygon of two points",
        set_item(ItemPath("windows"), "W01", {"staff_zone": [[0.1, 0.1], [0.2, 0.2]]}),
        "windows[0].staff_zone",
        "a polygon needs at least 3 points, got 2",
    ),
    (
        "window on an unknown camera",
        set_item(ItemPath("windows"), "W01", {"camera": "cam09"}),
        "windows[0].camera",
        "window 'W01' names unknown camera 'cam09' (known: cam01, tender01)",
    ),
    (
        "duplicate window id",
        add_item(ItemPath("windows"), {"id": "W01", "name": "x", "department": "d",
                                       "camera": "cam01", "staff_zone": [[0, 0], [1, 0], [1, 1]]}),
        "windows[1].id",
        "duplicate id 'W01' (already used by windows[0])",
    ),
    (
        "lunch outside the service hours",
        set_section("schedule", {"lunch_break": {"start": "08:00", "end": "09:30"}}),
        "schedule",
        "lunch_break must lie within the service hours",
    ),
    (
        "unknown threshold key",
        set_section("thresholds", {"absence_delay": 3}),
        "thresholds.absence_delay",
        "unknown key 'absence_delay'",
    ),
]


@pytest.mark.parametrize(("name", "edit", "key", "reason"), REFUSED, ids=[r[0] for r in REFUSED])
def test_refused_edit_reports_check_config_problems_and_writes_nothing(
    config: ConfigFile, name: str, edit: Edit, key: str, reason: str
) -> None:
    with pytest.raises(InvalidEdit) as caught:
        config.edit(config.read().version, edit)
    (found,) = [p for p in caught.value.problems if p.key == key]
    assert found.reason == reason and found.file == "cameras.yaml"
    assert found.line is not None and found.line > 1
    assert config.path.read_text(encoding="utf-8") == CONFIG
    assert config.backups() == []


def test_removing_a_camera_still_named_by_windows_is_refused_with_their_lines(
    config: ConfigFile,
) -> None:
    with pytest.raises(InvalidEdit) as caught:
        config.edit(config.read().version, remove_item(ItemPath("cameras"), "cam01"))
    assert caught.value.key == "cameras"
    assert {p.key for p in caught.value.problems} == {"windows[0].camera", "queues[0].camera"}


def test_refused_problem_lines_are_those_of_the_edited_text(config: ConfigFile) -> None:
    edit = add_item(ItemPath("windows"), {"id": "W02", "name": "x", "department": "d",
                                          "camera": "nope", "staff_zone": [[0, 0], [1, 0], [1, 1]]})
    with pytest.raises(InvalidEdit) as caught:
        config.edit(config.read().version, edit)
    (found,) = caught.value.problems
    # the new window is written after W01's five lines: its camera line is the 4th of it
    w02 = CONFIG.splitlines().index("    queue_zone: [[0.05, 0.0], [0.45, 0.0], [0.45, 0.3]]") + 2
    assert (found.key, found.line) == ("windows[1].camera", w02 + 3)


def test_same_checks_as_check_config_on_the_text() -> None:
    assert check_text(CONFIG, file="cameras.yaml").windows[0].id == "W01"


@pytest.mark.parametrize(
    "edit",
    [set_item(ItemPath("windows"), "W09", {"name": "x"}), remove_item(ItemPath("queues"), "Q9"),
     set_item(ItemPath("zones", "cam09"), "Z1", {"name": "x"}), set_camera("cam09", {"name": "x"})],
)  # fmt: skip
def test_unknown_item_is_not_found(config: ConfigFile, edit: Edit) -> None:
    with pytest.raises(NotFound):
        config.edit(config.read().version, edit)


def test_stale_version_is_refused(config: ConfigFile) -> None:
    first = config.read().version
    config.edit(first, set_item(ItemPath("windows"), "W01", {"name": "一号"}))
    with pytest.raises(StaleVersion) as caught:
        config.edit(first, set_item(ItemPath("windows"), "W01", {"name": "二号"}))
    assert caught.value.current == config.read().version
    assert "一号" in config.path.read_text(encoding="utf-8")


def test_backups_are_bounded_and_hold_previous_versions(config: ConfigFile) -> None:
    os.chmod(config.path, 0o600)  # it holds camera passwords
    texts = []
    for staff in range(1, 6):
        texts.append(config.path.read_text(encoding="utf-8"))
        edit = set_item(ItemPath("windows"), "W01", {"staff_on_duty": staff + 1})
        config.edit(config.read().version, edit)
    backups = config.backups()
    assert len(backups) == 3
    folder = config.path.parent
    assert [(folder / b.name).read_text(encoding="utf-8") for b in backups] == texts[::-1][:3]
    for path in [config.path, *(folder / b.name for b in backups)]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not list(folder.glob(".*.tmp"))


URLS: list[tuple[str, str | None, str | Callable[[], None]]] = [
    ("rtsp://***@h/s", "rtsp://u:p@h/s", "rtsp://u:p@h/s"),
    ("rtsp://***@h/other", "rtsp://u:p@h/s", "rtsp://u:p@h/other"),
    ("rtsp://***@h2:8554/s", "rtsp://u:p@h/s", "rtsp://u:p@h2:8554/s"),
    ("rtsp://h/s?token=***", "rtsp://h/s?token=abc", "rtsp://h/s?token=abc"),
    ("rtsp://u2:p2@h/s", "rtsp://u:p@h/s", "rtsp://u2:p2@h/s"),
    ("rtsp://h/s", "rtsp://u:p@h/s", "rtsp://h/s"),
    ("file:/v.mp4", None, "file:/v.mp4"),
]


@pytest.mark.parametrize(("sent", "stored", "kept"), URLS)
def test_redacted_urls_keep_the_stored_credentials(sent: str, stored: str | None, kept: str) -> None:
    assert restore_secrets(sent, stored) == kept


@pytest.mark.parametrize(
    ("sent", "stored"),
    [("rtsp://***@h/s", None), ("rtsp://***@h/s", "rtsp://h/s"),
     ("rtsp://h/s?token=***", "rtsp://h/s"), ("***", "rtsp://u:p@h/s")],
)  # fmt: skip
def test_placeholder_without_stored_secret_is_refused(sent: str, stored: str | None) -> None:
    with pytest.raises(SecretMissing):
        restore_secrets(sent, stored)


def _reasons(edit: Edit) -> list[Reason]:
    from hallwatch.config_edit import dump_document, load_document

    doc = load_document(CONFIG)
    edit(doc)
    old = check_text(CONFIG, file="c.yaml")
    return restart_reasons(old, check_text(dump_document(doc, CONFIG), file="c.yaml"))


RESTARTS: list[tuple[str, Edit, list[Reason]]] = [
    ("zone", set_item(ItemPath("windows"), "W01", {"staff_zone": [[0, 0], [1, 0], [1, 1]]}), []),
    ("threshold", set_section("thresholds", {"absence_delay_s": 5}), []),
    ("tender zone", set_item(ItemPath("zones", "tender01"), "Z1", {"max_persons": 3}), []),
    ("camera name", set_camera("cam01", {"name": "x"}), []),
    ("camera url", set_camera("cam01", {"url": "rtsp://h/x"}), [Reason("camera_stream", "cam01")]),
    ("camera fps", set_camera("cam01", {"analysis_fps": 2}), [Reason("camera_stream", "cam01")]),
    ("camera added", add_item(ItemPath("cameras"), {"id": "c2", "name": "n", "url": "v.mp4"}),
     [Reason("camera_added", "c2")]),
    ("schedule", set_section("schedule", {"weekdays": [1, 2, 3]}), [Reason("case_calendar")]),
    ("window camera", set_item(ItemPath("windows"), "W01", {"camera": "tender01"}),
     [Reason("card_cameras")]),
]  # fmt: skip


@pytest.mark.parametrize(("name", "edit", "reasons"), RESTARTS, ids=[r[0] for r in RESTARTS])
def test_restart_reasons(name: str, edit: Edit, reasons: list[Reason]) -> None:
    assert _reasons(edit) == reasons
