"""The case clock's heartbeat: cards change as deadlines pass, without any new event.

Its first tick re-judges every open case (rules or the calendar may have changed while it was
stopped); then every `interval_s` it re-judges the cases whose `next_change_at` has come and tells
the console's feed (the `publish` outbox) what changed. A failing tick is logged and retried
at the next one; nothing is lost, since due cases stay due until judged.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable

from cases.ledger import CaseLedger

log = logging.getLogger(__name__)


class CaseTicker:
    def __init__(
        self, ledger: CaseLedger, publish: Callable[[], int], interval_s: float = 30.0
    ) -> None:
        self.ledger = ledger
        self.publish = publish
        self.interval_s = interval_s
        self.ticks = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="case-ticker", daemon=True)

    def tick(self, now: dt.datetime | None = None) -> tuple[int, int]:
        """Re-judge what is due and publish; returns (cases re-judged, cards published)."""
        when = now or dt.datetime.now(dt.UTC)
        if self.ticks == 0:  # rules or the calendar may have changed while we were stopped
            judged = self.ledger.rejudge_open(when)
        else:
            judged = self.ledger.reevaluate_due(when)
        published = self.publish()
        self.ticks += 1
        return judged, published

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                judged, published = self.tick()
                if judged or published:
                    log.info("cases: %d re-judged, %d card change(s) published", judged,
                             published)  # fmt: skip
            except Exception:
                self.failures += 1
                log.exception("case tick failed; retried at the next one")
            self._stop.wait(self.interval_s)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(30)
