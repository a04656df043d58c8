"""The relay as one service: stream push, the GB/T 28181 cascade, alarm forwarding, upload.

Built from `site.relay` next to the runtime (hallwatch.serve): every part reads the cameras'
shared readers through `fanout_of(camera, "main" | "sub")`, so relaying never opens a second
connection to a camera. New events reach the cascade as MESSAGE Alarm through `AlarmFollower`
(each event once, when it is first seen; history from before the start is not replayed: GB
alarms are live notifications) and reach the provincial webhook through the upload's outbox
(durable: nothing accepted is lost while the link is down).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hallwatch.config import Site
from hallwatch.events import Event
from hallwatch.store import Store
from ingest.packets import FanOut
from relay.gb.cascade import Cascade
from relay.gb.media import GbMediaFactory
from relay.push import PushService
from relay.upload import Uploader, upload_tls

log = logging.getLogger(__name__)

FanoutOf = Callable[[str, str], FanOut | None]
ALARM_POLL_S = 0.5


def max_event_id(store: Store) -> int:
    return int(store.query("SELECT COALESCE(MAX(id), 0) FROM events")[0][0])


class AlarmFollower:
    """Offers every event stored after its start to `send` once (ids only grow), in a thread."""

    def __init__(
        self, store: Store, send: Callable[[Event], bool], poll_s: float = ALARM_POLL_S
    ) -> None:
        self.store = store
        self.send = send
        self.poll_s = poll_s
        self.offered = 0
        self.forwarded = 0
        self._seq = 0
        self._last_id = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._seq, self._last_id = self.store.max_seq(), max_event_id(self.store)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="gb-alarms", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None

    def poll(self) -> None:
        """Offer the events first stored since the last poll."""
        for event in self.store.events_after(self._seq):
            self._seq = event.seq
            if event.id is not None and event.id > self._last_id:
                self._last_id = event.id
                self.offered += 1
                self.forwarded += bool(self.send(event))

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.poll()
            except Exception:  # the store is busy or closing: try again at the next poll
                log.exception("relay: reading new events for GB alarms failed")


class RelayService:
    """The configured relay parts; `status()` and the outbox methods serve console.relay."""

    def __init__(
        self,
        site: Site,
        store: Store,
        fanout_of: FanoutOf,
        camera_online: Callable[[str], bool],
        config_dir: Path,
    ) -> None:
        settings = site.relay
        self.push = PushService(settings.push, fanout_of) if settings.push else None
        self.cascade: Cascade | None = None
        self.alarms: AlarmFollower | None = None
        if settings.gb28181 is not None:
            self.cascade = Cascade(
                settings.gb28181,
                GbMediaFactory(fanout_of),
                channel_names={camera.id: camera.name for camera in site.cameras},
                channel_online=camera_online,
                platform_name=site.name,
            )
            if settings.gb28181.alarms:
                self.alarms = AlarmFollower(store, self.cascade.send_alarm)
        self.upload = None
        if settings.upload is not None:
            tls = upload_tls(settings.upload, config_dir)
            self.upload = Uploader(settings.upload, store, site_name=site.name, tls=tls)

    @property
    def configured(self) -> bool:
        return any(part is not None for part in (self.push, self.cascade, self.upload))

    def start(self) -> None:
        for part in (self.upload, self.push, self.cascade, self.alarms):
            if part is not None:
                part.start()

    def stop(self) -> None:
        """The cascade unregisters and ends its sessions; a request in flight ends first."""
        for part in (self.alarms, self.cascade, self.push, self.upload):
            if part is not None:
                part.stop()

    # --- console.relay.RelayControl -----------------------------------------------------------

    def status(self) -> dict[str, Any]:
        cascade = None if self.cascade is None else self.cascade.status()
        if cascade is not None and self.alarms is not None:
            cascade["alarm_events"] = {
                "offered": self.alarms.offered, "forwarded": self.alarms.forwarded,
            }  # fmt: skip
        return {
            "push": [] if self.push is None else self.push.status(),
            "gb28181": cascade,
            "upload": None if self.upload is None else self.upload.status(),
            "at": time.time(),
        }

    def outbox_messages(self, state: str, limit: int) -> list[dict[str, Any]] | None:
        return None if self.upload is None else self.upload.messages(state, limit)

    def outbox_retry(self) -> int | None:
        return None if self.upload is None else self.upload.retry_now()
