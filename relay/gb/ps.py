"""MPEG-2 Program Stream (PS) packing of H.264 access units, as GB/T 28181 carries video.

GB/T 28181-2016 Annex C ("基于RTP的音视频数据封装") sends video as an ISO/IEC 13818-1 Program
Stream cut into RTP packets. The upper platforms (WVP/ZLMediaKit, vendor platforms) expect one
PS "frame" per H.264 access unit, laid out like this:

    pack header             §2.5.3.3 Pack layer of Program Stream: 00 00 01 BA, the SCR (system
                            clock reference, 33-bit base at 90 kHz + 9-bit 27 MHz extension)
                            and program_mux_rate (22 bits, units of 50 bytes/s); every frame
    system header           §2.5.3.5 System header: 00 00 01 BB, rate bound, one video stream
                            (stream id 0xE0) and its P-STD buffer bound; keyframes only
    program stream map      §2.5.4 Program Stream map: 00 00 01 BC, declares stream_type 0x1B
                            (H.264, ITU-T H.264 | ISO/IEC 14496-10) for stream id 0xE0, ends with
                            a CRC_32 (the CRC-32/MPEG-2 of Annex A over the whole map); keyframes
    PES packets             §2.4.3.6 PES packet: 00 00 01 E0, PES_packet_length, PTS (and DTS
                            when it differs) on the first PES of the access unit; an access unit
                            longer than one PES packet holds (PES_packet_length is 16 bits) is
                            continued in further PES packets without timestamps

Input is Annex-B (start codes) with SPS/PPS in front of every IDR picture, so that a receiver
can start at any keyframe (ingest.annexb.AnnexB turns AVCC file packets and out-of-band
parameter sets into that). Timestamps are 90 kHz ticks; the SCR runs a little (40 ms) ahead of
the DTS as a receiver's buffer model wants.

GB/T 28181-2016 vs 2022: the 2016 edition names H.264 (and MPEG-4 video, SVAC, audio G.711 etc.)
only; the 2022 edition adds H.265 as stream_type 0x24 (and spells out TCP active/passive media
transport). `STREAM_TYPE_H265` is here for that, but the relay serves H.264 under 2016 rules.

The functions are pure (bytes in, bytes out); `split_units`, `parse_pack_header` and
`parse_pes` read a PS back, for tests and diagnostics.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

PACK_START = b"\x00\x00\x01\xba"
SYSTEM_HEADER_START = b"\x00\x00\x01\xbb"
PSM_START = b"\x00\x00\x01\xbc"
STREAM_ID_VIDEO = 0xE0
STREAM_TYPE_H264 = 0x1B
STREAM_TYPE_H265 = 0x24  # GB/T 28181-2022 only

CLOCK = 90_000  # PTS/DTS/SCR base ticks per second
TIMESTAMP_MOD = 1 << 33  # PTS, DTS and SCR base are 33-bit counters
SCR_LEAD = 3_600  # the SCR is 40 ms ahead of the decoding time
PACK_HEADER_SIZE = 14
MAX_PES_LENGTH = 0xFFFF  # PES_packet_length is 16 bits: bytes after that field
PES_FIXED_HEADER = 3  # the flags bytes and PES_header_data_length, counted in PES_packet_length
DEFAULT_MUX_RATE = 50_000  # × 50 bytes/s = 20 Mbit/s: above any camera stream
P_STD_BOUND_KB = 1024  # P-STD buffer size bound declared for video (scale 1: ×1024 bytes)

_PTS_ONLY = 0b0010
_PTS_WITH_DTS = 0b0011
_DTS = 0b0001


class PsError(ValueError):
    """Bytes that are not the program stream this module writes."""


# --- bit layouts -------------------------------------------------------------------------------


def encode_scr(base: int, extension: int = 0) -> bytes:
    """The 6 bytes of a pack header after its start code up to the mux rate: '01', SCR base
    [32..30], marker, [29..15], marker, [14..0], marker, SCR extension (9 bits), marker."""
    base %= TIMESTAMP_MOD
    if not 0 <= extension < 300:
        raise ValueError(f"SCR extension counts 27 MHz ticks within one 90 kHz tick: {extension}")
    bits = (
        (0b01 << 46)
        | ((base >> 30) & 0x7) << 43
        | 1 << 42
        | ((base >> 15) & 0x7FFF) << 27
        | 1 << 26
        | (base & 0x7FFF) << 11
        | 1 << 10
        | extension << 1
        | 1
    )
    return bits.to_bytes(6, "big")


def decode_scr(data: bytes) -> tuple[int, int]:
    """(base, extension) from the 6 SCR bytes of a pack header; checks the marker bits."""
    if len(data) != 6:
        raise PsError(f"SCR field is 6 bytes, got {len(data)}")
    bits = int.from_bytes(data, "big")
    markers = bits >> 42 & 1 and bits >> 26 & 1 and bits >> 10 & 1 and bits & 1
    if bits >> 46 != 0b01 or not markers:
        raise PsError("bad SCR marker bits")
    base = ((bits >> 43) & 0x7) << 30 | ((bits >> 27) & 0x7FFF) << 15 | ((bits >> 11) & 0x7FFF)
    return base, (bits >> 1) & 0x1FF


def encode_timestamp(prefix: int, ts: int) -> bytes:
    """A PES PTS or DTS field: 4-bit prefix, ts[32..30], marker, [29..15], marker, [14..0],
    marker (5 bytes)."""
    ts %= TIMESTAMP_MOD
    bits = (
        (prefix & 0xF) << 36
        | ((ts >> 30) & 0x7) << 33
        | 1 << 32
        | ((ts >> 15) & 0x7FFF) << 17
        | 1 << 16
        | (ts & 0x7FFF) << 1
        | 1
    )
    return bits.to_bytes(5, "big")


def decode_timestamp(data: bytes) -> tuple[int, int]:
    """(prefix, ts) from a 5-byte PTS/DTS field; checks the marker bits."""
    if len(data) != 5:
        raise PsError(f"timestamp field is 5 bytes, got {len(data)}")
    bits = int.from_bytes(data, "big")
    if not (bits >> 32 & 1 and bits >> 16 & 1 and bits & 1):
        raise PsError("bad PTS/DTS marker bits")
    ts = ((bits >> 33) & 0x7) << 30 | ((bits >> 17) & 0x7FFF) << 15 | ((bits >> 1) & 0x7FFF)
    return bits >> 36, ts


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
        table.append(crc & 0xFFFFFFFF)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc32_mpeg2(data: bytes) -> int:
    """CRC-32/MPEG-2 (ISO/IEC 13818-1 Annex A): polynomial 0x04C11DB7, initial 0xFFFFFFFF, no
    reflection, no final XOR. A section followed by its own CRC checks to 0."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC_TABLE[(crc >> 24) ^ byte]
    return crc


# --- headers -----------------------------------------------------------------------------------


def pack_header(scr_base: int, mux_rate: int = DEFAULT_MUX_RATE) -> bytes:
    """A 14-byte MPEG-2 pack header (no stuffing)."""
    if not 0 < mux_rate < 1 << 22:
        raise ValueError(f"program_mux_rate is 22 bits and not 0: {mux_rate}")
    rate = (mux_rate << 2 | 0b11).to_bytes(3, "big")
    return PACK_START + encode_scr(scr_base) + rate + b"\xf8"  # reserved 11111, stuffing 0


def system_header(rate_bound: int = DEFAULT_MUX_RATE) -> bytes:
    """A system header declaring one video stream (0xE0) and no audio."""
    body = (
        (1 << 23 | rate_bound << 1 | 1).to_bytes(3, "big")
        + bytes([0 << 2 | 0 << 1 | 0])  # audio_bound 0, fixed_flag 0, CSPS_flag 0
        + bytes([1 << 7 | 1 << 6 | 1 << 5 | 1])  # audio/video lock, marker, video_bound 1
        + b"\x7f"  # packet_rate_restriction_flag 0, reserved
        + bytes([STREAM_ID_VIDEO])
        + (0b11 << 14 | 1 << 13 | P_STD_BOUND_KB).to_bytes(2, "big")  # scale 1: ×1024 bytes
    )
    return SYSTEM_HEADER_START + struct.pack(">H", len(body)) + body


def program_stream_map(stream_type: int = STREAM_TYPE_H264, version: int = 0) -> bytes:
    """A program stream map: one elementary stream, `stream_type` on stream id 0xE0."""
    entries = bytes([stream_type, STREAM_ID_VIDEO]) + b"\x00\x00"  # no descriptors
    body = (
        bytes([0b111 << 5 | (version & 0x1F)])  # current_next_indicator 1, reserved, version
        + b"\xff"  # reserved, marker
        + b"\x00\x00"  # program_stream_info_length: no descriptors
        + struct.pack(">H", len(entries))
        + entries
    )
    length = len(body) + 4  # the CRC_32 follows
    head = PSM_START + struct.pack(">H", length) + body
    return head + struct.pack(">I", crc32_mpeg2(head))


def pes_header(payload_size: int, pts: int | None, dts: int | None = None) -> bytes:
    """The header of one video PES packet carrying `payload_size` bytes."""
    if pts is None:
        fields, flags = b"", 0
    elif dts is None or dts % TIMESTAMP_MOD == pts % TIMESTAMP_MOD:
        fields, flags = encode_timestamp(_PTS_ONLY, pts), 0b10
    else:
        fields = encode_timestamp(_PTS_WITH_DTS, pts) + encode_timestamp(_DTS, dts)
        flags = 0b11
    length = PES_FIXED_HEADER + len(fields) + payload_size
    if length > MAX_PES_LENGTH:
        raise ValueError(f"PES payload of {payload_size} bytes exceeds PES_packet_length")
    alignment = 1 if pts is not None else 0  # the first PES of an access unit starts it
    return (
        bytes([0, 0, 1, STREAM_ID_VIDEO])
        + struct.pack(">H", length)
        + bytes([0b10 << 6 | alignment << 2, flags << 6, len(fields)])
        + fields
    )


def pes_payload_limit(with_pts: bool, with_dts: bool) -> int:
    """The most payload bytes one PES packet carries with that header."""
    fields = 5 * (with_pts + with_dts)
    return MAX_PES_LENGTH - PES_FIXED_HEADER - fields


def split_access_unit(size: int, first_limit: int, next_limit: int) -> list[tuple[int, int]]:
    """(start, end) of each PES payload for an access unit of `size` bytes: the first holds up
    to `first_limit` bytes (it carries the timestamps), the others up to `next_limit`."""
    if size <= 0:
        return []
    chunks = [(0, min(size, first_limit))]
    while chunks[-1][1] < size:
        start = chunks[-1][1]
        chunks.append((start, min(size, start + next_limit)))
    return chunks


def pes_packets(access_unit: bytes, pts: int, dts: int | None = None) -> list[bytes]:
    """The access unit as PES packets: timestamps on the first, the rest continue it."""
    with_dts = dts is not None and dts % TIMESTAMP_MOD != pts % TIMESTAMP_MOD
    first = pes_payload_limit(True, with_dts)
    view = memoryview(access_unit)
    out: list[bytes] = []
    for index, (start, end) in enumerate(
        split_access_unit(len(access_unit), first, pes_payload_limit(False, False))
    ):
        if index == 0:
            out.append(pes_header(end - start, pts, dts))
        else:
            out.append(pes_header(end - start, None))
        out.append(bytes(view[start:end]))
    return out


def scr_for(pts: int, dts: int | None) -> int:
    """The pack's SCR: the decoding time less the lead, not below 0."""
    decode = pts if dts is None else dts
    return max(0, decode - SCR_LEAD)


def ps_frame(
    access_unit: bytes,
    pts: int,
    dts: int | None = None,
    *,
    keyframe: bool,
    stream_type: int = STREAM_TYPE_H264,
    mux_rate: int = DEFAULT_MUX_RATE,
) -> bytes:
    """One access unit (Annex-B) as a PS frame: pack header, on keyframes the system header
    and program stream map, then the PES packets. `pts`/`dts` are 90 kHz ticks."""
    if not access_unit:
        raise ValueError("empty access unit")
    parts = [pack_header(scr_for(pts, dts), mux_rate)]
    if keyframe:
        parts.append(system_header(mux_rate))
        parts.append(program_stream_map(stream_type))
    parts.extend(pes_packets(access_unit, pts, dts))
    return b"".join(parts)


# --- reading back ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PesPacket:
    stream_id: int
    pts: int | None
    dts: int | None
    payload: bytes


def split_units(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(start code byte, whole unit) for each pack header, system header, map and PES packet
    of a program stream; raises PsError on anything else."""
    pos = 0
    while pos < len(data):
        if data[pos : pos + 3] != b"\x00\x00\x01" or pos + 4 > len(data):
            raise PsError(f"no start code at byte {pos}")
        code = data[pos + 3]
        if code == 0xBA:
            if pos + PACK_HEADER_SIZE > len(data):
                raise PsError(f"truncated pack header at byte {pos}")
            end = pos + PACK_HEADER_SIZE + (data[pos + 13] & 0x7)
        elif code == 0xB9:  # program end code
            end = pos + 4
        elif code >= 0xBB:
            if pos + 6 > len(data):
                raise PsError(f"truncated unit at byte {pos}")
            end = pos + 6 + int.from_bytes(data[pos + 4 : pos + 6], "big")
        else:
            raise PsError(f"unexpected start code 0x{code:02X} at byte {pos}")
        if end > len(data):
            raise PsError(f"unit 0x{code:02X} at byte {pos} runs past the end")
        yield code, data[pos:end]
        pos = end


def parse_pack_header(unit: bytes) -> tuple[int, int]:
    """(SCR base, program_mux_rate) of a pack header."""
    if not unit.startswith(PACK_START) or len(unit) < PACK_HEADER_SIZE:
        raise PsError("not a pack header")
    base, _ = decode_scr(unit[4:10])
    rate = int.from_bytes(unit[10:13], "big")
    if rate & 0b11 != 0b11:
        raise PsError("bad mux rate marker bits")
    return base, rate >> 2


def parse_pes(unit: bytes) -> PesPacket:
    """Timestamps and payload of one PES packet (MPEG-2 header)."""
    if len(unit) < 9 or unit[:3] != b"\x00\x00\x01":
        raise PsError("not a PES packet")
    if unit[6] >> 6 != 0b10:
        raise PsError("not an MPEG-2 PES header")
    flags = unit[7] >> 6
    header_end = 9 + unit[8]
    pts = dts = None
    if flags & 0b10:
        _, pts = decode_timestamp(unit[9:14])
    if flags == 0b11:
        _, dts = decode_timestamp(unit[14:19])
    return PesPacket(unit[3], pts, dts, unit[header_end:])


def stream_types(psm: bytes) -> dict[int, int]:
    """{elementary stream id: stream_type} of a program stream map whose CRC checks."""
    if not psm.startswith(PSM_START):
        raise PsError("not a program stream map")
    if crc32_mpeg2(psm) != 0:
        raise PsError("program stream map CRC_32 does not check")
    info_length = int.from_bytes(psm[8:10], "big")
    pos = 10 + info_length
    map_end = pos + 2 + int.from_bytes(psm[pos : pos + 2], "big")
    pos += 2
    found: dict[int, int] = {}
    while pos < map_end:
        found[psm[pos + 1]] = psm[pos]
        pos += 4 + int.from_bytes(psm[pos + 2 : pos + 4], "big")
    return found
