"""Start `hallwatch demo` or `hallwatch serve` as a real process for end-to-end tests."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.net import free_port

BANNER_TIMEOUT_S = 60


@contextmanager
def demo(data_dir: Path, log: Path) -> Iterator[tuple[str, str]]:
    """Start `hallwatch demo`; yields (base URL, admin password) once the console answers."""
    with console_process(["demo", "--data-dir", str(data_dir)], log) as answer:
        yield answer


@contextmanager
def serve(config: Path, data_dir: Path, log: Path) -> Iterator[tuple[str, str]]:
    """Start `hallwatch serve --config CONFIG`; yields (base URL, admin password)."""
    args = ["serve", "--config", str(config), "--data-dir", str(data_dir)]
    with console_process(args, log) as answer:
        yield answer


@contextmanager
def console_process(args: list[str], log: Path) -> Iterator[tuple[str, str]]:
    """Run `hallwatch ARGS --port P` until the console answers; yields (base URL, password)."""
    port = free_port()
    with log.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "hallwatch.cli", *args, "--port", str(port)],
            stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + BANNER_TIMEOUT_S
        password = None
        while time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            match = re.search(r"login: admin / (\S+)", log.read_text())
            if match:
                password = match.group(1)
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
            time.sleep(0.2)
        assert password is not None, log.read_text()
        yield base, password
    finally:
        process.terminate()
        process.wait(20)
