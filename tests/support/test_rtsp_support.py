"""The RTSP test server, read with PyAV the way ingest's reader reads cameras."""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import pytest

from tests.support.clips import make_clip, read_frame_counter
from tests.support.rtsp import RtspServer, require_rtsp_server

FPS = 10
SIZE = (640, 360)
RTP_CLOCK = 90_000  # H.264 RTP timestamps are in 1/90000 s


def open_rtsp(url: str, transport: str = "tcp") -> av.container.InputContainer:
    return av.open(
        url,
        options={"rtsp_transport": transport, "timeout": "5000000"},  # socket timeout, in µs
        timeout=(5, 5),
    )


@dataclass
class Pull:
    """What one client saw."""

    packets: int = 0
    first_is_keyframe: bool | None = None
    key_pts: list[int] = field(default_factory=list)
    pts: list[int] = field(default_factory=list)
    key_counters: list[int] = field(default_factory=list)
    frame_sizes: set[tuple[int, int]] = field(default_factory=set)
    frames: int = 0

    @property
    def span_s(self) -> float:
        return (self.pts[-1] - self.pts[0]) / RTP_CLOCK if len(self.pts) > 1 else 0.0


def pull(url: str, seconds: float, transport: str = "tcp") -> Pull:
    """Demux ``seconds`` of stream time (by pts) and decode keyframes only."""
    result = Pull()
    with open_rtsp(url, transport) as container:
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "NONKEY"
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            if result.first_is_keyframe is None:
                result.first_is_keyframe = packet.is_keyframe
            result.packets += 1
            # The very first packet (a keyframe) can have pts=None.
            if packet.pts is not None:
                result.pts.append(packet.pts)
                if packet.is_keyframe:
                    result.key_pts.append(packet.pts)
            for frame in packet.decode():
                result.frames += 1
                result.frame_sizes.add((frame.width, frame.height))
                result.key_counters.append(read_frame_counter(frame.to_ndarray(format="rgb24")))
            if result.span_s >= seconds:
                break
    return result


def assert_live_stream(result: Pull, seconds: float) -> None:
    assert result.first_is_keyframe is True
    assert result.span_s >= seconds
    assert result.packets >= seconds * FPS * 0.9
    assert all(b > a for a, b in itertools.pairwise(result.pts)), "pts not monotonic"
    # GOP = fps: one keyframe a second, and decoding keyframes only gives ~1 frame/s.
    gaps = [(b - a) / RTP_CLOCK for a, b in itertools.pairwise(result.key_pts)]
    assert gaps, "fewer than two keyframes with a pts"
    assert all(0.8 <= gap <= 1.2 for gap in gaps), gaps
    assert abs(result.frames - result.span_s) <= 1.5, (result.frames, result.span_s)
    assert result.frame_sizes == {SIZE}
    assert all(counter % FPS == 0 for counter in result.key_counters), result.key_counters


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    require_rtsp_server()
    root = tmp_path_factory.mktemp("clips")
    return {
        "/cam": make_clip(root / "cam.mp4", seconds=10, fps=FPS, size=SIZE),
        "/short": make_clip(root / "short.mp4", seconds=3, fps=FPS, size=SIZE),
    }


@pytest.fixture(scope="module")
def server(clips: dict[str, Path]) -> Iterator[RtspServer]:
    with RtspServer(clips) as srv:
        yield srv


def test_tcp_stream(server: RtspServer) -> None:
    assert_live_stream(pull(server.url("/cam"), 3.0), 3.0)


def test_udp_stream(server: RtspServer) -> None:
    result = pull(server.url("/cam"), 2.0, transport="udp")
    assert_live_stream(result, 2.0)


def test_two_clients_share_one_live_stream(server: RtspServer) -> None:
    results: dict[str, Pull] = {}
    errors: list[BaseException] = []

    def client(name: str) -> None:
        try:
            results[name] = pull(server.url("/cam"), 2.0)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert not errors, errors
    assert set(results) == {"a", "b"}
    for result in results.values():
        assert_live_stream(result, 2.0)
    # One camera: clients pulling at the same time see the same frames.
    assert set(results["a"].key_counters) & set(results["b"].key_counters)


def test_loops_past_end_of_file(server: RtspServer) -> None:
    result = pull(server.url("/short"), 6.0)  # 3 s clip
    assert_live_stream(result, 6.0)
    counters = result.key_counters
    assert any(b < a for a, b in itertools.pairwise(counters)), counters


def test_restart_on_same_port(clips: dict[str, Path]) -> None:
    with RtspServer({"/short": clips["/short"]}) as srv:
        url = srv.url("/short")
        with open_rtsp(url) as container:
            first = next(container.demux(video=0))
            assert first.is_keyframe
            srv.stop()
            assert not srv.running
            # After the server goes away the client sees a clean end of stream.
            started = time.monotonic()
            for _packet in container.demux(video=0):
                assert time.monotonic() - started < 10
        with pytest.raises(av.error.ConnectionRefusedError):
            open_rtsp(url).close()
        port = srv.port
        srv.start()
        assert srv.port == port
        with open_rtsp(url) as container:
            assert next(container.demux(video=0)).is_keyframe


def test_socket_timeout_option() -> None:
    """FFmpeg >= 5 takes the RTSP socket timeout as "timeout" (µs); "stimeout" is gone."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)  # accepts the TCP connection, never answers
        url = f"rtsp://127.0.0.1:{listener.getsockname()[1]}/x"
        started = time.monotonic()
        with pytest.raises(av.error.FFmpegError):
            av.open(url, options={"rtsp_transport": "tcp", "timeout": "500000"})
        assert time.monotonic() - started < 3
