"""One camera's ingest: the main-stream reader, an optional sub-stream reader, and the
analysis tap on whichever stream analysis uses. Consumers (recorder, live view, relay)
subscribe to `main.fanout`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from hallwatch.config import Camera
from ingest.reader import CameraReader, OutageCallback
from ingest.source import parse_source
from ingest.tap import Frame, FrameTap

ANALYSIS_QUEUE = 64  # packets: 2.5 s at 25 fps when every packet must be decoded


class CameraPipeline:
    def __init__(
        self,
        camera: Camera,
        base_dir: Path,
        frame_sink: Callable[[Frame], None],
        on_outage: OutageCallback | None = None,
    ) -> None:
        self.camera = camera
        self.main = CameraReader(camera.id, parse_source(camera.url, base_dir), on_outage=on_outage)
        self.sub = (
            None
            if camera.sub_url is None
            else CameraReader(camera.id, parse_source(camera.sub_url, base_dir))
        )
        analysed = self.sub or self.main
        queue = analysed.fanout.subscribe("analysis", ANALYSIS_QUEUE, keyframes_only=True)
        self.tap = FrameTap(camera.id, queue, frame_sink, sample_fps=camera.analysis_fps)

    def start(self) -> None:
        self.tap.start()
        self.main.start()
        if self.sub is not None:
            self.sub.start()

    def stop(self) -> None:
        for reader in (self.main, self.sub):
            if reader is not None:
                reader.stop()
        self.tap.stop()

    def status(self) -> dict[str, Any]:
        status = self.main.status().to_json()
        status["analysis"] = self.tap.stats()
        status["sub_stream"] = None if self.sub is None else self.sub.status().to_json()
        status["dropped"] = {
            **self.main.fanout.drops(),
            **(
                {}
                if self.sub is None
                else {f"sub:{k}": v for k, v in self.sub.fanout.drops().items()}
            ),
        }
        return status
