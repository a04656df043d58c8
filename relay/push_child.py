"""The process that talks to the upstream server for one push session (see relay/push.py).

PyAV opens an output container (connect, RTMP handshake, RTSP ANNOUNCE/SETUP/RECORD) and closes
it (trailer, TEARDOWN) while holding the GIL: an upstream that hangs there would freeze every
thread of the process that calls it, camera readers included (PyAV issue #2400). So the network
side of a push runs here, in a child process of its own, and the camera's process only writes a
pipe.

Protocol, on the child's stdin: a 4-byte big-endian length and that many bytes of JSON
({"url", "format", "options"}: the URL stays off the command line, where `ps` would show its
credentials), then a NUT stream holding the video stream as is (codec parameters in its header,
packets untouched, timestamps already rebased by the parent). Every packet is muxed to the URL
unchanged, by stream copy. On stdout, one JSON object per line: {"event": "pushing"} once the
first packet went out (connected, header written), {"event": "error", "error": "..."} when
something failed (the parent redacts the text; the child logs nothing). The child exits at the
end of its input (0, after closing the output) or at the first error (1).

This file is run as a script by path, so it imports nothing from the project.
"""

from __future__ import annotations

import json
import os
import struct
import sys
from typing import Any

import av

HEADER_LIMIT = 64 * 1024
INPUT_OPTIONS = {"probesize": "32", "analyzeduration": "0"}  # NUT carries the parameters


class _Stdin:
    """Unbuffered reads of fd 0 for PyAV (a buffered reader would keep bytes from it)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def read(self, size: int) -> bytes:
        return os.read(self.fd, size)


def read_exactly(fd: int, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            raise EOFError("input ended inside the header")
        data += chunk
    return data


def read_header(fd: int) -> dict[str, Any]:
    (size,) = struct.unpack(">I", read_exactly(fd, 4))
    if size > HEADER_LIMIT:
        raise ValueError("header too long")
    header: dict[str, Any] = json.loads(read_exactly(fd, size))
    return header


def emit(event: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def push(header: dict[str, Any], fd: int) -> None:
    source = av.open(_Stdin(fd), "r", format="nut", options=dict(INPUT_OPTIONS))
    try:
        video = source.streams.video[0]
        output = av.open(header["url"], "w", format=header["format"],
                         options=dict(header.get("options", {})))  # fmt: skip
        try:
            stream = output.add_stream_from_template(video)
            announced = False
            for packet in source.demux(video):
                if packet.size == 0:
                    continue  # the demuxer's end-of-stream marker
                packet.stream = stream
                output.mux(packet)
                if not announced:
                    emit("pushing")
                    announced = True
        finally:
            output.close()
    finally:
        source.close()


def main() -> int:
    try:
        push(read_header(0), 0)
    except Exception as error:  # reported to the parent, which redacts and logs it
        emit("error", error=f"{type(error).__name__}: {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
