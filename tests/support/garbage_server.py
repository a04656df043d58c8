"""A misbehaving "camera" on 127.0.0.1 for fault-injection tests of the RTSP client.

Each accepted connection is handled in its own daemon thread according to ``mode``:

* ``Mode.RANDOM``: sends a few KiB of random bytes at once, then closes;
* ``Mode.HTTP_400``: reads the request, answers ``HTTP/1.1 400 Bad Request``, closes;
* ``Mode.SILENT``: reads whatever comes and never answers (until the server stops);
* ``Mode.BAD_SDP``: answers RTSP OPTIONS properly and DESCRIBE with a malformed SDP body,
  any other method with ``455 Method Not Valid in This State``;
* ``Mode.NO_VIDEO``: a well-formed RTSP exchange whose SDP has an audio stream only (an NVR
  channel without a camera): every request gets ``200 OK``, so the client opens a container
  without any video stream, and no media ever comes.

Every accepted connection is timestamped (``time.monotonic()``) in :attr:`connections`, and
every request line received is kept in :attr:`requests`, so a test can see how often and when
a client retried::

    with GarbageServer(Mode.SILENT) as server:
        reader = CameraReader("cam", parse_source(server.url("/cam")))
"""

from __future__ import annotations

import contextlib
import random
import socket
import threading
import time
from enum import StrEnum
from types import TracebackType

HOST = "127.0.0.1"
_POLL_S = 0.1  # how often blocked sockets look at the stop flag

# An SDP that a parser can read line by line but that describes no usable stream: the media
# line has no valid port or format, the rtpmap names no codec, the origin is truncated.
MALFORMED_SDP = (
    "v=0\r\n"
    "o=- x\r\n"
    "s\r\n"
    "c=IN IP4\r\n"
    "m=video notaport RTP/AVP\r\n"
    "a=rtpmap:garbage\r\n"
    "a=control:\x00\x01\r\n"
)
AUDIO_ONLY_SDP = (
    "v=0\r\n"
    "o=- 0 0 IN IP4 127.0.0.1\r\n"
    "s=audio only\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "t=0 0\r\n"
    "m=audio 0 RTP/AVP 0\r\n"
    "a=control:trackID=1\r\n"
)


class Mode(StrEnum):
    RANDOM = "random"
    HTTP_400 = "http-400"
    SILENT = "silent"
    BAD_SDP = "bad-sdp"
    NO_VIDEO = "no-video"


class GarbageServer:
    """A TCP server on 127.0.0.1 that misbehaves in one way (see the module docstring)."""

    def __init__(self, mode: Mode, port: int = 0, *, seed: int = 1234) -> None:
        self.mode = mode
        self._requested_port = port
        self.port = port
        self.connections: list[float] = []  # monotonic accept times
        self.requests: list[str] = []  # request lines ("DESCRIBE rtsp://… RTSP/1.0")
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []

    # --- control ----------------------------------------------------------------------------

    def start(self) -> GarbageServer:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((HOST, self._requested_port))
        listener.listen(16)
        listener.settimeout(_POLL_S)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._stop.clear()
        accept = threading.Thread(target=self._accept_loop, name="garbage-accept", daemon=True)
        self._threads = [accept]
        accept.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in list(self._threads):
            thread.join(timeout=2)
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def __enter__(self) -> GarbageServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def url(self, path: str = "/cam", userinfo: str | None = None) -> str:
        auth = f"{userinfo}@" if userinfo else ""
        return f"rtsp://{auth}{HOST}:{self.port}{path}"

    @property
    def connection_count(self) -> int:
        with self._lock:
            return len(self.connections)

    # --- serving ----------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections.append(time.monotonic())
            handler = threading.Thread(target=self._serve, args=(conn,), daemon=True,
                                       name="garbage-conn")  # fmt: skip
            self._threads.append(handler)
            handler.start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(_POLL_S)
        try:
            if self.mode is Mode.RANDOM:
                with self._lock:
                    junk = self._random.randbytes(4096)
                conn.sendall(junk)
            elif self.mode is Mode.HTTP_400:
                self._read_request(conn, deadline=time.monotonic() + 2)
                conn.sendall(
                    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
                    b"Content-Length: 11\r\nConnection: close\r\n\r\nBad Request"
                )
            elif self.mode is Mode.SILENT:
                while not self._stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        if not conn.recv(4096):
                            break  # the client gave up
            else:
                self._serve_rtsp(conn)
        except OSError:
            pass  # the client went away: that is its business
        finally:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def _read_request(self, conn: socket.socket, deadline: float) -> dict[str, str] | None:
        """One request's headers (request line under ""), None at EOF, stop or deadline."""
        data = b""
        while b"\r\n\r\n" not in data:
            if self._stop.is_set() or time.monotonic() > deadline:
                return None
            try:
                chunk = conn.recv(4096)
            except TimeoutError:
                continue
            if not chunk:
                return None
            data += chunk
        head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        lines = head.split("\r\n")
        with self._lock:
            self.requests.append(lines[0])
        headers = {"": lines[0]}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return headers

    def _serve_rtsp(self, conn: socket.socket) -> None:
        deadline = time.monotonic() + 10  # a client that keeps the connection gets 10 s
        while True:
            request = self._read_request(conn, deadline)
            if request is None:
                return
            method = request[""].split(" ", 1)[0]
            cseq = request.get("cseq", "0")
            if method == "OPTIONS":
                reply = (
                    f"RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\n"
                    "Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\n\r\n"
                ).encode()
            elif method == "DESCRIBE":
                sdp = AUDIO_ONLY_SDP if self.mode is Mode.NO_VIDEO else MALFORMED_SDP
                body = sdp.encode("latin-1")
                reply = (
                    f"RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nContent-Type: application/sdp\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n"
                ).encode() + body
            elif self.mode is Mode.NO_VIDEO:
                reply = f"RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nSession: 12345678\r\n\r\n".encode()
            else:
                reply = (
                    f"RTSP/1.0 455 Method Not Valid in This State\r\nCSeq: {cseq}\r\n\r\n".encode()
                )
            conn.sendall(reply)
