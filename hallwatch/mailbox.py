"""A bounded hand-off from camera readers to the analysis worker.

Each camera has one slot holding its newest unprocessed frame: a new frame replaces an old one
that was not taken yet (counted as dropped), so a slow analyzer never stalls a reader and never
grows memory. The worker takes frames round-robin across cameras.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestMailbox(Generic[T]):
    def __init__(self) -> None:
        self._slots: OrderedDict[str, T] = OrderedDict()
        self._cond = threading.Condition()
        self.dropped: dict[str, int] = {}
        self.delivered: dict[str, int] = {}
        self._closed = False

    def put(self, key: str, item: T) -> None:
        with self._cond:
            if key in self._slots:
                self.dropped[key] = self.dropped.get(key, 0) + 1
                del self._slots[key]
            self._slots[key] = item  # goes to the back of the round-robin order
            self._cond.notify()

    def get(self, timeout: float | None = None) -> tuple[str, T] | None:
        """Oldest waiting camera's newest frame; None on timeout or when closed."""
        taken = self.get_many(1, timeout)
        return taken[0] if taken else None

    def get_many(self, limit: int, timeout: float | None = None) -> list[tuple[str, T]]:
        """Up to `limit` cameras' newest frames, oldest waiting first: waits for the first one
        only (so a worker can batch whatever is ready without delaying anyone)."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._slots or self._closed, timeout):
                return []
            taken: list[tuple[str, T]] = []
            while self._slots and len(taken) < limit:
                key, item = self._slots.popitem(last=False)
                self.delivered[key] = self.delivered.get(key, 0) + 1
                taken.append((key, item))
            return taken

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
