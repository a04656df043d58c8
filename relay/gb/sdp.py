"""The SDP of a GB/T 28181 live-video INVITE, and our 200 OK's answer.

A typical offer from an upper platform (GB/T 28181-2016 §9.2 and Annex F; TCP per RFC 4571 and
RFC 4145, spelled out in the 2022 edition)::

    v=0
    o=34020000002000000001 0 0 IN IP4 192.168.1.10
    s=Play
    c=IN IP4 192.168.1.10
    t=0 0
    m=video 30000 RTP/AVP 96 97 98          (TCP: m=video 30000 TCP/RTP/AVP 96)
    a=recvonly
    a=rtpmap:96 PS/90000
    a=rtpmap:97 MPEG4/90000
    a=rtpmap:98 H264/90000
    a=setup:passive                         (TCP only: the platform's role)
    a=connection:new
    y=0100000001

Only live video (s=Play) is served; s=Playback and s=Download ask for recordings. The y= line
(10 digits: 0 = live, 1 = history, then the domain's 5 digits and a 4-digit serial) is the RTP
SSRC. A TCP offer without a=setup takes RFC 4145's default for an offer, active (the platform
connects); actpass leaves the choice to us, and we connect.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Literal

from relay.gb.media_api import MediaAnswer, MediaOffer, SdpError

_LINE = re.compile(r"^([a-z])=(.*)$")
_SSRC = re.compile(r"^[0-9]{1,10}$")
_RTPMAP = re.compile(r"^([0-9]{1,3})\s+([^/\s]+)/([0-9]+)")
_UDP_PROTOS = {"RTP/AVP"}
_TCP_PROTOS = {"TCP/RTP/AVP", "RTP/AVP/TCP"}  # the second is seen from some vendors
MAX_SDP = 8192


@dataclass(slots=True)
class _Section:
    """The lines of the session part or of one media (m=) section, by type."""

    media: str | None = None  # the m= line's value
    lines: dict[str, list[str]] = field(default_factory=dict)

    def first(self, key: str) -> str | None:
        values = self.lines.get(key)
        return values[0] if values else None

    def attributes(self) -> list[str]:
        return self.lines.get("a", [])


def _sections(sdp: str) -> list[_Section]:
    if len(sdp) > MAX_SDP:
        raise SdpError(f"SDP body too long ({len(sdp)} characters)")
    lines = [line.strip() for line in sdp.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    lines = [line for line in lines if line]
    if not lines or lines[0] != "v=0":
        raise SdpError("not an SDP body: it must begin with v=0")
    sections = [_Section()]
    for number, line in enumerate(lines, 1):
        match = _LINE.match(line)
        if match is None:
            raise SdpError(f"SDP line {number} is not type=value: {line[:40]!r}")
        key, value = match.group(1), match.group(2).strip()
        if key == "m":
            sections.append(_Section(media=value))
        sections[-1].lines.setdefault(key, []).append(value)
    return sections


def _address(value: str | None) -> str:
    if value is None:
        raise SdpError("no c= line: no address to send the media to")
    parts = value.split()
    if len(parts) != 3 or parts[0] != "IN":
        raise SdpError(f"bad c= line: {value[:60]!r}")
    if parts[1] != "IP4":
        raise SdpError(f"only IPv4 media addresses are served, not {parts[1][:10]!r}")
    try:
        address = ipaddress.IPv4Address(parts[2])
    except ValueError:
        raise SdpError(f"bad IPv4 address in c= line: {parts[2][:40]!r}") from None
    if address.is_multicast or address.is_unspecified:
        raise SdpError(f"cannot send to {address} (multicast or unspecified)")
    return str(address)


def _media_line(value: str) -> tuple[int, str, list[str]]:
    parts = value.split()
    if len(parts) < 4:
        raise SdpError(f"bad m= line: {value[:60]!r}")
    port_text = parts[1].split("/", 1)[0]
    if not port_text.isdigit() or int(port_text) > 65535:
        raise SdpError(f"bad port in m= line: {parts[1][:20]!r}")
    return int(port_text), parts[2], parts[3:]


def _ps_payload(formats: list[str], attributes: list[str]) -> int:
    encodings: dict[str, tuple[str, str]] = {}
    for attribute in attributes:
        if attribute.startswith("rtpmap:"):
            match = _RTPMAP.match(attribute[len("rtpmap:") :])
            if match:
                encodings[match.group(1)] = (match.group(2).upper(), match.group(3))
    for fmt in formats:
        name, clock = encodings.get(fmt, ("", ""))
        if name == "PS":
            if clock != "90000":
                raise SdpError(f"PS offered at clock rate {clock}, not 90000")
            if not 96 <= int(fmt) <= 127:
                raise SdpError(f"PS offered on payload type {fmt}, not a dynamic one (96-127)")
            return int(fmt)
    offered = ", ".join(f"{fmt} {encodings.get(fmt, ('?', ''))[0]}" for fmt in formats)
    raise SdpError(f"no PS/90000 payload offered (only {offered[:80]}); we send MPEG-PS")


def _direction(attributes: list[str]) -> None:
    for attribute in attributes:
        if attribute in ("sendonly", "inactive"):
            raise SdpError(f"a={attribute}: the platform does not want to receive video")


def _setup(attributes: list[str]) -> Literal["active", "passive"]:
    """The platform's TCP role (RFC 4145); actpass lets us choose, and we connect."""
    values = [a.split(":", 1)[1].strip() for a in attributes if a.startswith("setup:")]
    role = values[-1] if values else "active"
    if role == "active":
        return "active"
    if role in ("passive", "actpass"):
        return "passive"
    raise SdpError(f"a=setup:{role[:20]} cannot be served (active or passive)")


def _ssrc(values: list[str]) -> str:
    if not values:
        raise SdpError("no y= line: GB/T 28181 gives the stream's SSRC there")
    value = values[0]
    if not _SSRC.match(value) or int(value) > 0xFFFFFFFF:
        raise SdpError(f"bad y= SSRC {value[:20]!r}: up to 10 digits, below 2^32")
    return value


def parse_offer(sdp: str, channel_id: str) -> MediaOffer:
    """The media an INVITE asks for; SdpError (with the reason for the 488) if we cannot serve
    it: not live video, no PS payload, no y= SSRC, or an SDP we cannot read."""
    sections = _sections(sdp)
    session = sections[0]
    name = session.first("s")
    if name is None:
        raise SdpError("no s= line")
    if name.lower() != "play":
        raise SdpError(f"s={name[:20]}: only live video (s=Play) is served, not recordings")
    videos = [s for s in sections[1:] if s.media is not None and s.media.startswith("video ")]
    if not videos:
        raise SdpError("no m=video line")
    video = videos[0]
    assert video.media is not None
    port, proto, formats = _media_line(video.media)
    if proto in _UDP_PROTOS:
        transport: Literal["udp", "tcp"] = "udp"
    elif proto in _TCP_PROTOS:
        transport = "tcp"
    else:
        raise SdpError(f"transport {proto[:20]!r} is not served (RTP/AVP or TCP/RTP/AVP)")
    attributes = session.attributes() + video.attributes()
    _direction(attributes)
    setup = _setup(attributes) if transport == "tcp" else None
    if port == 0 and setup != "active":  # an active platform's port is not used (RFC 4145)
        raise SdpError("m=video port 0: the platform refused the video stream")
    ip = _address(video.first("c") or session.first("c"))
    payload = _ps_payload(formats, attributes)
    ssrc = _ssrc([v for s in sections for v in s.lines.get("y", [])])
    return MediaOffer(
        session="Play", ip=ip, port=port, transport=transport, setup=setup, payload=payload,
        ssrc=ssrc, channel_id=channel_id,
    )  # fmt: skip


def answer_sdp(offer: MediaOffer, answer: MediaAnswer, *, our_id: str, ssrc: str) -> str:
    """Our 200 OK's SDP: we send PS on the offered payload type from `answer`'s address."""
    if not _SSRC.match(ssrc):
        raise ValueError(f"bad SSRC {ssrc!r}: up to 10 digits")
    proto = "TCP/RTP/AVP" if offer.transport == "tcp" else "RTP/AVP"
    lines = [
        "v=0",
        f"o={our_id} 0 0 IN IP4 {answer.ip}",
        "s=Play",
        f"c=IN IP4 {answer.ip}",
        "t=0 0",
        f"m=video {answer.port} {proto} {offer.payload}",
        "a=sendonly",
        f"a=rtpmap:{offer.payload} PS/90000",
    ]
    if offer.transport == "tcp":
        if answer.setup is None:
            raise ValueError("a TCP answer needs our setup role")
        lines += [f"a=setup:{answer.setup}", "a=connection:new"]
    lines.append(f"y={ssrc}")
    return "\r\n".join(lines) + "\r\n"


def answer_setup(offer: MediaOffer) -> Literal["active", "passive"] | None:
    """Our TCP role: the opposite of the platform's (None for UDP)."""
    if offer.transport != "tcp":
        return None
    return "active" if offer.setup == "passive" else "passive"
