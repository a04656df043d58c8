"""Sliding-window rates (bitrate, fps) and event counts over the last hour."""

from __future__ import annotations

from collections import deque


class RateMeter:
    """Packets and bytes over the last `window_s` seconds."""

    def __init__(self, window_s: float = 5.0) -> None:
        self.window_s = window_s
        self._samples: deque[tuple[float, int]] = deque()
        self._bytes = 0

    def add(self, now: float, size: int) -> None:
        self._samples.append((now, size))
        self._bytes += size
        self._trim(now)

    def _trim(self, now: float) -> None:
        while self._samples and self._samples[0][0] < now - self.window_s:
            self._bytes -= self._samples.popleft()[1]

    def rates(self, now: float) -> tuple[float, float]:
        """(bits per second, packets per second) over the window ending at `now`."""
        self._trim(now)
        if len(self._samples) < 2:
            return 0.0, 0.0
        # over the window, or over what has been seen of it so far (just after a connect)
        span = min(self.window_s, max(now - self._samples[0][0], 1e-3))
        return self._bytes * 8 / span, len(self._samples) / span


class RecentCount:
    """How many events happened in the last `window_s` seconds (e.g. reconnects per hour)."""

    def __init__(self, window_s: float = 3600.0) -> None:
        self.window_s = window_s
        self._times: deque[float] = deque()

    def add(self, now: float) -> None:
        self._times.append(now)

    def count(self, now: float) -> int:
        while self._times and self._times[0] < now - self.window_s:
            self._times.popleft()
        return len(self._times)
