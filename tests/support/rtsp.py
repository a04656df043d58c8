"""Start/stop the GStreamer RTSP test server (``gst_rtsp_server.py``) from the test venv.

The server needs GStreamer's RTSP server through PyGObject, which lives in Debian's own
interpreter (``/usr/bin/python3``, packages listed in ``.ci/apt-packages.txt``), not in the
project venv, so it runs as a subprocess::

    with RtspServer({"/cam": clip}) as server:
        container = av.open(server.url("/cam"), options={"rtsp_transport": "tcp"})
"""

from __future__ import annotations

import contextlib
import functools
import os
import queue
import signal
import subprocess
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import pytest

from tests.support.net import HOST, free_port

SYSTEM_PYTHON = Path("/usr/bin/python3")
SERVER_SCRIPT = Path(__file__).with_name("gst_rtsp_server.py")
READY_TIMEOUT = 15.0
_EXIT_CANNOT_LISTEN = 3  # gst_rtsp_server.py's exit status when the port is taken

_PROBE = """
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstApp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gst, GstApp, GstRtspServer
Gst.init(None)
needed = ("filesrc", "qtdemux", "h264parse", "h265parse", "capsfilter", "appsink", "appsrc",
          "rtph264pay", "rtph265pay", "rtpbin", "udpsrc", "multiudpsink")
print(" ".join(name for name in needed if Gst.ElementFactory.find(name) is None))
"""


@functools.cache
def rtsp_server_available() -> str | None:
    """Return None if the RTSP test server can run here, else the reason why not."""
    hint = "install the Debian packages in .ci/apt-packages.txt"
    if not SYSTEM_PYTHON.exists():
        return f"{SYSTEM_PYTHON} not found ({hint})"
    try:
        proc = subprocess.run(
            [str(SYSTEM_PYTHON), "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=60,  # the first run builds GStreamer's plugin registry
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run {SYSTEM_PYTHON}: {exc}"
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        last = lines[-1] if lines else f"exit status {proc.returncode}"
        return f"GStreamer RTSP server unusable from {SYSTEM_PYTHON}: {last} ({hint})"
    missing = proc.stdout.strip()
    if missing:
        return f"GStreamer elements missing: {missing} ({hint})"
    return None


def require_rtsp_server() -> None:
    """Skip the calling test if the RTSP server is unavailable; fail instead when $CI is set."""
    reason = rtsp_server_available()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"RTSP test server required in CI: {reason}", pytrace=False)
    pytest.skip(reason)


class RtspServerError(RuntimeError):
    """The RTSP test server did not start."""


class RtspServer:
    """A GStreamer RTSP server subprocess serving looping MP4 files on 127.0.0.1.

    ``mounts`` maps a mount path ("/cam1") to an H.264 or H.265 MP4 file. The port is picked
    once (free port unless given) and kept across :meth:`stop` / :meth:`start`, so a client can
    reconnect to the same URL after a restart.
    """

    def __init__(
        self,
        mounts: Mapping[str, Path],
        port: int | None = None,
        *,
        ready_timeout: float = READY_TIMEOUT,
    ) -> None:
        if not mounts:
            raise ValueError("at least one mount is required")
        self.mounts: dict[str, Path] = {
            self._mount_path(mount): Path(path) for mount, path in mounts.items()
        }
        for path in self.mounts.values():
            if not path.is_file():
                raise FileNotFoundError(path)
        self._fixed_port = port is not None
        self.port: int = port if port is not None else free_port()
        self.ready_timeout = ready_timeout
        self._proc: subprocess.Popen[str] | None = None
        self._threads: list[threading.Thread] = []
        self._stderr: deque[str] = deque(maxlen=50)

    @staticmethod
    def _mount_path(mount: str) -> str:
        return mount if mount.startswith("/") else f"/{mount}"

    def url(self, mount: str) -> str:
        """rtsp:// URL of ``mount`` (with or without the leading slash)."""
        path = self._mount_path(mount)
        if path not in self.mounts:
            raise KeyError(f"unknown mount {mount!r}; have {sorted(self.mounts)}")
        return f"rtsp://{HOST}:{self.port}{path}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def stderr_tail(self) -> str:
        """Last lines the server wrote to stderr (for error messages)."""
        return "".join(self._stderr)

    def start(self) -> RtspServer:
        """Start the server and wait until it listens. Reuses the same port after stop()."""
        if self.running:
            return self
        reason = rtsp_server_available()
        if reason is not None:
            raise RtspServerError(reason)
        attempts = 1 if self._fixed_port else 3
        for attempt in range(attempts):
            status = self._launch()
            if status is None:
                return self
            if status != _EXIT_CANNOT_LISTEN or attempt == attempts - 1:
                raise RtspServerError(
                    f"RTSP server on port {self.port} exited with status {status}:\n"
                    f"{self.stderr_tail}"
                )
            self.port = free_port()  # lost the race for the picked port: try another
        raise AssertionError("unreachable")

    def _launch(self) -> int | None:
        """Run the server; None once READY, else its exit status."""
        cmd = [str(SYSTEM_PYTHON), str(SERVER_SCRIPT), "--port", str(self.port), "--watch-stdin"]
        for mount, path in self.mounts.items():
            cmd += ["--mount", f"{mount}={path}"]
        self._stderr.clear()
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,  # closed by us or by our death => the server exits
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        assert proc.stdout is not None and proc.stderr is not None
        self._proc = proc
        lines: queue.Queue[str | None] = queue.Queue()
        self._threads = [
            threading.Thread(target=self._pump, args=(proc.stdout, lines), daemon=True),
            threading.Thread(target=self._pump, args=(proc.stderr, None), daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        try:
            while True:
                line = lines.get(timeout=self.ready_timeout)
                if line is None:  # stdout closed: the server exited
                    return self._reap()
                if line.strip() == "READY":
                    return None
        except queue.Empty:
            self._terminate()
            raise RtspServerError(
                f"RTSP server not READY within {self.ready_timeout} s:\n{self.stderr_tail}"
            ) from None

    def _pump(self, stream: IO[str], lines: queue.Queue[str | None] | None) -> None:
        for line in iter(stream.readline, ""):
            if lines is not None:
                lines.put(line)
            else:
                self._stderr.append(line)
        if lines is not None:
            lines.put(None)

    def _reap(self) -> int:
        assert self._proc is not None
        status = self._proc.wait(timeout=10)
        for thread in self._threads:
            thread.join(timeout=2)
        self._close_pipes()
        self._proc = None
        return status

    def _close_pipes(self) -> None:
        assert self._proc is not None
        for pipe in (self._proc.stdin, self._proc.stdout, self._proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()

    def _terminate(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
        self._reap()

    def stop(self) -> None:
        """SIGTERM the server and wait for it to exit (idempotent)."""
        self._terminate()

    def __enter__(self) -> RtspServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@contextlib.contextmanager
def rtsp_camera_fanout(clip: Path, camera_id: str = "cam1") -> Iterator[Any]:
    """`clip` served by the RTSP test server and read by the product's CameraReader over TCP,
    online; yields the reader's FanOut (subscribe to it as the relay and live view do)."""
    from ingest.reader import CameraReader
    from ingest.source import OpenOptions, parse_source
    from tests.support.wait import wait_until

    require_rtsp_server()
    with RtspServer({"/cam1": clip}) as server:
        reader = CameraReader(camera_id, parse_source(server.url("/cam1")),
                              options=OpenOptions(transport="tcp"))  # fmt: skip
        reader.start()
        try:
            wait_until(lambda: reader.status().online, 20, "the camera online")
            yield reader.fanout
        finally:
            reader.stop()
