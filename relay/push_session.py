"""One upstream session of a push, from the camera process's side.

The session starts a child process (relay/push_child.py) that connects to the upstream and
muxes to it with PyAV, and feeds it the camera's packets through a pipe (stream copy: the
packet bytes pass untouched; the codec parameters go first, as a small NUT file). Why a child:
PyAV holds the GIL while it opens and closes a network output, so a hung upstream would freeze
the whole camera process (PyAV issue #2400); here it can only hang the child, which is then
killed.

Nothing here blocks for long: pipe writes wait at most `stall_timeout_s` for the child to take
data (an upstream that stopped reading fills the pipe, the write times out, the session fails);
the child's events are read without blocking; closing waits a bounded time, then kills. Each
packet costs one writev() of a small frame header and the packet's own buffer, no copy.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import select
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av

from ingest.packets import PacketItem, copy_packet
from relay.push_plan import OutputPlan, Rebaser

CHILD = Path(__file__).with_name("push_child.py")
PIPE_BYTES = 1 << 20  # about 2 s of a 4 Mbit/s stream while the child connects
FRAME = struct.Struct(">IqqB")  # size, pts, dts, flags: relay/push_child.py reads the same
LENGTH = struct.Struct(">I")
KEYFRAME = 1
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


class SessionError(Exception):
    """The upstream session failed; the message may name the URL (redact before showing)."""


class _PipeWriter:
    """Writes to the child's stdin; waits at most `timeout_s` for room in the pipe."""

    def __init__(self, fd: int, timeout_s: float) -> None:
        self.fd = fd
        self.timeout_s = timeout_s
        os.set_blocking(fd, False)

    def write(self, *parts: Any) -> None:
        """Write all of `parts` (bytes-like: bytes, av.Packet), in order."""
        views = [memoryview(part) for part in parts]
        deadline = time.monotonic() + self.timeout_s
        while views:
            try:
                written = os.writev(self.fd, views)
            except BlockingIOError:
                written = 0
            while written and views:  # drop what went out
                if written >= len(views[0]):
                    written -= len(views[0])
                    views.pop(0)
                else:
                    views[0] = views[0][written:]
                    written = 0
            if not views:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"the upstream took no data for {self.timeout_s:g} s")
            select.select([], [self.fd], [], remaining)


@dataclass(slots=True)
class _Events:
    """The child's JSON lines, read without blocking."""

    fd: int
    buffer: bytes = b""
    error: str | None = None
    pushing: bool = False
    closed: bool = field(default=False)  # its stdout ended

    def poll(self) -> None:
        while not self.closed:
            try:
                chunk = os.read(self.fd, 4096)
            except BlockingIOError:
                return
            if not chunk:
                self.closed = True
            self.buffer += chunk
            *lines, self.buffer = self.buffer.split(b"\n")
            for line in lines:
                self._take(line)

    def _take(self, line: bytes) -> None:
        try:
            event = json.loads(line)
        except ValueError:
            return
        if event.get("event") == "pushing":
            self.pushing = True
        elif event.get("event") == "error":
            self.error = str(event.get("error"))


class UpstreamSession:
    """A child connected (or connecting) to the upstream, fed from this process; `send` the
    first keyframe, then the packets that follow it."""

    def __init__(
        self,
        url: str,
        plan: OutputPlan,
        first: PacketItem,
        rebaser: Rebaser,
        *,
        stall_timeout_s: float = 10.0,
        open_timeout_s: float = 10.0,
        pipe_bytes: int = PIPE_BYTES,
    ) -> None:
        self.camera_session = first.info.session
        self.rebaser = rebaser
        self.open_timeout_s = open_timeout_s
        self.started_at = time.monotonic()
        self.pushing_since: float | None = None  # monotonic time the child said "pushing"
        self.resync = False  # packets were dropped: wait for the next keyframe
        self._child = subprocess.Popen(
            [sys.executable, str(CHILD)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            close_fds=True,
        )  # fmt: skip
        assert self._child.stdin is not None and self._child.stdout is not None
        self._stdin = self._child.stdin
        self._events = _Events(self._child.stdout.fileno())
        os.set_blocking(self._events.fd, False)
        with contextlib.suppress(OSError):
            fcntl.fcntl(self._stdin.fileno(), _F_SETPIPE_SZ, pipe_bytes)
        self._writer = _PipeWriter(self._stdin.fileno(), stall_timeout_s)
        time_base = first.info.time_base
        try:
            header = json.dumps({
                "url": url, "format": plan.format, "options": plan.options,
                "time_base": [time_base.numerator, time_base.denominator],
            }).encode()  # fmt: skip
            description = _description(first)
            self._writer.write(LENGTH.pack(len(header)), header,
                               LENGTH.pack(len(description)), description)  # fmt: skip
        except BaseException:
            self.kill()
            raise

    @property
    def pid(self) -> int:
        return self._child.pid

    def send(self, item: PacketItem) -> int:
        """Hand one packet to the child (timestamps rebased); returns its size in bytes."""
        source = item.packet  # one camera session: one stream, one time base
        pts, dts = self.rebaser.place(source.pts, source.dts)
        size = int(source.size)
        head = FRAME.pack(size, pts, dts, KEYFRAME if item.keyframe else 0)
        try:
            self._writer.write(head, source)
        except OSError as error:
            raise SessionError(self._reason(error)) from error
        return size

    def check(self) -> bool:
        """Read the child's news; True once it pushes. Raises SessionError when it failed, or
        took longer than the open timeout to connect."""
        self._events.poll()
        if self.pushing_since is None and self._events.pushing:
            self.pushing_since = time.monotonic()
        status = self._child.poll()
        if status is not None:
            self._events.poll()
            raise SessionError(self._events.error or f"the push process ended ({status})")
        waited = time.monotonic() - self.started_at
        if self.pushing_since is None and waited > self.open_timeout_s:
            raise SessionError(f"the upstream did not answer within {self.open_timeout_s:g} s")
        return self.pushing_since is not None

    def close(self, timeout_s: float = 5.0) -> None:
        """End the session: the child closes the upstream (trailer, TEARDOWN) and exits; it is
        killed if it takes longer than `timeout_s`."""
        with contextlib.suppress(OSError):
            self._stdin.close()
        try:
            self._child.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
        self._release()

    def kill(self) -> None:
        if self._child.poll() is None:
            self._child.kill()
            self._child.wait(5)
        with contextlib.suppress(OSError):
            self._stdin.close()
        self._release()

    def _release(self) -> None:
        with contextlib.suppress(OSError):
            assert self._child.stdout is not None
            self._child.stdout.close()

    def _reason(self, error: BaseException) -> str:
        """Why a write failed: the child's own error when it died of one."""
        if isinstance(error, TimeoutError):
            return str(error)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._child.wait(1.0)  # a broken pipe: the child is exiting, let it say why
        self._events.poll()
        return self._events.error or f"{type(error).__name__}: {error}"


def _description(first: PacketItem) -> bytes:
    """A NUT file with the stream's codec parameters and its first packet, the keyframe. The
    child takes its template stream from it; FFmpeg's probe of that keyframe also fills in the
    extradata when the camera's stream came without any, so that the FLV sequence header and
    the SDP's sprop-parameter-sets are complete from the start."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="nut") as container:
        stream = container.add_stream_from_template(first.info.template)
        packet = copy_packet(first)
        packet.pts = packet.dts = 0
        packet.stream = stream
        container.mux(packet)
    return buffer.getvalue()
