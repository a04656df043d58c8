"""Test rig for the live view: real readers and fan-outs, a real console on 127.0.0.1, and a
Python aiortc peer that receives (and decodes) what the console sends."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from fastapi import FastAPI

from hallwatch.config import Site
from hallwatch.config_edit import ApplyResult
from hallwatch.live import LiveView
from ingest.packets import FanOut
from ingest.reader import CameraReader
from ingest.source import parse_source
from tests.support.clips import read_frame_counter
from tests.support.console_client import log_in
from tests.support.net import free_port


class ReaderSource:
    """A LiveSource over real camera readers: {camera: {"main": reader, "sub": reader}}."""

    def __init__(self, readers: dict[str, dict[str, CameraReader]]) -> None:
        self.readers = readers

    def live(self, camera_id: str) -> LiveView | None:
        return None

    def camera_status(self, camera_id: str) -> dict[str, object]:
        return self.readers[camera_id]["main"].status().to_json()

    def apply_site(self, site: Site) -> ApplyResult:
        return ApplyResult(applied=False, restart_required=True)

    def live_fanout(self, camera_id: str, stream: str) -> FanOut | None:
        reader = self.readers.get(camera_id, {}).get(stream)
        return None if reader is None else reader.fanout


@contextmanager
def readers(urls: dict[str, dict[str, str]], base: Path) -> Iterator[ReaderSource]:
    """Started CameraReaders for {camera: {stream: url}}; stopped afterwards."""
    made = {
        camera: {stream: CameraReader(camera, parse_source(url, base)) for stream, url in s.items()}
        for camera, s in urls.items()
    }
    for streams in made.values():
        for reader in streams.values():
            reader.start()
    try:
        yield ReaderSource(made)
    finally:
        for streams in made.values():
            for reader in streams.values():
                reader.stop()


@contextmanager
def running(app: FastAPI) -> Iterator[str]:
    """The app served by uvicorn on 127.0.0.1 (lifespan included); yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


@dataclass
class Received:
    session_id: str
    plan: dict[str, Any]
    counters: list[int] = field(default_factory=list)  # frame numbers read from the pictures
    sizes: set[tuple[int, int]] = field(default_factory=set)
    first_frame_s: float | None = None  # from sending the offer to the first decoded frame


async def receive(
    base: str, username: str, password: str, camera: str, frames: int, timeout: float = 20
) -> Received:
    """Log in, offer to receive `camera`'s video, decode `frames` frames, end the session."""
    async with httpx.AsyncClient(base_url=base, timeout=timeout) as http:
        response = await http.post("/api/login", json={"username": username, "password": password})
        assert response.status_code == 200, response.text
        token = http.cookies.get("hw_csrf")
        if token:
            http.headers["X-CSRF-Token"] = token
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.addTransceiver("video", direction="recvonly")
        tracks: asyncio.Queue[Any] = asyncio.Queue()
        pc.on("track", tracks.put_nowait)
        await pc.setLocalDescription(await pc.createOffer())
        started = time.monotonic()
        answer = await http.post(
            f"/api/live/{camera}/offer",
            json={"sdp": pc.localDescription.sdp, "type": pc.localDescription.type},
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        await pc.setRemoteDescription(RTCSessionDescription(sdp=body["sdp"], type=body["type"]))
        result = Received(body["session_id"], body["plan"])
        try:
            track = await asyncio.wait_for(tracks.get(), timeout)
            await asyncio.wait_for(_decode(track, result, frames, started), timeout)
        finally:
            ended = await http.delete(f"/api/live/sessions/{result.session_id}")
            assert ended.status_code == 204, ended.text
            await pc.close()
    return result


async def _decode(track: Any, result: Received, frames: int, started: float) -> None:
    while len(result.counters) < frames:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        if result.first_frame_s is None:
            result.first_frame_s = time.monotonic() - started
        result.sizes.add((frame.width, frame.height))
        result.counters.append(read_frame_counter(frame.to_ndarray(format="rgb24")))


def logged_in(client: Any, username: str, password: str) -> Any:
    response = log_in(client, username, password)
    assert response.status_code == 200, response.text
    return client
