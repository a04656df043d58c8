"""H.264 access units as aiortc's passthrough wants them: Annex-B, parameter sets in-band.

aiortc splits a packet on Annex-B start codes. Packets demuxed from RTSP or MPEG-TS are
Annex-B already; from MP4/MKV (file sources) they are AVCC (length-prefixed) and would be sent
as nothing, so they go through FFmpeg's `h264_mp4toannexb` filter. A browser can only start
decoding at a keyframe that carries SPS/PPS: when a camera sends them out of band only (in the
SDP, i.e. the stream's extradata), they are put in front of each keyframe.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import av
from av.bitstream import BitStreamFilterContext

NAL_SPS = 7
NAL_PPS = 8
START_CODE = b"\x00\x00\x00\x01"


def is_annexb(extradata: bytes) -> bool:
    """Whether a stream's H.264 extradata is Annex-B (start codes) rather than avcC.

    avcC begins with its version byte 1; Annex-B with a 00 00 01 / 00 00 00 01 start code.
    Empty extradata (parameter sets in-band only) is treated as Annex-B.
    """
    return not extradata or extradata.startswith((b"\x00\x00\x01", b"\x00\x00\x00\x01"))


def nal_types(data: bytes) -> Iterator[int]:
    """The NAL unit types of an Annex-B buffer, in order."""
    index = data.find(b"\x00\x00\x01")
    while index >= 0 and index + 3 < len(data):
        yield data[index + 3] & 0x1F
        index = data.find(b"\x00\x00\x01", index + 3)


def has_parameter_sets(data: bytes) -> bool:
    types = set(nal_types(data))
    return NAL_SPS in types and NAL_PPS in types


def with_parameter_sets(data: bytes, keyframe: bool, extradata: bytes) -> bytes:
    """`data`, with the Annex-B extradata (SPS/PPS) in front of a keyframe lacking them."""
    if not keyframe or not extradata or has_parameter_sets(data):
        return data
    return extradata + data


class AnnexB:
    """Turns one stream session's packets into Annex-B access units with parameter sets."""

    def __init__(self, template: Any, extradata: bytes) -> None:
        self._filter: BitStreamFilterContext | None = None
        self._extradata = extradata if is_annexb(extradata) else b""
        if not is_annexb(extradata):
            self._filter = BitStreamFilterContext("h264_mp4toannexb", template)

    @property
    def converts(self) -> bool:
        return self._filter is not None

    def convert(self, packet: Any, keyframe: bool) -> bytes:
        """Annex-B bytes of `packet` (an av.Packet, left untouched)."""
        if self._filter is None:
            return with_parameter_sets(bytes(packet), keyframe, self._extradata)
        private = av.Packet(bytes(packet))  # the filter takes the packet's data over
        private.pts = packet.pts
        private.dts = packet.dts
        private.time_base = packet.time_base
        private.is_keyframe = packet.is_keyframe
        return b"".join(bytes(out) for out in self._filter.filter(private))
