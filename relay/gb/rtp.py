"""RTP (RFC 3550) packets of PS frames, and the UDP / TCP (RFC 4571) senders GB/T 28181 uses.

Each PS frame (one H.264 access unit, relay.gb.ps) is cut into RTP packets: version 2, the
payload type the platform offered (96 for PS), one 90 kHz timestamp per frame, the marker bit
on the frame's last packet, sequence numbers wrapping at 2^16, the SSRC from the SDP's y= line.

Transports (GB/T 28181-2016 §4.3.3 and Annex C; the 2022 edition spells out TCP roles):

  UDP       we send from our bound port (the one our 200 OK named) to the offer's c=/m= address.
            The socket is connected, so an ICMP "port unreachable" from the platform surfaces as
            ConnectionRefusedError on a later send. (Handing a frame's packets to the kernel in
            one call with Linux UDP GSO was tried: no gain measurable in bench/relay_gb.py, the
            sends are a small part of a session's CPU.)
  TCP       RFC 4571 framing: a 2-byte big-endian length before each RTP packet. RFC 4145 roles:
            the offer's a=setup:passive means the platform listens and we connect to it from our
            bound port (our answer says active); a=setup:active means the platform connects to
            the port we listen on (our answer says passive).

`RtpPacketizer` and the framing functions are pure; the senders do the socket work.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import select
import socket
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

log = logging.getLogger(__name__)

RTP_VERSION = 2
RTP_HEADER_SIZE = 12
MAX_UDP_PAYLOAD = 1400  # RTP payload per packet: stays below a 1500-byte Ethernet MTU
SEQ_MOD = 1 << 16
TS_MOD = 1 << 32
SOCKET_BUFFER = 1 << 20  # a 1080p keyframe is a burst of a few hundred packets

_HEADER = struct.Struct(">BBHII")
_LENGTH = struct.Struct(">H")


class PeerGone(Exception):
    """The platform ended the media connection (TCP closed or reset, UDP port unreachable)."""


@dataclass(frozen=True, slots=True)
class RtpPacket:
    version: int
    marker: bool
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes


def rtp_header(payload_type: int, sequence: int, timestamp: int, ssrc: int, marker: bool) -> bytes:
    """A 12-byte RTP header: V=2, no padding, no extension, no CSRC."""
    second = (0x80 if marker else 0) | (payload_type & 0x7F)
    return _HEADER.pack(
        RTP_VERSION << 6, second, sequence % SEQ_MOD, timestamp % TS_MOD, ssrc & 0xFFFFFFFF
    )


def parse_rtp(packet: bytes) -> RtpPacket:
    """The fixed header and payload of an RTP packet (CSRCs and extension skipped)."""
    if len(packet) < RTP_HEADER_SIZE:
        raise ValueError(f"RTP packet of {len(packet)} bytes is shorter than its header")
    first, second, sequence, timestamp, ssrc = _HEADER.unpack_from(packet)
    start = RTP_HEADER_SIZE + 4 * (first & 0x0F)
    if first & 0x10:  # header extension: 4-byte head, then `length` 32-bit words
        start += 4 + 4 * int.from_bytes(packet[start + 2 : start + 4], "big")
    end = len(packet) - (packet[-1] if first & 0x20 else 0)
    return RtpPacket(
        first >> 6, bool(second & 0x80), second & 0x7F, sequence, timestamp, ssrc,
        packet[start:end],
    )  # fmt: skip


def chunk_bounds(size: int, max_payload: int) -> list[tuple[int, int]]:
    """(start, end) of each RTP payload for a frame of `size` bytes."""
    if max_payload <= 0:
        raise ValueError("max_payload must be positive")
    return [(start, min(size, start + max_payload)) for start in range(0, size, max_payload)]


class RtpPacketizer:
    """Cuts frames into RTP packets of one stream (one SSRC, one running sequence)."""

    def __init__(
        self, payload_type: int, ssrc: int, *, sequence: int = 0, max_payload: int = MAX_UDP_PAYLOAD
    ) -> None:
        if not 0 <= payload_type < 128:
            raise ValueError(f"RTP payload type is 7 bits: {payload_type}")
        self.payload_type = payload_type
        self.ssrc = ssrc & 0xFFFFFFFF
        self.sequence = sequence % SEQ_MOD  # the next packet's
        self.max_payload = max_payload

    def packets(self, frame: bytes, timestamp: int) -> list[tuple[bytes, memoryview]]:
        """(header, payload) per packet of `frame`; the marker is on the last."""
        view = memoryview(frame)
        bounds = chunk_bounds(len(frame), self.max_payload)
        out = []
        for index, (start, end) in enumerate(bounds):
            marker = index == len(bounds) - 1
            header = rtp_header(self.payload_type, self.sequence, timestamp, self.ssrc, marker)
            self.sequence = (self.sequence + 1) % SEQ_MOD
            out.append((header, view[start:end]))
        return out


def frame_4571(packets: Sequence[tuple[bytes, memoryview]]) -> bytes:
    """RTP packets as one TCP write, each behind its RFC 4571 2-byte length."""
    parts: list[bytes | memoryview] = []
    for header, payload in packets:
        parts.append(_LENGTH.pack(len(header) + len(payload)))
        parts.append(header)
        parts.append(payload)
    return b"".join(parts)


def split_4571(buffer: bytearray) -> Iterator[bytes]:
    """Complete RFC 4571 frames from the front of `buffer`, removed from it as they are read."""
    pos = 0
    while len(buffer) - pos >= 2:
        length = _LENGTH.unpack_from(buffer, pos)[0]
        if len(buffer) - pos - 2 < length:
            break
        yield bytes(buffer[pos + 2 : pos + 2 + length])
        pos += 2 + length
    del buffer[:pos]


# --- senders -----------------------------------------------------------------------------------


class Sender(Protocol):
    transport: Literal["udp", "tcp"]
    local_port: int

    def connect(self, timeout: float) -> None:
        """Make the media connection (TCP connect or accept; UDP: address the platform)."""

    def send(self, packets: Sequence[tuple[bytes, memoryview]]) -> int:
        """Send one frame's packets; the bytes sent. Raises PeerGone or OSError."""

    def close(self) -> None:
        """Release the sockets; a blocked connect/accept/send returns (idempotent)."""


def _bind(kind: socket.SocketKind, local_ip: str) -> socket.socket:
    """A socket on a free port of `local_ip`; on any address when `local_ip` is not one of
    ours (the address the platform sees, behind NAT), since only the port has to match."""
    sock = socket.socket(socket.AF_INET, kind)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER)
        try:
            sock.bind((local_ip, 0))
        except OSError as error:
            if error.errno != errno.EADDRNOTAVAIL:
                raise
            log.info("media address %s is not local: binding on all addresses", local_ip)
            sock.bind(("0.0.0.0", 0))
    except OSError:
        sock.close()
        raise
    return sock


class UdpSender:
    """RTP over UDP from a bound port to the platform's address."""

    transport: Literal["udp", "tcp"] = "udp"

    def __init__(self, local_ip: str, remote: tuple[str, int]) -> None:
        self.remote = remote
        self._sock = _bind(socket.SOCK_DGRAM, local_ip)
        self.local_port: int = self._sock.getsockname()[1]

    def connect(self, timeout: float) -> None:
        self._sock.connect(self.remote)  # UDP: no packet sent, but ICMP errors now reach us

    def send(self, packets: Sequence[tuple[bytes, memoryview]]) -> int:
        sent = 0
        try:
            for header, payload in packets:
                sent += self._sock.sendmsg((header, payload))
        except ConnectionRefusedError as error:
            raise PeerGone("the platform's UDP port is unreachable (ICMP refused)") from error
        return sent

    def close(self) -> None:
        self._sock.close()


class _TcpSender:
    """RTP over TCP with RFC 4571 framing, once a connection stands."""

    transport: Literal["udp", "tcp"] = "tcp"
    local_port: int

    def __init__(self) -> None:
        self._conn: socket.socket | None = None
        self._closed = False

    def send(self, packets: Sequence[tuple[bytes, memoryview]]) -> int:
        conn = self._conn
        if conn is None:
            raise PeerGone("no TCP connection")
        self._check_open(conn)
        data = frame_4571(packets)
        try:
            conn.sendall(data)
        except (BrokenPipeError, ConnectionResetError) as error:
            raise PeerGone("the platform closed the TCP connection") from error
        return len(data)

    @staticmethod
    def _check_open(conn: socket.socket) -> None:
        """A platform that closed the connection shows as readable with nothing to read: notice
        it now rather than a frame or two later, when the send fails. Anything it does send (an
        RTCP report) is read and ignored."""
        while select.select([conn], [], [], 0)[0]:
            try:
                data = conn.recv(65536, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            except ConnectionResetError as error:
                raise PeerGone("the platform reset the TCP connection") from error
            if not data:
                raise PeerGone("the platform closed the TCP connection")

    def _configure(self, conn: socket.socket, timeout: float) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER)
        conn.settimeout(timeout)  # a platform that stops reading fails the send, not hangs it

    def _close_conn(self) -> None:
        self._closed = True
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)  # wakes a send blocked in another thread
            conn.close()


class TcpActiveSender(_TcpSender):
    """We connect to the platform (it said a=setup:passive), from the port our answer named."""

    def __init__(self, local_ip: str, remote: tuple[str, int], send_timeout: float = 10.0) -> None:
        super().__init__()
        self.remote = remote
        self.send_timeout = send_timeout
        self._sock = _bind(socket.SOCK_STREAM, local_ip)
        self.local_port = self._sock.getsockname()[1]

    def connect(self, timeout: float) -> None:
        sock = self._sock
        sock.settimeout(timeout)
        try:
            sock.connect(self.remote)
        except OSError as error:
            if self._closed:
                raise PeerGone("stopped before the TCP connection was made") from error
            raise
        self._configure(sock, self.send_timeout)
        self._conn = sock

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes a connect in another thread
        self._close_conn()
        self._sock.close()


class TcpPassiveSender(_TcpSender):
    """The platform connects to us (it said a=setup:active): we listen on our answer's port."""

    def __init__(self, local_ip: str, send_timeout: float = 10.0) -> None:
        super().__init__()
        self.send_timeout = send_timeout
        self._listener = _bind(socket.SOCK_STREAM, local_ip)
        self._listener.listen(1)
        self.local_port = self._listener.getsockname()[1]
        self.peer: tuple[str, int] | None = None

    def connect(self, timeout: float) -> None:
        self._listener.settimeout(timeout)
        try:
            conn, self.peer = self._listener.accept()
        except TimeoutError:
            raise
        except OSError as error:
            if self._closed:
                raise PeerGone("stopped before the platform connected") from error
            raise
        finally:
            with contextlib.suppress(OSError):
                self._listener.close()  # one connection per session
        if self._closed:
            conn.close()
            raise PeerGone("stopped before the platform connected")
        self._configure(conn, self.send_timeout)
        self._conn = conn

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes an accept in another thread
        self._listener.close()
        self._close_conn()
