"""Real headless Chromium (Debian's `chromium`) driven by Playwright, for the console tests.

    with console_browser() as browser:
        page = new_page(browser)
        login(page, base, "admin", password)
        screenshot(page, "wall")

Screenshots are test artifacts: they go to $HALLWATCH_ARTIFACTS (default
<tmp>/hallwatch-artifacts/screenshots), never into the working tree.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

# the environment notes' headless flags, plus what WebRTC over loopback needs
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--autoplay-policy=no-user-gesture-required",
]  # fmt: skip


def chromium() -> str:
    """Debian's chromium; a skip where it is missing, a failure in CI (which installs it)."""
    path = shutil.which("chromium")
    if path is None:
        reason = "Debian chromium is not installed (see .ci/apt-packages.txt)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def artifacts_dir() -> Path:
    root = os.environ.get("HALLWATCH_ARTIFACTS") or str(
        Path(tempfile.gettempdir()) / "hallwatch-artifacts"
    )
    folder = Path(root) / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def console_browser() -> Iterator[Any]:
    """A launched headless Chromium (playwright Browser); closed afterwards."""
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = chromium()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_FLAGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser: Any, *, lang: str = "zh-CN", width: int = 1920, height: int = 1080) -> Any:
    """A page in its own context (own cookies), in `lang`, at a video-wall resolution."""
    context = browser.new_context(locale=lang, viewport={"width": width, "height": height})
    return context.new_page()


def login(page: Any, base: str, username: str, password: str) -> None:
    """Log in through the login form and wait for the console shell."""
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/#/**")


def screenshot(page: Any, name: str) -> Path:
    path = artifacts_dir() / f"{name}.png"
    page.screenshot(path=str(path))
    return path
