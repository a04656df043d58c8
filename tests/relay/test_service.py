"""The relay service: alarm following over a real store, and its parts built from the config."""

from __future__ import annotations

import time
from pathlib import Path

from hallwatch.config import Site
from hallwatch.events import Event
from hallwatch.store import Store
from relay.service import AlarmFollower, RelayService


def vacancy(camera: str = "cam1", start: float = 1000.0) -> Event:
    return Event(type="counter_vacant", camera=camera, window="W01", start=start,
                 detected_at=start + 1, details={})  # fmt: skip


def test_alarm_follower_offers_each_new_event_once(tmp_path: Path) -> None:
    store = Store(tmp_path / "hw.db")
    old = store.add_event(vacancy(start=1.0))  # before the start: history, not replayed
    offered: list[int] = []
    follower = AlarmFollower(store, lambda event: offered.append(event.id or 0) or True)
    follower._seq, follower._last_id = store.max_seq(), 1  # as start() does, without the thread
    first = store.add_event(vacancy(start=2.0))
    assert first.id is not None
    store.end_event(old.id or 0, 5.0)  # a change of an old event is no new alarm
    follower.poll()
    second = store.add_event(vacancy("cam2", 3.0))
    store.end_event(first.id, 6.0)  # its end is no second alarm
    follower.poll()
    follower.poll()
    assert offered == [first.id, second.id]
    assert (follower.offered, follower.forwarded) == (2, 2)
    store.close()


def test_alarm_follower_thread_starts_after_history(tmp_path: Path) -> None:
    store = Store(tmp_path / "hw.db")
    store.add_event(vacancy(start=1.0))
    offered: list[Event] = []
    follower = AlarmFollower(store, lambda event: offered.append(event) is None, poll_s=0.05)
    follower.start()
    try:
        new = store.add_event(vacancy(start=2.0))
        deadline = time.monotonic() + 5
        while not offered and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [event.id for event in offered] == [new.id]
    finally:
        follower.stop()
        store.close()


def test_unconfigured_relay_has_no_parts(tmp_path: Path) -> None:
    site = Site.model_validate(
        {"name": "t", "cameras": [{"id": "cam1", "name": "c", "url": "x.mp4"}]}
    )
    store = Store(tmp_path / "hw.db")
    relay = RelayService(site, store, lambda camera, stream: None, lambda camera: False, tmp_path)
    assert not relay.configured
    relay.start()
    assert relay.status()["push"] == [] and relay.status()["upload"] is None
    relay.stop()
    store.close()
