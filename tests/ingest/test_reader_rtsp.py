"""The camera reader against a real RTSP server on 127.0.0.1 (GStreamer, started by the test)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from ingest.backoff import BackoffPolicy
from ingest.reader import CameraReader, Frame
from ingest.source import OpenOptions, parse_source
from tests.support.clips import make_clip
from tests.support.rtsp import RtspServer, require_rtsp_server
from tests.support.wait import wait_until

FAST_RETRY = BackoffPolicy(initial_s=0.2, max_s=1.0, jitter=0.2, healthy_reset_s=60)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RtspServer]:
    require_rtsp_server()
    clip = make_clip(tmp_path_factory.mktemp("rtsp") / "cam.mp4", seconds=4, fps=10,
                     size=(640, 360))  # fmt: skip
    with RtspServer({"/cam1": clip}) as running:
        yield running


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_pulls_keyframes_at_one_per_second(server: RtspServer, transport: str) -> None:
    frames: list[Frame] = []
    source = parse_source(server.url("/cam1"))
    reader = CameraReader("cam1", source, frames.append, options=OpenOptions(transport=transport))
    reader.start()
    try:
        wait_until(lambda: len(frames) >= 4, 15, "4 samples")
    finally:
        reader.stop()
    gaps = [b.media_time - a.media_time for a, b in itertools.pairwise(frames)]
    assert all(0.8 <= gap <= 1.2 for gap in gaps[:3]), gaps
    status = reader.status()
    assert status.decode_plan == "keyframes" and status.frames_decoded == status.frames_sampled
    assert (status.width, status.height) == (640, 360)
    assert frames[0].image.shape == (360, 640, 3)


def test_reconnects_after_the_camera_drops(server: RtspServer) -> None:
    frames: list[Frame] = []
    reader = CameraReader("cam1", parse_source(server.url("/cam1")), frames.append,
                          backoff=FAST_RETRY, options=OpenOptions(read_timeout_s=2))  # fmt: skip
    reader.start()
    try:
        wait_until(lambda: reader.status().online, 15, "online")
        server.stop()
        wait_until(lambda: not reader.status().online, 15, "offline after the server stopped")
        offline = reader.status()
        assert offline.offline_since is not None and offline.last_error
        wait_until(lambda: reader.status().reconnects >= 2, 10, "retries while down")
        before = len(frames)
        server.start()
        wait_until(lambda: reader.status().online and len(frames) > before + 1, 20, "back online")
    finally:
        reader.stop()
    times = [frame.media_time for frame in frames]
    assert times == sorted(times)  # one continuous media clock across the outage


def test_credentials_are_sent_but_never_shown(server: RtspServer) -> None:
    url = server.url("/cam1").replace("rtsp://", "rtsp://viewer:S3cr3t@")
    frames: list[Frame] = []
    reader = CameraReader("cam1", parse_source(url), frames.append)
    reader.start()
    try:
        wait_until(lambda: len(frames) >= 1, 15, "a sample")
    finally:
        reader.stop()
    assert "S3cr3t" not in repr(reader.status().to_json())
    assert reader.status().source.startswith("rtsp://***@127.0.0.1:")
