"""Camera sources: URL parsing, credential redaction and opening with PyAV."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

import av

SECRET_QUERY_KEYS = re.compile(r"(?i)\b(password|passwd|pwd|token|key|secret|auth)=([^&\s'\"]+)")
USERINFO_IN_TEXT = re.compile(r"(?i)\b(rtsps?|rtmps?|https?)://[^/\s'\"@]+@")


class SourceKind(StrEnum):
    RTSP = "rtsp"
    FILE = "file"


@dataclass(frozen=True, slots=True)
class Source:
    kind: SourceKind
    location: str  # the URL (with credentials) or the absolute file path
    display: str  # safe to log and show: credentials removed

    def __repr__(self) -> str:
        return f"Source({self.kind.value}, {self.display!r})"

    __str__ = __repr__


def _strip_userinfo(parts: SplitResult) -> SplitResult:
    if "@" not in parts.netloc:
        return parts
    host = parts.netloc.rsplit("@", 1)[1]
    return parts._replace(netloc=f"***@{host}")


def redact_url(url: str) -> str:
    """Remove user, password and secret query values from a URL before it is logged or shown."""
    if "://" not in url:
        return url
    try:
        parts = _strip_userinfo(urlsplit(url))
    except ValueError:
        return redact_text(url)
    return SECRET_QUERY_KEYS.sub(r"\1=***", urlunsplit(parts))


def redact_text(text: str, *urls: str, hidden: Iterable[str] = ()) -> str:
    """Redact URLs with credentials, secret query values, the given URLs (shown without their
    credentials) and the `hidden` literals (passwords, keys: shown as ***)."""
    for url in urls:
        if url:
            text = text.replace(url, redact_url(url))
    for secret in hidden:
        if secret:
            text = text.replace(secret, "***")
    text = USERINFO_IN_TEXT.sub(lambda match: f"{match.group(1)}://***@", text)
    return SECRET_QUERY_KEYS.sub(r"\1=***", text)


def parse_source(url: str, base_dir: Path | None = None) -> Source:
    """rtsp(s)://… → RTSP; file:PATH, file:///PATH or a plain path → FILE (relative to base_dir)."""
    lowered = url.lower()
    if lowered.startswith(("rtsp://", "rtsps://")):
        return Source(SourceKind.RTSP, url, redact_url(url))
    if lowered.startswith("file://"):
        raw = urlsplit(url).path
    elif lowered.startswith("file:"):
        raw = url[len("file:") :]
    else:
        raw = url
    path = Path(raw).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return Source(SourceKind.FILE, str(path), str(path))


@dataclass(frozen=True, slots=True)
class OpenOptions:
    transport: str = "tcp"
    open_timeout_s: float = 5.0
    read_timeout_s: float = 5.0


def open_container(source: Source, options: OpenOptions) -> Any:
    """Open `source` for demuxing; RTSP over TCP by default with open/read timeouts."""
    if source.kind is SourceKind.FILE:
        return av.open(source.location, mode="r")
    ffmpeg_options = {
        "rtsp_transport": options.transport,
        # socket I/O timeout in microseconds (FFmpeg ≥ 5 calls it "timeout" for RTSP)
        "timeout": str(int(options.read_timeout_s * 1_000_000)),
        "allowed_media_types": "video",
        # probe 1 s of video instead of FFmpeg's default ~5 s: opening takes ~1.2 s, not ~3.5 s
        "analyzeduration": "1000000",
    }
    started = time.monotonic()
    try:
        return av.open(
            source.location,
            mode="r",
            options=ffmpeg_options,
            timeout=(options.open_timeout_s, options.read_timeout_s),
        )
    except av.error.FFmpegError as error:
        # A camera that accepts the connection but never answers makes FFmpeg's RTSP client
        # fail with "Invalid data found" once a timeout cuts it off: say what happened.
        waited = time.monotonic() - started
        if waited >= min(options.open_timeout_s, options.read_timeout_s):
            raise TimeoutError(f"no answer within {waited:.1f} s ({error})") from error
        raise
