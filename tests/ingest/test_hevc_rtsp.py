"""An H.265 camera end to end on 127.0.0.1: the GStreamer RTSP server serves an HEVC clip, the
camera reader pulls it over TCP, the recorder cuts it into segments and the analysis tap
samples it, all from one fan-out like hallwatch/runtime.py wires them."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest

from hallwatch.store import Store
from ingest.packets import FanOut
from ingest.source import OpenOptions, parse_source
from ingest.tap import Frame, FrameTap
from tests.ingest.test_rtsp_faults import CAMERA, FPS, NO_JITTER, SIZE, follows, playable, recording
from tests.support.clips import make_clip, read_frame_counter
from tests.support.rtsp import RtspServer, require_rtsp_server
from tests.support.wait import wait_until

CLIP_S = 4  # the server loops it: frame counters wrap at CLIP_S * FPS
FRAMES_IN_CLIP = CLIP_S * FPS


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RtspServer]:
    require_rtsp_server()
    clip = make_clip(tmp_path / "hevc.mp4", seconds=CLIP_S, fps=FPS, size=SIZE, codec="libx265")
    with RtspServer({"/hevc": clip}) as running:
        yield running


def test_hevc_camera_is_pulled_recorded_and_sampled(
    server: RtspServer, store: Store, tmp_path: Path
) -> None:
    fanout = FanOut()
    frames: list[Frame] = []
    tap = FrameTap(CAMERA, fanout.subscribe("analysis", 64, keyframes_only=True), frames.append)
    tap.start()
    source = parse_source(server.url("/hevc"))
    try:
        with recording(store, tmp_path / "rec", source, segment_s=2.0, fanout=fanout,
                       backoff=NO_JITTER, options=OpenOptions(transport="tcp")) as rig:  # fmt: skip
            wait_until(lambda: rig.reader.status().online, 15, "online")
            wait_until(lambda: len(rig.closed()) >= 2 and len(frames) >= 3, 10,
                       "two closed segments and three samples")  # fmt: skip
            status = rig.reader.status()  # while it runs: rates are zero once stopped
            assert rig.alive()
    finally:
        tap.stop()

    # the reader
    assert status.codec == "hevc" and (status.width, status.height) == SIZE
    assert status.fps == pytest.approx(FPS, abs=2.5) and status.reconnects == 0

    # the recorder: HEVC segments, each playable from a keyframe, not a frame lost between them
    segments = rig.closed()
    assert len(segments) >= 2 and not rig.index.segments(CAMERA, "open")
    assert {(s.codec, s.width, s.height) for s in segments} == {("hevc", *SIZE)}
    decoded = [playable(rig, segment, FRAMES_IN_CLIP) for segment in segments]
    assert [len(d.counters) for d in decoded[:-1]] == [2 * FPS] * (len(decoded) - 1)
    assert all(follows(a, b, FRAMES_IN_CLIP) for a, b in itertools.pairwise(decoded))
    for segment in segments:
        with av.open(str(rig.index.path_of(segment))) as container:
            assert container.streams.video[0].codec_context.name == "hevc"
    stats = rig.writer.stats()
    assert stats["errors"] == stats["gaps"] == 0

    # the tap: keyframes only (one a second), decoded to 320×180 BGR pictures
    assert tap.decode_plan == "keyframes" and tap.decode_errors == 0
    assert tap.frames_decoded == tap.frames_sampled == len(frames)
    gaps = [b.media_time - a.media_time for a, b in itertools.pairwise(frames)]
    assert all(0.8 <= gap <= 1.2 for gap in gaps), gaps
    for frame in frames:
        assert frame.camera == CAMERA
        assert frame.image.shape == (SIZE[1], SIZE[0], 3) and frame.image.dtype == np.uint8
        assert read_frame_counter(frame.image) % FPS == 0  # a keyframe of the clip
        # make_frame's background at the top right is RGB ≈ (160, 90, 120): red comes last
        blue, green, red = (int(v) for v in frame.image[2, -2])
        assert red > blue + 20 and abs(green - 90) < 20, (blue, green, red)
