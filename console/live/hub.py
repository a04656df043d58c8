"""The live views of one console: feeds per camera stream, viewer sessions, their audit.

Feeds are created for the first viewer (or a plan's probe) and dropped `linger_s` after the last
viewer leaves. A session ends when its peer connection fails or closes, when it never connects,
on DELETE, and when the app shuts down; each end is audited once, with from/to/seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpCodecCapability,
    RTCRtpSender,
    RTCSessionDescription,
)

from console.live.feed import CameraFeed, ViewerQueue
from console.live.plan import LivePlan, StreamFacts, choose_stream
from console.live.track import PacketTrack
from hallwatch.config import Site
from hallwatch.store import Store
from ingest.packets import FanOut

log = logging.getLogger(__name__)

FanoutLookup = Callable[[str, str], FanOut | None]


class LiveUnavailable(Exception):
    def __init__(self, plan: LivePlan) -> None:
        super().__init__(plan.reason)
        self.plan = plan


class TooManyViewers(Exception):
    pass


class BadOffer(Exception):
    pass


@dataclass(eq=False)
class ViewerSession:
    id: str
    camera: str
    stream: str
    username: str
    started_at: float  # UNIX time
    started_mono: float
    pc: RTCPeerConnection = field(repr=False)
    track: PacketTrack = field(repr=False)
    feed: CameraFeed = field(repr=False)

    @property
    def viewer(self) -> ViewerQueue:
        return self.track.viewer

    def first_frame_ms(self) -> float | None:
        first = self.track.first_packet_at
        return None if first is None else (first - self.started_mono) * 1000


def h264_codecs() -> list[RTCRtpCodecCapability]:
    capabilities = RTCRtpSender.getCapabilities("video")
    return [codec for codec in capabilities.codecs if codec.mimeType.lower() == "video/h264"]


class LiveHub:
    def __init__(
        self,
        site: Site,
        store: Store,
        fanouts: FanoutLookup,
        *,
        linger_s: float = 3.0,
        facts_timeout_s: float = 4.0,
        connect_timeout_s: float = 20.0,
    ) -> None:
        self.site = site
        self.store = store
        self.fanouts = fanouts
        self.linger_s = linger_s
        self.facts_timeout_s = facts_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.feeds: dict[tuple[str, str], CameraFeed] = {}
        self.sessions: dict[str, ViewerSession] = {}
        self._drops: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # --- feeds --------------------------------------------------------------------------------

    def _feed(self, camera: str, stream: str) -> CameraFeed | None:
        key = (camera, stream)
        pending = self._drops.pop(key, None)
        if pending is not None:
            pending.cancel()
        feed = self.feeds.get(key)
        if feed is None:
            fanout = self.fanouts(camera, stream)
            if fanout is None:
                return None
            feed = CameraFeed(camera, stream, fanout)
            self.feeds[key] = feed
            log.info("live %s/%s: feed started", camera, stream)
        return feed

    def _release(self, feed: CameraFeed) -> None:
        """Drop the feed `linger_s` after its last viewer left (unless one comes back)."""
        key = (feed.camera, feed.stream)
        if feed.viewers or key in self._drops or self.feeds.get(key) is not feed:
            return
        loop = asyncio.get_running_loop()
        self._drops[key] = loop.call_later(self.linger_s, self._drop, key, feed)

    def _drop(self, key: tuple[str, str], feed: CameraFeed) -> None:
        self._drops.pop(key, None)
        if feed.viewers or self.feeds.get(key) is not feed:
            return
        del self.feeds[key]
        feed.stop()
        log.info("live %s/%s: feed stopped (no viewer)", *key)

    async def _facts(self, camera: str, stream: str) -> StreamFacts | None:
        feed = self._feed(camera, stream)
        if feed is None:
            return None
        facts = await feed.wait_facts(self.facts_timeout_s)
        self._release(feed)
        return facts

    async def plan(self, camera_id: str) -> LivePlan:
        """What this camera's live view would send now (KeyError: unknown camera)."""
        camera = self.site.camera(camera_id)
        main = await self._facts(camera_id, "main")
        usable_main = main is not None and main.playable
        has_sub = camera.sub_url is not None
        sub = await self._facts(camera_id, "sub") if has_sub and not usable_main else None
        return choose_stream(main, sub, sub_configured=has_sub)

    # --- sessions -----------------------------------------------------------------------------

    def viewers_of(self, camera_id: str) -> int:
        return sum(1 for session in self.sessions.values() if session.camera == camera_id)

    async def open(
        self, camera_id: str, offer: RTCSessionDescription, username: str
    ) -> tuple[ViewerSession, RTCSessionDescription, LivePlan]:
        """Answer a browser's offer with a peer connection sending the camera's packets."""
        if self.viewers_of(camera_id) >= self.site.live.max_viewers_per_camera:
            raise TooManyViewers(camera_id)
        plan = await self.plan(camera_id)
        feed = None if plan.stream is None else self._feed(camera_id, plan.stream)
        if plan.stream is None or feed is None:
            raise LiveUnavailable(plan)
        track = PacketTrack(feed.add_viewer())
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        try:
            answer = await _answer(pc, track, offer)
        except Exception as error:  # aiortc raises ValueError and others on odd SDP
            feed.remove_viewer(track.viewer)
            self._release(feed)
            await pc.close()
            raise BadOffer(str(error) or type(error).__name__) from error
        session = ViewerSession(
            secrets.token_urlsafe(12), camera_id, plan.stream, username, time.time(),
            time.monotonic(), pc, track, feed,
        )  # fmt: skip
        self.sessions[session.id] = session
        self._watch(session)
        await asyncio.to_thread(
            self.store.audit, username, "live_view", camera_id, session=session.id,
            stream=plan.stream,
        )  # fmt: skip
        log.info("live %s: viewer %s (%s) started", camera_id, session.id, username)
        return session, answer, plan

    def _watch(self, session: ViewerSession) -> None:
        @session.pc.on("connectionstatechange")
        async def changed() -> None:
            state = session.pc.connectionState
            if state == "connected":
                log.info("live %s: viewer %s connected", session.camera, session.id)
            if state in ("failed", "closed"):
                await self.close(session.id, f"connection {state}")

        self._spawn(self._connect_deadline(session))

    async def _connect_deadline(self, session: ViewerSession) -> None:
        await asyncio.sleep(self.connect_timeout_s)
        if session.id in self.sessions and session.pc.connectionState != "connected":
            await self.close(session.id, "no connection")

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self, session_id: str, reason: str) -> ViewerSession | None:
        """End a session (once; later calls return None) and audit how long it lasted."""
        session = self.sessions.pop(session_id, None)
        if session is None:
            return None
        session.feed.remove_viewer(session.viewer)
        self._release(session.feed)
        session.track.stop()
        with contextlib.suppress(Exception):  # a half-torn-down connection may complain
            await session.pc.close()
        ended = time.time()
        seconds = round(ended - session.started_at, 3)
        details = {
            "session": session.id, "stream": session.stream, "reason": reason,
            "from": session.started_at, "to": ended, "seconds": seconds,
            "dropped": session.viewer.dropped,
        }  # fmt: skip
        await asyncio.to_thread(
            self.store.audit, session.username, "live_view_end", session.camera, **details
        )
        log.info("live %s: viewer %s ended after %.1f s (%s; first frame %s ms)",
                 session.camera, session.id, seconds, reason, session.first_frame_ms())  # fmt: skip
        return session

    async def close_all(self, reason: str = "shutdown") -> None:
        for session_id in list(self.sessions):
            await self.close(session_id, reason)
        for handle in self._drops.values():
            handle.cancel()
        self._drops.clear()
        for feed in self.feeds.values():
            feed.stop()
        self.feeds.clear()
        for task in list(self._tasks):
            task.cancel()


async def _answer(
    pc: RTCPeerConnection, track: PacketTrack, offer: RTCSessionDescription
) -> RTCSessionDescription:
    sender = pc.addTrack(track)  # before the offer: its transceiver takes the offer's video
    for transceiver in pc.getTransceivers():
        if transceiver.sender is sender:
            transceiver.setCodecPreferences(h264_codecs())
    await pc.setRemoteDescription(offer)
    await pc.setLocalDescription(await pc.createAnswer())
    return pc.localDescription
