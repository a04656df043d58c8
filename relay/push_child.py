"""The process that talks to the upstream server for one push session (see relay/push.py).

PyAV opens an output container (connect, RTMP handshake, RTSP ANNOUNCE/SETUP/RECORD) and closes
it (trailer, TEARDOWN) while holding the GIL: an upstream that hangs there would freeze every
thread of the process that calls it, camera readers included (PyAV issue #2400). So the network
side of a push runs here, in a child process of its own, and the camera's process only writes a
pipe.

On stdin (all lengths and numbers big-endian):

* u32 length + JSON {"url", "format", "options", "time_base": [num, den]}: the URL travels
  here, not on the command line, where `ps` would show its credentials;
* u32 length + a small NUT file holding the video stream and its first packet: the codec
  parameters to mux with (`add_stream_from_template`);
* then one frame per packet: u32 size, i64 pts, i64 dts, u8 flags (1: keyframe), the packet's
  bytes as the camera sent them. Timestamps are already rebased by the parent.

Every packet is muxed to the URL unchanged (stream copy). On stdout, one JSON object per line:
{"event": "pushing"} once the first packet went out (connected, header written), and
{"event": "error", "error": "..."} when something failed (the parent redacts the text; the
child logs nothing). The child exits at the end of its input (0, after closing the output) or
at the first error (1).

This file is run as a script by path, so it imports nothing from the project.
"""

from __future__ import annotations

import io
import json
import struct
import sys
from fractions import Fraction
from typing import Any, BinaryIO

import av

FRAME = struct.Struct(">IqqB")
LENGTH = struct.Struct(">I")
BLOB_LIMIT = 16 << 20
KEYFRAME = 1


def read_exactly(source: BinaryIO, size: int) -> bytes:
    data = source.read(size)
    if len(data) != size:
        raise EOFError("input ended")
    return data


def read_blob(source: BinaryIO) -> bytes:
    (size,) = LENGTH.unpack(read_exactly(source, LENGTH.size))
    if size > BLOB_LIMIT:
        raise ValueError("input blob too large")
    return read_exactly(source, size)


def emit(event: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def push(source: BinaryIO) -> None:
    header = json.loads(read_blob(source))
    time_base = Fraction(*header["time_base"])
    with av.open(io.BytesIO(read_blob(source)), "r", format="nut") as description:
        output = av.open(header["url"], "w", format=header["format"],
                         options=dict(header.get("options", {})))  # fmt: skip
        try:
            stream = output.add_stream_from_template(description.streams.video[0])
            announced = False
            while True:
                head = source.read(FRAME.size)
                if not head:
                    break  # the parent ended the session
                if len(head) != FRAME.size:
                    raise EOFError("input ended inside a frame")
                size, pts, dts, flags = FRAME.unpack(head)
                packet = av.Packet(read_exactly(source, size))
                packet.pts, packet.dts, packet.time_base = pts, dts, time_base
                packet.is_keyframe = bool(flags & KEYFRAME)
                packet.stream = stream
                output.mux(packet)
                if not announced:
                    emit("pushing")
                    announced = True
        finally:
            output.close()


def main() -> int:
    try:
        push(open(0, "rb", buffering=1 << 20, closefd=False))  # noqa: SIM115
    except Exception as error:  # reported to the parent, which redacts and logs it
        emit("error", error=f"{type(error).__name__}: {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
