"""The analyzers in a child process: same answers as in process, clear start errors, and a
child that dies is replaced while its open events are closed, not lost."""

from __future__ import annotations

import datetime as dt
import os
import signal
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import av
import numpy as np
import pytest

from analyzers.detector import ModelError
from analyzers.rules import Context
from hallwatch.analysis_process import ProcessEngine, build_engine
from hallwatch.analysis_worker import AnalysisWorker, EngineLost, Job
from hallwatch.config import Site, load_site
from hallwatch.runtime import Runtime
from hallwatch.store import EventQuery, Store
from ingest.tap import Frame

WEDNESDAY_10AM = dt.datetime(2026, 11, 18, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()
DEMO = Path(__file__).resolve().parents[2] / "hallwatch" / "demo"

SITE = """\
name: t
cameras:
  - {id: cam01, name: c, url: rtsp://127.0.0.1:9/none}
  - {id: cam02, name: d, url: rtsp://127.0.0.1:9/none}
windows:
  - {id: W01, name: w, department: d, camera: cam01,
     staff_zone: [[0.3, 0.45], [0.85, 0.45], [0.85, 0.99], [0.3, 0.99]]}
  - {id: W02, name: v, department: d, camera: cam02,
     staff_zone: [[0.3, 0.45], [0.85, 0.45], [0.85, 0.99], [0.3, 0.99]]}
thresholds: {absence_delay_s: 2, return_delay_s: 1}
recording: {enabled: false}
"""


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    """Demo footage: one frame per 5 s over the first 40 s (empty desk and visitors)."""
    images = []
    with av.open(str(DEMO / "one-by-one-person-detection.mp4")) as container:
        for frame in container.decode(video=0):
            if frame.time is not None and frame.time >= 5 * len(images):
                images.append(frame.to_ndarray(format="bgr24"))
            if len(images) == 8:
                break
    return images


@pytest.fixture
def site(tmp_path: Path) -> Site:
    config = tmp_path / "site.yaml"
    config.write_text(SITE, encoding="utf-8")
    return load_site(config)


def jobs_at(images: list[np.ndarray], t0: float) -> list[list[Job]]:
    return [
        [Job(camera, image, Context(t0 + 5 * n, True)) for camera in ("cam01", "cam02")]
        for n, image in enumerate(images)
    ]


def signature(reply_results: tuple) -> list[tuple]:  # type: ignore[type-arg]
    return [
        (r.camera, r.t, r.detections.boxes.round(2).tolist(), r.tracks.ids.tolist(),
         [s.to_json() for s in r.outputs.samples], [c.key for c in r.outputs.changes])
        for r in reply_results
    ]  # fmt: skip


def test_the_child_answers_as_the_analyzers_in_this_process(
    site: Site, tmp_path: Path, frames: list[np.ndarray]
) -> None:
    local = build_engine(site, tmp_path)
    remote = ProcessEngine(site, tmp_path)
    try:
        assert remote.pid is not None and remote.pid != os.getpid()
        for batch in jobs_at(frames, 1000.0):
            mine, theirs = local.analyze(batch), remote.analyze(batch)
            assert theirs.failures == ()
            assert signature(theirs.results) == signature(mine.results)
            assert theirs.counters["cam01"].frames == mine.counters["cam01"].frames
        assert sum(len(r.detections) for r in mine.results) > 0  # the footage has people
        flushed = remote.flush(2000.0)
        assert sorted(r.camera for r in flushed.results) == ["cam01", "cam02"]
        assert signature(flushed.results) == signature(local.flush(2000.0).results)
    finally:
        remote.close()
    assert remote.pid is None


def test_a_model_the_child_cannot_load_is_a_model_error_at_start(
    site: Site, tmp_path: Path
) -> None:
    (tmp_path / "broken.onnx").write_bytes(b"not a model")
    settings = site.detector.model_copy(update={"type": "yolo", "model": "broken.onnx"})
    broken = site.model_copy(update={"detector": settings})
    with pytest.raises(ModelError, match=r"broken\.onnx"):
        ProcessEngine(broken, tmp_path)


def kill_child(engine: ProcessEngine) -> None:
    assert engine.pid is not None
    os.kill(engine.pid, signal.SIGKILL)
    time.sleep(0.2)


def test_a_dead_child_is_replaced_and_its_open_events_are_closed(
    site: Site, tmp_path: Path, frames: list[np.ndarray]
) -> None:
    store = Store(tmp_path / "store.db")
    engine = ProcessEngine(site, tmp_path)
    runtime = Runtime(site, tmp_path / "site.yaml", store, engine)
    empty = frames[0]  # nobody at the desk yet
    now = WEDNESDAY_10AM
    try:
        for n in range(4):  # vacant for 3 s > absence_delay_s: both windows open an event
            runtime.worker.run_batch(
                [Frame(c, now + n, float(n), empty) for c in ("cam01", "cam02")]
            )
        opened = store.list_events(EventQuery())[0]
        assert sorted(e.window for e in opened if e.end is None) == ["W01", "W02"]
        kill_child(engine)
        runtime.worker.run_batch([Frame("cam01", now + 4, 4.0, empty)])
        assert runtime.worker.engine_losses == 1
        closed = store.list_events(EventQuery())[0]
        assert [e.end for e in closed] == [now + 4, now + 4]
        assert all(e.details["closed_by"] == "analysis restarted" for e in closed)
        for n in range(5, 9):  # a new child: the vacancy is seen afresh and opened again
            runtime.worker.run_batch([Frame("cam01", now + n, float(n), empty)])
        assert engine.restarts == 1 and runtime.worker.errors == {}
        reopened = [e for e in store.list_events(EventQuery())[0] if e.end is None]
        assert [(e.window, e.start) for e in reopened] == [("W01", now + 5)]
    finally:
        runtime.worker.stop()
        engine.close()
        store.close()


def test_a_lost_engine_is_reported_not_restarted_by_analyze_itself(
    site: Site, tmp_path: Path, frames: list[np.ndarray]
) -> None:
    engine = ProcessEngine(site, tmp_path)
    try:
        kill_child(engine)
        (batch, *_) = jobs_at(frames[:1], 0.0)
        with pytest.raises(EngineLost, match="exit code -9"):
            engine.analyze(batch)
        assert engine.pid is None
        assert engine.flush(1.0).results == ()  # nothing left to flush
        assert engine.analyze(batch).failures == ()  # the next call starts a new child
        assert engine.restarts == 1
    finally:
        engine.close()


def test_a_camera_whose_analysis_fails_is_counted_and_the_others_go_on(
    site: Site, tmp_path: Path, frames: list[np.ndarray], caplog: pytest.LogCaptureFixture
) -> None:
    delivered: list[str] = []
    engine = ProcessEngine(site, tmp_path)
    worker = AnalysisWorker(
        engine, lambda t: Context(t, True), lambda f, r: delivered.append(r.camera), 8
    )
    try:
        bad = np.zeros((10, 10), dtype=np.uint8)  # no colour channels: the analyzer fails
        worker.run_batch([Frame("cam01", 1.0, 1.0, bad), Frame("cam02", 1.0, 1.0, frames[0])])
        assert delivered == ["cam02"]
        assert worker.errors == {"cam01": 1}
        (record,) = [r for r in caplog.records if "analysis failed" in r.getMessage()]
        assert "camera cam01" in record.getMessage() and "Traceback" in record.getMessage()
        assert worker.counters["cam02"].frames == 1
        worker.run_batch([Frame("cam01", 2.0, 2.0, frames[0])])  # the camera recovers
        assert delivered == ["cam02", "cam01"] and engine.restarts == 0
    finally:
        engine.close()


def test_the_worker_keeps_two_batches_in_flight_and_delivers_them_all_in_order(
    site: Site, tmp_path: Path, frames: list[np.ndarray]
) -> None:
    delivered: list[tuple[str, float]] = []
    engine = ProcessEngine(site, tmp_path)
    worker = AnalysisWorker(
        engine, lambda t: Context(t, True), lambda f, r: delivered.append((r.camera, r.t)), 1
    )
    submitted: list[int] = []
    real_submit = engine.submit

    def submit(jobs: list[Job]) -> None:  # watch how many requests wait for a reply
        submitted.append(engine._pending)
        real_submit(jobs)

    engine.submit = submit  # type: ignore[method-assign]
    worker.start()
    try:
        for n in range(12):  # max_batch 1: one request per frame
            for camera in ("cam01", "cam02"):
                worker.sink(camera)(Frame(camera, 100.0 + n, float(n), frames[n % len(frames)]))
            time.sleep(0.01)
        deadline = time.monotonic() + 30
        while sum(t == 111.0 for _, t in delivered) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.stop()
        engine.close()
    assert max(submitted) == 1  # a second request was sent while one was being analysed
    assert len(delivered) == worker.analysed == worker.batches
    for camera in ("cam01", "cam02"):
        times = [t for c, t in delivered if c == camera]
        assert times == sorted(times) and times[-1] == 111.0  # the newest is never lost


def test_the_running_worker_survives_its_engine_dying_mid_stream(
    site: Site, tmp_path: Path, frames: list[np.ndarray]
) -> None:
    delivered: list[float] = []
    lost_at: list[float] = []
    engine = ProcessEngine(site, tmp_path)
    worker = AnalysisWorker(
        engine, lambda t: Context(t, True), lambda f, r: delivered.append(r.t), 1, lost_at.append
    )
    worker.start()

    def feed(t: float) -> None:
        worker.sink("cam01")(Frame("cam01", t, t, frames[int(t) % len(frames)]))

    def wait_for(t: float) -> None:
        deadline = time.monotonic() + 30
        while t not in delivered and time.monotonic() < deadline:
            time.sleep(0.05)
        assert t in delivered, (delivered, lost_at)

    try:
        feed(1.0)
        wait_for(1.0)
        kill_child(engine)
        feed(2.0)  # goes to the dead child: lost, and the loss reported once
        deadline = time.monotonic() + 10
        while not lost_at and time.monotonic() < deadline:
            time.sleep(0.05)
        assert lost_at == [2.0] and worker.engine_losses == 1
        feed(3.0)  # a new child analyses it
        wait_for(3.0)
        assert engine.restarts == 1 and 2.0 not in delivered
    finally:
        worker.stop()
        engine.close()
