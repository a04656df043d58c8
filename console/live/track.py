"""The media track a viewer's peer connection sends: the camera's packets, not frames.

When `recv()` returns an `av.Packet`, aiortc's RTCRtpSender does not encode: the H.264
packetizer splits the Annex-B access unit into RTP payloads and converts its pts to the 90 kHz
RTP clock. That is the passthrough path: no decode, no re-encode, per viewer.
"""

from __future__ import annotations

import time
from typing import Any

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from console.live.feed import ViewerClosed, ViewerQueue


class PacketTrack(MediaStreamTrack):
    kind = "video"

    def __init__(self, viewer: ViewerQueue) -> None:
        super().__init__()
        self.viewer = viewer
        self.first_packet_at: float | None = None  # monotonic time the first packet was sent

    async def recv(self) -> Any:
        if self.readyState != "live":
            raise MediaStreamError
        try:
            item = await self.viewer.get()
        except ViewerClosed:
            self.stop()
            raise MediaStreamError from None
        if self.first_packet_at is None:
            self.first_packet_at = time.monotonic()
        return item.packet
