"""The seam between GB/T 28181 signalling (cascade) and media (PS over RTP).

The signalling side parses an INVITE's SDP into a `MediaOffer`, asks a `MediaFactory` for a
`MediaSession` (which binds its socket at once, so the 200 OK can name our port), answers with
`answer_sdp`, and calls `start()` on ACK and `stop()` on BYE, CANCEL or shutdown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

from hallwatch.config_relay import GbChannel


class SdpError(ValueError):
    """An INVITE's SDP that cannot be served (the reason is sent back in the 488 answer)."""


@dataclass(frozen=True, slots=True)
class MediaOffer:
    """What the upper platform asks for in its INVITE."""

    session: str  # s= line: "Play" (live); "Playback"/"Download" are not served
    ip: str  # c= address to send to (TCP passive at the platform: where to connect)
    port: int  # m= port
    transport: Literal["udp", "tcp"]  # m=video PORT RTP/AVP (udp) or TCP/RTP/AVP (tcp)
    setup: Literal["active", "passive"] | None  # TCP: the platform's a=setup role
    payload: int  # the PS payload type it offers (96 as a rule)
    ssrc: str  # y= line: 10 digits, 0 = live, 1 = history (2016 §F)
    channel_id: str  # the INVITE's request-URI user (the channel asked for)


@dataclass(frozen=True, slots=True)
class MediaAnswer:
    """What our 200 OK's SDP says."""

    ip: str
    port: int  # our media port (UDP source port, or the TCP port we listen on / connect from)
    setup: Literal["active", "passive"] | None  # our TCP role: the opposite of the platform's


class MediaSession(Protocol):
    """One INVITE dialog's media: bound on creation, sending after start()."""

    answer: MediaAnswer

    def start(self) -> None:
        """The ACK came: send the channel's H.264 as MPEG-PS over RTP from the next keyframe."""

    def stop(self) -> None:
        """BYE/CANCEL/shutdown: stop sending and release the sockets (idempotent)."""

    def stats(self) -> dict[str, Any]:
        """Counters for the API: packets, bytes, frames, dropped, started_at, error."""


class MediaFactory(Protocol):
    def open(self, channel: GbChannel, offer: MediaOffer, local_ip: str) -> MediaSession:
        """A bound session for this channel; raises SdpError when the offer cannot be served
        (no such stream now, unsupported transport) or OSError when no port can be bound."""
