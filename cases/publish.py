"""Cards into the console's event feed (an outbox, so no card is ever left untold).

The ledger commits cards in the case database; the console's events live in the hallwatch
store (the same SQLite file by default, another database with PostgreSQL), so the two cannot
be written in one transaction. Instead every card remembers what the feed was last told
(`published_level`, `published_state`, `console_event`; the ledger sets `published_state` to
NULL with every change), and `publish_cards` tells the feed whatever changed since: a raised
card opens an event (`case_warning` / `case_yellow` / `case_red`) at the card's window camera;
an escalation ends that event and opens one of the new level; a closed card ends its event.
It runs after every intake and on every tick, and at start-up, so a crash between the two
commits only delays an event, never loses it.
"""

from __future__ import annotations

import json
import time

from hallwatch.config import Site
from hallwatch.database import Database
from hallwatch.events import Event
from hallwatch.store import Store

PENDING = """
SELECT c.id, c.case_id, c.level, c.state, c.reasons, c.raised_at, c.escalated_at, c.closed_at,
       c.console_event, c.published_level, c.published_state,
       k.window_id, k.item_name, k.department
FROM cards c JOIN cases k ON k.case_id = c.case_id
WHERE c.published_state IS NULL
ORDER BY c.id
LIMIT ?
"""


def camera_of(site: Site, window_id: str | None) -> str:
    """The camera over a case's window ("" when the case has no window or it is unknown)."""
    window = site.window_by_id(window_id)
    return "" if window is None else window.camera


def publish_cards(db: Database, store: Store, site: Site, limit: int = 1000) -> int:
    """Tell the console's feed about every card change not told yet; returns how many."""
    rows = db.query(PENDING, (limit,))
    for row in rows:
        event_id = row["console_event"]
        now = time.time()
        level_changed = row["published_level"] != row["level"]
        if event_id is not None and (level_changed or row["state"] == "closed"):
            store.end_event(int(event_id), row["closed_at"] or now)
        if event_id is None or level_changed:  # raised, or escalated (even once closed)
            event = store.add_event(_card_event(site, row, now))
            event_id = event.id
            if row["state"] == "closed" and event_id is not None:
                store.end_event(event_id, row["closed_at"] or now)
        with db.transaction() as cursor:  # a card that changed meanwhile stays pending
            cursor.execute(
                "UPDATE cards SET console_event = ?, published_level = ?, published_state ="
                " CASE WHEN level = ? AND state = ? THEN ? ELSE NULL END WHERE id = ?",
                (event_id, row["level"], row["level"], row["state"], row["state"], row["id"]),
            )
    return len(rows)


def _card_event(site: Site, row: dict[str, object], now: float) -> Event:
    start = row["escalated_at"] or row["raised_at"]
    assert isinstance(start, float | int)
    return Event(
        type=f"case_{row['level']}",
        camera=camera_of(site, str(row["window_id"]) if row["window_id"] else None),
        start=float(start),
        detected_at=now,
        window=str(row["window_id"]) if row["window_id"] else None,
        details={
            "case_id": row["case_id"],
            "card_id": row["id"],
            "item_name": row["item_name"],
            "department": row["department"],
            "reasons": json.loads(str(row["reasons"])),
        },
    )
