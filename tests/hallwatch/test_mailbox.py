"""The bounded hand-off between readers and the analysis worker."""

from __future__ import annotations

import threading

from hallwatch.mailbox import LatestMailbox


def test_newest_frame_wins_and_drops_are_counted() -> None:
    box: LatestMailbox[int] = LatestMailbox()
    for n in range(5):
        box.put("cam01", n)
    assert box.get(0) == ("cam01", 4)
    assert box.dropped == {"cam01": 4}
    assert box.get(0) is None


def test_round_robin_between_cameras() -> None:
    box: LatestMailbox[str] = LatestMailbox()
    box.put("a", "a1")
    box.put("b", "b1")
    box.put("a", "a2")  # replaces a1 and goes to the back
    assert [box.get(0), box.get(0)] == [("b", "b1"), ("a", "a2")]


def test_get_wakes_on_put_and_close() -> None:
    box: LatestMailbox[int] = LatestMailbox()
    threading.Timer(0.05, box.put, args=("cam", 1)).start()
    assert box.get(2.0) == ("cam", 1)
    threading.Timer(0.05, box.close).start()
    assert box.get(2.0) is None


def test_get_many_takes_what_is_ready_oldest_first() -> None:
    box: LatestMailbox[int] = LatestMailbox()
    assert box.get_many(4, timeout=0.01) == []
    for key, value in (("a", 1), ("b", 2), ("a", 3), ("c", 4)):
        box.put(key, value)
    assert box.get_many(2) == [("b", 2), ("a", 3)]
    assert box.get_many(8) == [("c", 4)]
    assert box.delivered == {"a": 1, "b": 1, "c": 1} and box.dropped == {"a": 1}
