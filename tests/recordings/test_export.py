"""Evidence export: folder, manifest, signature, audit; verification finds every tampering."""

from __future__ import annotations

import json
import logging
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from hallwatch.events import Event, EventType
from hallwatch.verify_cli import run_verify
from recordings.clips import ClipStore, sha256_file
from recordings.cut import NoFootage
from recordings.export import (
    EXPORT_FILES,
    EXPORT_FORMAT,
    export_event,
    export_range,
    key_id,
    load_or_create_site_key,
    verify_export,
)
from recordings.index import SegmentIndex
from tests.recordings.feed import WALL_BASE, decode_all

KEY = bytes(range(32))


@pytest.fixture
def exported(recorded: tuple[SegmentIndex, ClipStore], tmp_path: Path) -> Path:
    index, _ = recorded
    return export_range(index, "cam", WALL_BASE + 1.5, WALL_BASE + 3.5, user="insp",
                        out_dir=tmp_path / "exports", key=KEY, site_name="测试中心")  # fmt: skip


def manifest_of(folder: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((folder / "manifest.json").read_bytes())
    return data


def test_export_range_writes_video_manifest_signature_and_audit(
    recorded: tuple[SegmentIndex, ClipStore], exported: Path
) -> None:
    index, _ = recorded
    assert sorted(p.name for p in exported.iterdir()) == sorted(EXPORT_FILES)
    assert [p.name for p in exported.parent.iterdir()] == [exported.name]  # no leftovers
    assert decode_all(exported / "video.mp4").counters == list(range(10, 40))
    manifest = manifest_of(exported)
    segments = index.all_closed("cam")
    assert manifest["format"] == EXPORT_FORMAT and manifest["id"] == exported.name
    assert (manifest["camera"], manifest["site"], manifest["exported_by"]) == ("cam", "测试中心",
                                                                               "insp")  # fmt: skip
    assert manifest["range"] == {"start": "2025-10-09T08:53:21.000Z", "end":
                                 "2025-10-09T08:53:24.000Z", "start_unix": WALL_BASE + 1,
                                 "end_unix": WALL_BASE + 4}  # fmt: skip
    assert manifest["requested"]["start_unix"] == WALL_BASE + 1.5  # type: ignore[index]
    assert [s["segment"] for s in manifest["sources"]] == [segments[0].path, segments[1].path]  # type: ignore[attr-defined]
    assert manifest["files"] == [
        {"name": name, "bytes": (exported / name).stat().st_size,
         "sha256": sha256_file(exported / name)} for name in ("video.mp4", "README.txt")
    ]  # fmt: skip
    assert manifest["frames"] == 30 and manifest["event"] is None and manifest["gaps"] == []
    assert manifest["signature"] == {"algorithm": "HMAC-SHA256", "file": "manifest.sig",
                                     "key_id": key_id(KEY)}  # fmt: skip
    assert manifest["hallwatch_version"] and manifest["created_at"].endswith("Z")  # type: ignore[attr-defined]
    readme = (exported / "README.txt").read_text(encoding="utf-8")
    assert "hallwatch verify-export" in readme and "校验" in readme
    [audit] = [e for e in index.store.audit_entries() if e["action"] == "export"]
    assert (audit["username"], audit["target"]) == ("insp", exported.name)
    assert audit["details"]["segments"] == [segments[0].path, segments[1].path]
    report = verify_export(exported, KEY)
    assert report.ok and report.problems == [] and report.files == 2


def flip_a_byte(folder: Path) -> None:
    path = folder / "video.mp4"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def edit_manifest(folder: Path) -> None:
    path = folder / "manifest.json"
    path.write_bytes(path.read_bytes().replace(b'"insp"', b'"someone"'))


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (flip_a_byte, ["video.mp4 was altered: SHA-256"]),
        (lambda f: (f / "video.mp4").write_bytes(b"x"), ["video.mp4 was altered: 1 bytes"]),
        (lambda f: (f / "README.txt").unlink(), ["README.txt is missing"]),
        (lambda f: (f / "extra.mp4").write_bytes(b"x"), ["extra.mp4 is not part of the export"]),
        (lambda f: (f / "sub").mkdir(), ["sub is not part of the export"]),
        (edit_manifest, ["manifest.sig does not match manifest.json"]),
        (lambda f: (f / "manifest.sig").unlink(), ["manifest.sig is missing"]),
        (lambda f: (f / "manifest.json").unlink(), ["manifest.json is missing"]),
    ],
    ids=["byte", "size", "missing", "extra-file", "extra-dir", "manifest", "no-sig", "no-manifest"],
)
def test_verify_reports_each_tampering(
    exported: Path, tamper: Callable[[Path], object], expected: list[str]
) -> None:
    tamper(exported)
    report = verify_export(exported, KEY)
    assert not report.ok
    assert len(report.problems) == len(expected)
    for problem, start in zip(report.problems, expected, strict=True):
        assert problem.startswith(start), report.problems


def test_verify_with_another_key_fails(exported: Path) -> None:
    report = verify_export(exported, bytes(32))
    assert not report.ok and report.problems[0].startswith("manifest.sig does not match")


def test_export_event_uses_its_clip_and_marks_it_evidence(
    recorded: tuple[SegmentIndex, ClipStore], tmp_path: Path
) -> None:
    index, clips = recorded
    event = clips.store.add_event(Event(EventType.COUNTER_VACANT, "cam", WALL_BASE + 2.2,
                                        WALL_BASE + 2.2, "W01", WALL_BASE + 2.6))  # fmt: skip
    stored = clips.cut_event(index, event, 1.0, 1.0)
    folder = export_event(None, clips, event, user="insp", out_dir=tmp_path / "ex", key=KEY,
                          site_name="site")  # fmt: skip
    assert (folder / "video.mp4").read_bytes() == clips.path_of(stored).read_bytes()
    manifest = manifest_of(folder)
    assert manifest["clip"] == stored.id and manifest["event"]["id"] == event.id  # type: ignore[index]
    assert clips.get(stored.id).evidence
    assert verify_export(folder, KEY).ok
    clips.path_of(stored).write_bytes(b"tampered")  # an altered clip is not used: cut again
    again = export_event(index, clips, event, user="insp", out_dir=tmp_path / "ex", key=KEY,
                         site_name="site")  # fmt: skip
    assert manifest_of(again)["clip"] is None
    assert decode_all(again / "video.mp4").counters == list(range(60))  # 10 s rolls: all


def test_export_without_footage_leaves_nothing(
    recorded: tuple[SegmentIndex, ClipStore], tmp_path: Path
) -> None:
    index, clips = recorded
    with pytest.raises(NoFootage):
        export_range(index, "cam", WALL_BASE + 100, WALL_BASE + 200, user="insp",
                     out_dir=tmp_path / "ex", key=KEY, site_name="site")  # fmt: skip
    event = Event(EventType.COUNTER_VACANT, "cam", WALL_BASE + 100, 0, end=WALL_BASE + 101, id=7)
    with pytest.raises(NoFootage):
        export_event(None, clips, event, user="insp", out_dir=tmp_path / "ex", key=KEY,
                     site_name="site")  # fmt: skip
    assert list((tmp_path / "ex").iterdir()) == []
    assert [e for e in index.store.audit_entries() if e["action"] == "export"] == []


def test_site_key_is_created_once_private_and_never_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key = load_or_create_site_key(tmp_path / "var")
    path = tmp_path / "var" / "site.key"
    assert len(key) == 32 and path.read_text() == key.hex() + "\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_site_key(tmp_path / "var") == key
    assert [p.name for p in path.parent.iterdir()] == ["site.key"]
    assert key.hex() not in caplog.text and key_id(key) in caplog.text


def test_verify_command(exported: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key_file = tmp_path / "site.key"
    key_file.write_text(KEY.hex() + "\n")
    assert run_verify(exported, key_file) == 0
    assert capsys.readouterr().out == "OK: 2 files verified\n"
    (exported / "README.txt").unlink()
    assert run_verify(exported, key_file) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [f"{exported}: README.txt is missing", "FAILED: 1 problem(s)"]
    assert run_verify(exported, tmp_path / "nokey") == 2
    assert run_verify(tmp_path / "nothing", key_file) == 2
    key_file.write_text("not a key")
    assert run_verify(exported, key_file) == 2
