"""The camera reader on files and on sources that fail: sampling, looping, backoff, redaction."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest

from ingest.backoff import BackoffPolicy
from ingest.reader import CameraReader
from ingest.source import parse_source
from tests.support.clips import make_clip, read_frame_counter
from tests.support.taps import sampled
from tests.support.wait import wait_until

FAST_RETRY = BackoffPolicy(initial_s=0.1, max_s=0.4, jitter=0.0, healthy_reset_s=60)


def test_file_plays_in_real_time_at_one_frame_per_second_and_loops(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", seconds=2, fps=10, size=(320, 180))
    started = time.monotonic()
    with sampled(parse_source(str(clip))) as (reader, tap, frames):
        wait_until(lambda: len(frames) >= 5, 10)
    elapsed = time.monotonic() - started
    assert elapsed >= 3.5  # real-time pace: 5 samples at 1/s take about 4 s
    times = [frame.media_time for frame in frames[:5]]
    assert times == pytest.approx([0.0, 1.0, 2.0, 3.0, 4.0], abs=0.15)  # continuous over loops
    # keyframes only: the samples are the keyframes, frame numbers 0, 10, 0, 10, ...
    counters = [read_frame_counter(frame.image[:, :, ::-1]) for frame in frames[:4]]
    assert counters == [0, 10, 0, 10]
    status = reader.status()
    assert tap.decode_plan == "keyframes"
    assert tap.frames_decoded == tap.frames_sampled  # nothing decoded in vain
    assert (status.width, status.height, status.codec) == (320, 180, "h264")
    assert status.session >= 2 and status.reconnects == 0  # a loop is not a reconnect
    assert frames[0].image.shape == (180, 320, 3)


def test_long_gop_switches_to_decoding_every_frame(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "gop4.mp4", seconds=9, fps=10, size=(320, 180), gop=40)
    with sampled(parse_source(str(clip))) as (_, tap, frames):
        wait_until(lambda: len(frames) >= 3 and tap.decode_plan == "all", 12)
        wait_until(lambda: len(frames) >= 6, 8)
    late = [frame.media_time for frame in frames[-3:]]
    assert late[1] - late[0] == pytest.approx(1.0, abs=0.15)
    assert tap.frames_decoded > tap.frames_sampled  # every frame decoded, one per second kept


def test_missing_file_is_retried_with_backoff(tmp_path: Path) -> None:
    reader = CameraReader("cam", parse_source(str(tmp_path / "absent.mp4")), backoff=FAST_RETRY)
    reader.start()
    try:
        wait_until(lambda: reader.status().reconnects >= 3, 5)
    finally:
        reader.stop()
    status = reader.status()
    assert status.online is False and status.last_packet_at is None
    assert status.last_error is not None and "absent.mp4" in status.last_error
    # backoff grows: 0.1, 0.2, 0.4 s ⇒ three retries take at least 0.7 s


def test_credentials_never_logged_or_reported(caplog: pytest.LogCaptureFixture) -> None:
    url = "rtsp://admin:Pa55word@127.0.0.1:9/Streaming/Channels/101"  # port 9: refused
    reader = CameraReader("cam", parse_source(url), backoff=FAST_RETRY)
    with caplog.at_level(logging.DEBUG):
        reader.start()
        try:
            wait_until(lambda: reader.status().reconnects >= 2, 10)
        finally:
            reader.stop()
    status = reader.status()
    assert status.last_error is not None
    everything = caplog.text + repr(status.to_json())
    assert "Pa55word" not in everything and "admin" not in everything
    assert "127.0.0.1:9" in everything
    # one warning per change of state, not one per retry
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1


def test_unexpected_error_is_logged_redacted_and_retried(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class Flaky(CameraReader):
        """Fails once inside the session with an error the reader does not expect."""

        failed = False

        def _open_session(self, container: Any) -> Any:
            if not Flaky.failed:
                Flaky.failed = True
                raise KeyError("rtsp://admin:Pa55word@10.0.0.5/live")
            return super()._open_session(container)

    clip = make_clip(tmp_path / "clip.mp4", seconds=2, fps=10, size=(320, 180))
    reader = Flaky("cam", parse_source(str(clip)), backoff=FAST_RETRY)
    with caplog.at_level(logging.DEBUG):
        reader.start()
        try:
            wait_until(lambda: reader.status().online, 10, "online after the failure")
        finally:
            reader.stop()
    assert reader.status().reconnects == 1
    assert "reader failed" in caplog.text and "KeyError" in caplog.text
    assert "Pa55word" not in caplog.text
