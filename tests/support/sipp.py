"""Run Debian's ``sipp`` (3.6) as a scripted SIP peer in tests.

The scenarios live in ``tests/relay/sipp/``. sipp listens on 127.0.0.1 at a free port; its
``<log>`` lines, errors and full message trace go to files under the test's tmp_path::

    with Sipp("platform.xml", tmp_path, variables={"pass": "pw"}, keys={"rtp_port": "4000"}) as sipp:
        ...  # point the code under test at sipp.port
        assert sipp.wait(30) in (0, 97)
        assert "REGISTERED" in sipp.logs()

Exit status: 0 all calls succeeded, 1 a call failed, 97 a scenario ended sipp on purpose
(``<exec int_cmd="stop_now"/>``), 99 no call at all (see ``sipp -h``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import pytest

from tests.support.net import HOST, free_port

SIPP = "/usr/bin/sipp"
SCENARIOS = Path(__file__).resolve().parents[1] / "relay" / "sipp"


def require_sipp() -> str:
    """The sipp binary; a skip where it is missing, a failure in CI (which installs it)."""
    found = shutil.which("sipp") or (SIPP if Path(SIPP).exists() else None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("sipp is required in CI (Debian package sip-tester)", pytrace=False)
        pytest.skip("sipp not installed (Debian package sip-tester)")
    return found


def _listening(port: int, tcp: bool) -> bool:
    """Whether a socket is bound to 127.0.0.1:port (TCP: listening), from /proc/net."""
    table = Path("/proc/net/tcp" if tcp else "/proc/net/udp")
    wanted = f"0100007F:{port:04X}"
    for line in table.read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == wanted and (not tcp or fields[3] == "0A"):
            return True
    return False


class Sipp:
    """One sipp process running `scenario` as a server (its first message is received)."""

    def __init__(
        self,
        scenario: str,
        workdir: Path,
        *,
        transport: str = "u1",
        variables: Mapping[str, str] | None = None,
        keys: Mapping[str, str] | None = None,
        calls: int | None = None,
        timeout_s: float = 60.0,
    ) -> None:
        self.scenario = SCENARIOS / scenario
        self.workdir = workdir
        self.transport = transport
        self.variables = dict(variables or {})
        self.keys = dict(keys or {})
        self.calls = calls
        self.timeout_s = timeout_s
        self.port = free_port(
            socket.SOCK_STREAM if transport.startswith("t") else socket.SOCK_DGRAM
        )
        stem = self.scenario.stem
        self.log_file = workdir / f"{stem}.log"
        self.error_file = workdir / f"{stem}.errors"
        self.message_file = workdir / f"{stem}.messages"
        self.screen_file = workdir / f"{stem}.screen"
        self._proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        cmd = [
            require_sipp(), "-sf", str(self.scenario), "-i", HOST, "-p", str(self.port),
            "-t", self.transport, "-nostdin", "-timeout", f"{self.timeout_s:g}s",
            "-trace_err", "-error_file", str(self.error_file),
            "-trace_logs", "-log_file", str(self.log_file),
            "-trace_msg", "-message_file", str(self.message_file),
            "-trace_screen", "-screen_file", str(self.screen_file),
            # sipp's watchdog reports its own scheduling delays (a load tester's concern) as
            # errors: a busy test machine is no protocol error, so it never trips here
            "-watchdog_minor_threshold", "600000", "-watchdog_major_threshold", "600000",
        ]  # fmt: skip
        if self.calls is not None:
            cmd += ["-m", str(self.calls)]
        for name, value in self.variables.items():
            cmd += ["-set", name, value]
        for name, value in self.keys.items():
            cmd += ["-key", name, value]
        return cmd

    def start(self) -> Sipp:
        self._proc = subprocess.Popen(
            self.command(),
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while not _listening(self.port, self.transport.startswith("t")):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sipp did not start: {self.stderr()}")
            time.sleep(0.02)
        return self

    def wait(self, timeout: float) -> int:
        """sipp's exit status (see the module docstring)."""
        assert self._proc is not None
        return self._proc.wait(timeout)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(5)

    def _read(self, path: Path) -> str:
        return path.read_text(errors="replace") if path.exists() else ""

    def logs(self) -> str:
        """The scenario's ``<log>`` lines."""
        return self._read(self.log_file)

    def errors(self) -> str:
        return self._read(self.error_file)

    def messages(self) -> str:
        """Every message sent and received, in full."""
        return self._read(self.message_file)

    def stderr(self) -> str:
        if self._proc is None or self._proc.stderr is None or self._proc.poll() is None:
            return ""
        return self._proc.stderr.read().decode(errors="replace")[-2000:]

    def report(self) -> str:
        """What to show when a check fails: logs, errors and the last screen."""
        return (
            f"--- sipp logs\n{self.logs()}\n--- sipp errors\n{self.errors()[-3000:]}\n"
            f"--- sipp screen\n{self._read(self.screen_file)[-3000:]}\n--- stderr\n{self.stderr()}"
        )

    def __enter__(self) -> Sipp:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
