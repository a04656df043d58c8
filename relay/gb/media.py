"""GB/T 28181 live media: a channel's H.264 as MPEG-PS over RTP, from the camera's shared reader.

`GbMediaFactory.open` (on INVITE) checks that the channel's camera stream is there and is H.264,
and returns a `GbMediaSession` whose socket is already bound, so the 200 OK can name its port.
`start()` (on ACK) starts the session's own thread: it makes the media connection (TCP connect
or accept, as the SDP's roles say), subscribes to the camera's FanOut through a bounded queue,
waits for a keyframe and then sends every access unit, without re-encoding, as one PS frame
(relay.gb.ps) cut into RTP packets (relay.gb.rtp). `stop()` (on BYE) ends it.

The reader is never held up: the queue drops its oldest packet when the session falls behind,
and the session then waits for the next keyframe (a decoder cannot use a GOP with a hole). The
platform going away (TCP closed or reset, UDP port unreachable) or a TCP connection that never
comes ends the session; stats() says why (the signalling side should then send BYE).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hallwatch.config_relay import GbChannel
from ingest.annexb import AnnexB
from ingest.packets import FanOut, PacketItem, PacketQueue, SessionEnded
from relay.gb.media_api import MediaAnswer, MediaOffer, SdpError
from relay.gb.ps import CLOCK, SCR_LEAD, STREAM_TYPE_H264, ps_frame
from relay.gb.rtp import (
    MAX_UDP_PAYLOAD,
    TS_MOD,
    PeerGone,
    RtpPacketizer,
    Sender,
    TcpActiveSender,
    TcpPassiveSender,
    UdpSender,
)
from relay.gb.sdp import answer_setup

log = logging.getLogger(__name__)

SUPPORTED_CODEC = "h264"
QUEUE_SIZE = 128  # packets between the reader and the session (~5 s at 25 fps)
POLL_S = 0.5


@dataclass(frozen=True, slots=True)
class MediaTuning:
    queue_size: int = QUEUE_SIZE
    connect_timeout_s: float = 10.0  # TCP: connecting to, or waiting for, the platform
    send_timeout_s: float = 10.0  # TCP: a platform that stops reading for this long is gone
    probe_timeout_s: float = 1.0  # open(): wait this long for a packet to learn the codec
    max_payload: int = MAX_UDP_PAYLOAD


class UnsupportedCodec(Exception):
    """The camera's stream is not one GB/T 28181-2016 carries."""


def codec_refusal(codec: str, camera: str) -> str | None:
    """Why a camera stream with `codec` cannot be sent, or None when it can."""
    if codec == SUPPORTED_CODEC:
        return None
    if codec in ("hevc", "h265"):
        return (
            f"camera {camera} sends H.265: GB/T 28181-2016 carries H.264 only in PS (H.265,"
            " stream_type 0x24, came with the 2022 edition)"
        )
    return f"camera {camera} sends {codec}, not H.264"


@dataclass(frozen=True, slots=True)
class PsOut:
    """One access unit ready to send: its PS frame and RTP timestamp base (90 kHz)."""

    data: bytes
    timestamp: int  # decoding time, 90 kHz, from the session's first frame (not wrapped)
    keyframe: bool


class PsFramer:
    """Turns one camera stream's fan-out packets into PS frames (no I/O).

    It starts at a keyframe, restarts at the next keyframe after a gap (dropped packets, a new
    camera session), and stamps frames on the camera's continuous media clock: the first sent
    frame has PTS `SCR_LEAD`, so the first SCR is 0.
    """

    def __init__(self, camera: str) -> None:
        self.camera = camera
        self.skipped = 0  # packets not sent while waiting for a keyframe
        self.waiting_key = True
        self._session: int | None = None
        self._annexb: AnnexB | None = None
        self._origin: float | None = None

    def gap(self) -> None:
        self.waiting_key = True

    def end_session(self, item: SessionEnded) -> None:
        if item.info.session == self._session:
            self._session = None
            self._annexb = None
            self.waiting_key = True

    def frame(self, item: PacketItem) -> PsOut | None:
        info = item.info
        if info.session != self._session:
            refusal = codec_refusal(info.codec, self.camera)
            if refusal is not None:
                raise UnsupportedCodec(refusal)
            self._session = info.session
            self._annexb = AnnexB(info.template, info.extradata)
            self.waiting_key = True
        if self.waiting_key and not item.keyframe:
            self.skipped += 1
            return None
        assert self._annexb is not None
        data = self._annexb.convert(item.packet, item.keyframe)
        if not data:
            return None
        self.waiting_key = False
        if self._origin is None:
            self._origin = item.media_time
        pts = SCR_LEAD + round((item.media_time - self._origin) * CLOCK)
        dts = pts - decode_lead(item.packet)
        frame = ps_frame(data, pts, dts if dts != pts else None, keyframe=item.keyframe,
                         stream_type=STREAM_TYPE_H264)  # fmt: skip
        return PsOut(frame, dts, item.keyframe)  # RTP wraps it at 2^32, not PS's 2^33


def decode_lead(packet: Any) -> int:
    """How many 90 kHz ticks a packet is decoded before it is shown (B-frame reordering)."""
    if packet.pts is None or packet.dts is None or packet.time_base is None:
        return 0
    lead: int = round((packet.pts - packet.dts) * packet.time_base * CLOCK)
    return max(0, lead)


def make_sender(offer: MediaOffer, local_ip: str, tuning: MediaTuning) -> Sender:
    """The sender for the offer's transport and roles, bound on `local_ip`."""
    if offer.transport == "udp":
        return UdpSender(local_ip, (offer.ip, offer.port))
    if offer.setup == "passive":  # the platform listens: we connect
        return TcpActiveSender(local_ip, (offer.ip, offer.port), tuning.send_timeout_s)
    return TcpPassiveSender(local_ip, tuning.send_timeout_s)


class GbMediaSession:
    """One INVITE dialog's media (see the module docstring)."""

    def __init__(
        self,
        fanout: FanOut,
        channel: GbChannel,
        offer: MediaOffer,
        local_ip: str,
        tuning: MediaTuning | None = None,
    ) -> None:
        self.channel = channel
        self.offer = offer
        self.tuning = tuning or MediaTuning()
        self._fanout = fanout
        self._sender = make_sender(offer, local_ip, self.tuning)
        self.answer = MediaAnswer(local_ip, self._sender.local_port, answer_setup(offer))
        self._packetizer = RtpPacketizer(
            offer.payload, int(offer.ssrc), sequence=random.randrange(1 << 16),
            max_payload=self.tuning.max_payload,
        )  # fmt: skip
        self._rtp_base = random.randrange(TS_MOD)
        self._framer = PsFramer(channel.camera)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._queue: PacketQueue | None = None
        self._state = "bound"
        self._error: str | None = None
        self._started_at: float | None = None
        self._closed = False
        self.packets = 0
        self.bytes = 0
        self.frames = 0

    # --- MediaSession -------------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if self._thread is not None or self._stopping.is_set():
                return
            self._started_at = time.time()
            self._state = "connecting"
            self._thread = threading.Thread(
                target=self._run, name=f"gb-media-{self.offer.channel_id}", daemon=True
            )
        self._thread.start()

    def stop(self) -> None:
        with self._lock:
            already = self._stopping.is_set()
            self._stopping.set()
            thread = self._thread
        if already and (thread is None or not thread.is_alive()):
            return
        self._sender.close()  # wakes a connect, accept or send in the session thread
        queue = self._queue
        if queue is not None:
            queue.close()
        if thread is not None:
            thread.join(5.0)
            if thread.is_alive():
                log.warning("GB media %s: session thread did not end", self.offer.channel_id)
        else:
            self._finish("stopped", None)

    def stats(self) -> dict[str, Any]:
        queue = self._queue
        with self._lock:
            state, error, started_at = self._state, self._error, self._started_at
        return {
            "channel_id": self.offer.channel_id,
            "camera": self.channel.camera,
            "stream": self.channel.stream,
            "state": state,
            "transport": self.offer.transport,
            "setup": self.answer.setup,
            "remote": f"{self.offer.ip}:{self.offer.port}",
            "local_port": self.answer.port,
            "ssrc": self.offer.ssrc,
            "packets": self.packets,
            "bytes": self.bytes,
            "frames": self.frames,
            "dropped": 0 if queue is None else queue.dropped,
            "skipped": self._framer.skipped,
            "started_at": started_at,
            "error": error,
        }

    # --- the session thread -------------------------------------------------------------------

    def _run(self) -> None:
        channel = self.offer.channel_id
        error: str | None = None
        try:
            try:
                self._sender.connect(self.tuning.connect_timeout_s)
            except TimeoutError:
                raise PeerGone(
                    f"no TCP connection with the platform within"
                    f" {self.tuning.connect_timeout_s:g} s"
                ) from None
            if self._stopping.is_set():
                return
            queue = self._fanout.subscribe(f"gb:{channel}", self.tuning.queue_size)
            self._queue = queue
            self._set_state("waiting_keyframe")
            log.info("GB media %s: %s to %s:%s from port %s", channel, self.offer.transport,
                     self.offer.ip, self.offer.port, self.answer.port)  # fmt: skip
            self._pump(queue)
        except PeerGone as gone:
            error = str(gone)
        except TimeoutError:
            error = f"the platform took no data for {self.tuning.send_timeout_s:g} s"
        except UnsupportedCodec as refused:
            error = str(refused)
        except OSError as failed:
            error = f"{type(failed).__name__}: {failed}"
        except Exception as failed:  # a bug: say so in stats, never kill the process
            log.exception("GB media %s: session failed", channel)
            error = f"internal error {type(failed).__name__}: {failed}"
        finally:
            if self._stopping.is_set():  # what stopping breaks is no error
                self._finish("stopped", None)
            else:
                self._finish("ended", error or "stopped")

    def _pump(self, queue: PacketQueue) -> None:
        seen_drops = 0
        sending = False
        while not self._stopping.is_set():
            item = queue.get(POLL_S)
            if item is None:
                continue
            if queue.dropped != seen_drops:  # packets were lost: wait for the next keyframe
                seen_drops = queue.dropped
                self._framer.gap()
            if isinstance(item, SessionEnded):
                self._framer.end_session(item)
                self._set_state("waiting_keyframe")
                sending = False
                continue
            out = self._framer.frame(item)
            if out is None:
                continue
            if not sending:
                self._set_state("sending")
                sending = True
            packets = self._packetizer.packets(out.data, self._rtp_base + out.timestamp)
            self.bytes += self._sender.send(packets)
            self.packets += len(packets)
            self.frames += 1

    def _set_state(self, state: str) -> None:
        with self._lock:
            if not self._closed:
                self._state = state

    def _finish(self, state: str, error: str | None) -> None:
        queue = self._queue
        if queue is not None:
            self._fanout.unsubscribe(queue)
        self._sender.close()
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._state = state
            self._error = error
        if state == "ended":
            log.warning("GB media %s ended: %s", self.offer.channel_id, error)
        else:
            log.info("GB media %s stopped after %d frames", self.offer.channel_id, self.frames)


def probe_codec(fanout: FanOut, timeout: float) -> str | None:
    """The codec of the stream the fan-out carries now (None: no packet within `timeout`)."""
    queue = fanout.subscribe("gb:probe", 1)
    try:
        item = queue.get(timeout)
    finally:
        fanout.unsubscribe(queue)
    return None if item is None else item.info.codec


class GbMediaFactory:
    """MediaFactory over the site's camera readers: `fanout_of(camera, "main"|"sub")` is the
    FanOut of that camera stream, or None when there is none now.

    open() waits up to `tuning.probe_timeout_s` (a frame interval when the camera is online)
    for a packet to learn the stream's codec; call it off an event loop. A probe timeout of 0
    skips that check: the session then ends with an error at start if the codec is wrong.
    """

    def __init__(
        self,
        fanout_of: Callable[[str, str], FanOut | None],
        tuning: MediaTuning | None = None,
    ) -> None:
        self.fanout_of = fanout_of
        self.tuning = tuning or MediaTuning()

    def open(self, channel: GbChannel, offer: MediaOffer, local_ip: str) -> GbMediaSession:
        if offer.session != "Play":
            raise SdpError(f"s={offer.session}: only live video (s=Play) is served")
        fanout = self.fanout_of(channel.camera, channel.stream)
        if fanout is None:
            raise SdpError(f"camera {channel.camera} has no {channel.stream} stream now")
        if self.tuning.probe_timeout_s > 0:
            codec = probe_codec(fanout, self.tuning.probe_timeout_s)
            if codec is None:
                raise SdpError(
                    f"camera {channel.camera} sent no video in {self.tuning.probe_timeout_s:g} s"
                )
            refusal = codec_refusal(codec, channel.camera)
            if refusal is not None:
                raise SdpError(refusal)
        return GbMediaSession(fanout, channel, offer, local_ip, self.tuning)
