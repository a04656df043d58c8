"""Shared relay test fixtures: a live RTSP camera (GStreamer test server) read by the product's
CameraReader, and file-source cameras.

* `camera_clip`: a 640×360, 10 fps, GOP 10 H.264 MP4 clip with frame counters (session).
* `rtsp_camera`: the GStreamer RTSP test server serving it at /cam1 (session).
* `live_camera`: a running CameraReader on rtsp_camera (module); subscribe to its fanout.
* `start_camera(source)`: starts a CameraReader on any source (e.g. a file: AVCC packets),
  stopped at teardown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ingest.reader import CameraReader
from ingest.source import Source, parse_source
from tests.support.clips import make_clip
from tests.support.rtsp import RtspServer, require_rtsp_server
from tests.support.wait import wait_until

CLIP_FPS = 10
CLIP_SIZE = (640, 360)
CLIP_SECONDS = 4


@pytest.fixture(scope="session")
def camera_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("relay-clip") / "cam.mp4"
    return make_clip(path, seconds=CLIP_SECONDS, fps=CLIP_FPS, size=CLIP_SIZE)


@pytest.fixture(scope="session")
def rtsp_camera(camera_clip: Path) -> Iterator[RtspServer]:
    require_rtsp_server()
    with RtspServer({"/cam1": camera_clip}) as server:
        yield server


@pytest.fixture(scope="module")
def live_camera(rtsp_camera: RtspServer) -> Iterator[CameraReader]:
    reader = CameraReader("cam1", parse_source(rtsp_camera.url("/cam1")))
    reader.start()
    wait_until(lambda: reader.status().online, 20, "the RTSP camera online")
    yield reader
    reader.stop()


@pytest.fixture
def start_camera() -> Iterator[Callable[..., CameraReader]]:
    readers: list[CameraReader] = []

    def start(source: Source | str, camera_id: str = "cam1", **options: Any) -> CameraReader:
        parsed = parse_source(source) if isinstance(source, str) else source
        reader = CameraReader(camera_id, parsed, **options)
        reader.start()
        readers.append(reader)
        return reader

    yield start
    for reader in readers:
        reader.stop()
