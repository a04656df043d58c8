"""Crash safety: a recorder SIGKILLed mid-segment leaves files that recover() settles."""

from __future__ import annotations

import itertools
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hallwatch.store import Store
from recordings.index import Segment, SegmentIndex
from tests.recordings.feed import Decoded, decode_all
from tests.support.clips import make_clip
from tests.support.rtsp import RtspServer, require_rtsp_server
from tests.support.wait import wait_until

REPO = Path(__file__).resolve().parents[2]
FPS = 10
CLIP_FRAMES = 300  # 30 s
SEGMENT_S = 3.0
KILL_AFTER_S = 2.0  # into the third segment: fragments (GOP 0.5 s) up to ~2 s are on disk


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("crash") / "clip.mp4", seconds=CLIP_FRAMES / FPS,
                     fps=FPS, gop=FPS // 2)  # fmt: skip


@pytest.fixture(params=["file", "rtsp"])
def source(request: pytest.FixtureRequest, clip: Path) -> Iterator[str]:
    if request.param == "file":
        yield str(clip)
        return
    require_rtsp_server()
    with RtspServer({"/cam": clip}) as server:
        yield server.url("/cam")


def rows(db: Path) -> list[sqlite3.Row]:
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return list(conn.execute("SELECT * FROM segments ORDER BY start"))
    except sqlite3.OperationalError:  # not created yet
        return []
    finally:
        conn.close()


def mid_third_segment(db: Path) -> bool:
    current = rows(db)
    states = [row["state"] for row in current]
    if states[:2] != ["closed", "closed"] or states[2:] != ["open"]:
        return False
    return bool(time.time() - current[2]["start"] >= KILL_AFTER_S)


def record_and_kill(tmp_path: Path, source: str) -> tuple[Path, Path]:
    db, root = tmp_path / "store.db", tmp_path / "rec"
    cmd = [sys.executable, "-m", "tests.recordings.record_worker", "--db", str(db),
           "--root", str(root), "--source", source, "--segment-s", str(SEGMENT_S)]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with (tmp_path / "worker.log").open("w") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: mid_third_segment(db) or proc.poll() is not None, 30, "recording")
            assert proc.poll() is None, (tmp_path / "worker.log").read_text()
            proc.send_signal(signal.SIGKILL)
            assert proc.wait(10) == -signal.SIGKILL
        finally:
            proc.kill()
            proc.wait()
    return db, root


def consecutive(counters: list[int]) -> bool:
    return all((b - a) % CLIP_FRAMES == 1 for a, b in itertools.pairwise(counters))


def check_segment(segment: Segment, decoded: Decoded) -> None:
    assert decoded.keyframes[0] and consecutive(decoded.counters)
    assert segment.duration == pytest.approx(len(decoded.counters) / FPS, abs=0.02)


def test_a_killed_recorder_leaves_playable_segments(tmp_path: Path, source: str) -> None:
    db, root = record_and_kill(tmp_path, source)
    store = Store(db)
    index = SegmentIndex(store, root)
    report = index.recover()
    segments = index.segments()
    store.close()

    assert report.removed == [] and [s.id for s in report.closed] == [segments[2].id]
    assert [s.state for s in segments] == ["closed"] * 3
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert files == sorted(s.path for s in segments)  # no lost row, no file without one
    decoded = [decode_all(root / s.path) for s in segments]
    for segment, frames in zip(segments[:2], decoded[:2], strict=True):
        assert frames.error is None  # complete segments play to the end
        check_segment(segment, frames)
        assert len(frames.counters) == SEGMENT_S * FPS
    torn, frames = segments[2], decoded[2]
    check_segment(torn, frames)
    assert len(frames.counters) >= FPS  # at least 1 s survived the kill
    assert torn.bytes == (root / torn.path).stat().st_size
    assert consecutive([c for d in decoded for c in d.counters])  # nothing lost in between
    assert all(
        a.end == pytest.approx(b.start, abs=0.01) for a, b in itertools.pairwise(segments)
    ), [(s.start, s.end) for s in segments]
