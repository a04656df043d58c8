"""Bench: the supervision store's intake rate and the time to re-judge every open case.

For each database (SQLite file; PostgreSQL on 127.0.0.1, started here from Debian's package):

  http batch     POST /api/intake/events to the real console (uvicorn on 127.0.0.1) in
                 batches of --batch events: events/s, each batch committed before its answer
  http single    the same events one per request (how a naive client would send them)
  bulk           a JSON-lines file parsed and ingested in chunks of --batch: events/s
  re-judge       every open case re-judged at once (as after a rules or calendar change):
                 seconds for --cases cases, and cases/s

Cases are synthetic: accepted on working days of Nov 2026 with 5–20 working days promised,
one step each. The goal of issue #5 is ≥ 2 000 events/s over HTTP and a full re-judgement of
1 000 000 open cases in under 10 s.

usage: python bench/cases.py [--cases 20000] [--batch 1000] [--single 500] [--db sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import uvicorn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cases.bulk import parse_jsonl  # noqa: E402
from cases.ledger import CaseLedger  # noqa: E402
from cases.store import Sources, open_case_db  # noqa: E402
from cases.workdays import work_calendar  # noqa: E402
from console.app import CaseSetup, create_app  # noqa: E402
from hallwatch.config import Schedule, Site  # noqa: E402
from hallwatch.config_cases import CasesSettings  # noqa: E402
from hallwatch.database import Database  # noqa: E402
from hallwatch.store import Store  # noqa: E402
from tests.support.postgres import PostgresServer, find_bindir  # noqa: E402

SH = ZoneInfo("Asia/Shanghai")
SITE = Site.model_validate({"name": "bench", "cameras": [], "windows": []})


def case_events(prefix: str, count: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """An accepted event and a step start per case (two events per case)."""
    rnd = random.Random(seed)
    for n in range(count):
        day = dt.datetime(2026, 11, 2 + rnd.randrange(26), 9 + rnd.randrange(8), tzinfo=SH)
        case = f"{prefix}{n:07d}"
        yield {
            "type": "accepted", "event_id": f"{case}-a", "case_id": case, "at": day.isoformat(),
            "item_code": f"ITEM-{n % 40}", "item_name": "食品经营许可", "department": "市场监管局",
            "applicant_type": "organization",
            "promised": {"amount": rnd.randint(5, 20), "unit": "working_days"},
        }  # fmt: skip
        yield {
            "type": "step", "event_id": f"{case}-s", "case_id": case,
            "at": (day + dt.timedelta(hours=1)).isoformat(), "step": "审核", "phase": "start",
            "handler_id": "h1",
        }  # fmt: skip


def ledger_for(db: Database) -> CaseLedger:
    return CaseLedger(db, work_calendar(Schedule()), CasesSettings())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Console:
    """The real console app on 127.0.0.1 in a thread."""

    def __init__(self, db: Database, workdir: Path) -> None:
        setup = CaseSetup(ledger_for(db), Sources(db))
        self.key = setup.sources.add("bench")
        app = create_app(SITE, Store(workdir / "console.db"), _NoLive(), cases=setup)
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Console:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


class _NoLive:
    def live(self, camera_id: str) -> None:
        return None

    def camera_status(self, camera_id: str) -> dict[str, object]:
        return {}


def http_rate(console: Console, events: list[dict[str, Any]], batch: int) -> float:
    headers = {"Authorization": f"Bearer {console.key}", "Content-Type": "application/json"}
    with httpx.Client(base_url=f"http://127.0.0.1:{console.port}", timeout=300) as http:
        start = time.perf_counter()
        for at in range(0, len(events), batch):
            body = json.dumps({"events": events[at : at + batch]}, ensure_ascii=False)
            answer = http.post("/api/intake/events", content=body, headers=headers)
            answer.raise_for_status()
        return len(events) / (time.perf_counter() - start)


def bulk_rate(db: Database, events: list[dict[str, Any]], batch: int) -> float:
    ledger = ledger_for(db)
    Sources(db).add("bulk")
    text = "\n".join(json.dumps(e, ensure_ascii=False) for e in events)
    start = time.perf_counter()
    parsed = parse_jsonl(text)
    assert parsed.ok, parsed.errors[:3]
    items = list(parsed.events)
    for at in range(0, len(items), batch):
        ledger.ingest("bulk", items[at : at + batch])
    return len(items) / (time.perf_counter() - start)


def rejudge_seconds(db: Database) -> tuple[int, float]:
    """Every open case re-judged at once, as after a change of rules or calendar."""
    ledger = ledger_for(db)
    with db.transaction() as cursor:
        cursor.execute("UPDATE cases SET next_change_at = 0 WHERE status = 'open'")
    far = dt.datetime(2026, 12, 1, tzinfo=SH)
    start = time.perf_counter()
    judged = 0
    while True:
        done = ledger.reevaluate_due(far, limit=10_000)
        judged += done
        if done < 10_000:
            break
    return judged, time.perf_counter() - start


def run(name: str, url: str, args: argparse.Namespace, workdir: Path) -> None:
    db = open_case_db(url)
    events = list(case_events(f"{name[:2].upper()}H", args.cases // 2))
    singles = list(case_events(f"{name[:2].upper()}S", args.single // 2))
    with Console(db, workdir) as console:
        batched = http_rate(console, events, args.batch)
        single = http_rate(console, singles, 1)
    bulk = bulk_rate(db, list(case_events(f"{name[:2].upper()}B", args.cases // 2)), args.batch)
    judged, seconds = rejudge_seconds(db)
    print(f"{name:10s} http batch {batched:7.0f} events/s   http single {single:6.0f} events/s"
          f" ({batched / single:.1f}x)   bulk {bulk:7.0f} events/s   re-judge {judged} open"
          f" cases in {seconds:.1f} s ({judged / seconds:.0f} cases/s)")  # fmt: skip
    db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20_000, help="events per phase (2/case)")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--single", type=int, default=500, help="events sent one by one")
    parser.add_argument("--db", default="sqlite,postgresql")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="hw-bench-cases-"))
    for name in args.db.split(","):
        if name == "sqlite":
            run(name, f"sqlite:///{workdir / 'cases.db'}", args, workdir)
            continue
        bindir = find_bindir()
        if bindir is None:
            print("postgresql: skipped (no server binaries)")
            continue
        server = PostgresServer(bindir).start()
        try:
            run(name, server.url, args, workdir)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
