"""The camera reader against a real RTSP server on 127.0.0.1 (GStreamer, started by the test)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from ingest.backoff import BackoffPolicy
from ingest.source import OpenOptions, parse_source
from tests.support.clips import make_clip
from tests.support.rtsp import RtspServer, require_rtsp_server
from tests.support.taps import sampled
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
    source = parse_source(server.url("/cam1"))
    with sampled(source, options=OpenOptions(transport=transport)) as (reader, tap, frames):
        wait_until(lambda: len(frames) >= 4, 15, "4 samples")
        status = reader.status()  # while it runs: rates are zero once stopped
    gaps = [b.media_time - a.media_time for a, b in itertools.pairwise(frames)]
    assert all(0.8 <= gap <= 1.2 for gap in gaps[:3]), gaps
    assert tap.decode_plan == "keyframes" and tap.frames_decoded == tap.frames_sampled
    assert (status.width, status.height) == (640, 360)
    assert status.fps == pytest.approx(10, abs=2.5) and status.bitrate_bps > 10_000
    assert frames[0].image.shape == (360, 640, 3)


def test_reconnects_after_the_camera_drops(server: RtspServer) -> None:
    outages: list[tuple[str, float, float | None]] = []
    options = OpenOptions(read_timeout_s=2)
    with sampled(parse_source(server.url("/cam1")), backoff=FAST_RETRY, options=options,
                 on_outage=lambda *gap: outages.append(gap)) as (reader, _, frames):  # fmt: skip
        wait_until(lambda: reader.status().online, 15, "online")
        server.stop()
        wait_until(lambda: not reader.status().online, 15, "offline after the server stopped")
        offline = reader.status()
        assert offline.offline_since is not None and offline.last_error
        wait_until(lambda: reader.status().reconnects >= 2, 10, "retries while down")
        before = len(frames)
        server.start()
        wait_until(lambda: reader.status().online and len(frames) > before + 1, 20, "back online")
    # the outage is reported: open at start (until the first packet), then the drop, both closed
    assert [end is None for _, _, end in outages] == [True, False, True, False]
    _, drop_start, _ = outages[2]
    _, same_start, drop_end = outages[3]
    assert same_start == drop_start and drop_end is not None and drop_end - drop_start > 0.5
    assert reader.status().reconnects_last_hour >= 2
    times = [frame.media_time for frame in frames]
    assert times == sorted(times)  # one continuous media clock across the outage


def test_credentials_are_sent_but_never_shown(server: RtspServer) -> None:
    url = server.url("/cam1").replace("rtsp://", "rtsp://viewer:S3cr3t@")
    with sampled(parse_source(url)) as (reader, _, frames):
        wait_until(lambda: len(frames) >= 1, 15, "a sample")
    assert "S3cr3t" not in repr(reader.status().to_json())
    assert reader.status().source.startswith("rtsp://***@127.0.0.1:")
