"""Bench: the supervision store's intake rate and the time to re-judge every open case.

For each database (SQLite file; PostgreSQL on 127.0.0.1, started here from Debian's package):

  http batch     POST /api/intake/events to the real console (uvicorn on 127.0.0.1) in
                 batches of --batch events: events/s, each batch committed before its answer
  http single    the same events one per request (how a naive client would send them)
  bulk           a JSON-lines file parsed and ingested in chunks of --batch: events/s
  re-judge       every open case re-judged at once (CaseLedger.rejudge_open, as at start or
                 after a change of rules or calendar), for each --open size (100 000 and
                 1 000 000 by default) on a fresh store:
                   cold    the first full re-judgement 70 days after intake: most cards are
                           raised or escalated, so it writes a lot
                   steady  the same again: every case judged, nothing to write
                   fold    the naive way on the smallest size (each case folded from its
                           events and judged alone, CaseLedger(bulk=False)): steady state
The open cases of a size are a random mix (tests/support/case_mix.py, none completed:
suspensions, steps with node limits, legal limits, natural days and hours) ingested through
the ledger; beyond
--seed cases the mix is copied in SQL (new case ids) instead of ingested, which changes
nothing the re-judgement reads.

Intake cases are synthetic: accepted on working days of Nov 2026 with 5–20 working days
promised, one step each. Goals of issue #5: ≥ 2 000 events/s over HTTP, and a full
re-judgement of 1 000 000 open cases in under 10 s.

usage: python bench/cases.py [--cases 20000] [--batch 1000] [--single 500]
                             [--open 100000,1000000] [--seed 100000] [--db sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
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
from cases.intake import parse_event  # noqa: E402
from cases.ledger import CaseLedger  # noqa: E402
from cases.store import Sources, open_case_db  # noqa: E402
from cases.workdays import work_calendar  # noqa: E402
from console.app import CaseSetup, create_app  # noqa: E402
from hallwatch.config import Schedule, Site  # noqa: E402
from hallwatch.config_cases import CasesSettings  # noqa: E402
from hallwatch.config_edit import ApplyResult  # noqa: E402
from hallwatch.database import Database  # noqa: E402
from hallwatch.store import Store  # noqa: E402
from tests.support.case_mix import START  # noqa: E402
from tests.support.case_mix import case_events as mixed_events  # noqa: E402
from tests.support.net import free_port  # noqa: E402
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

    def live_fanout(self, camera_id: str, stream: str) -> None:
        return None

    def apply_site(self, site: Site) -> ApplyResult:
        return ApplyResult(applied=False, restart_required=True)  # no pipeline here


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


def seed_open_cases(db: Database, count: int, batch: int) -> float:
    """Ingest `count` random cases (tests/support/case_mix.py); returns events/s."""
    ledger = ledger_for(db)
    Sources(db).add("mix")
    rng = random.Random(2026)
    events = [e for n in range(count) for e in mixed_events(rng, f"M{n:07d}", closing=False)]
    parsed = [parse_event(e) for e in events]
    start = time.perf_counter()
    for at in range(0, len(parsed), batch):
        ledger.ingest("mix", parsed[at : at + batch], now=START)
    return len(parsed) / (time.perf_counter() - start)


def copy_cases(db: Database, copies: int) -> None:
    """Copy every case (row with its facts, card) `copies` times under new case ids."""
    with db.transaction() as cursor:
        for table in ("cases", "cards"):
            (sample,) = cursor.execute(f"SELECT * FROM {table} LIMIT 1")
            names = [n for n in sample if n != "id"]
            picked = ", ".join("case_id || ?" if n == "case_id" else n for n in names)
            for k in range(1, copies + 1):
                cursor.execute(
                    f"INSERT INTO {table} ({', '.join(names)}) SELECT {picked} FROM {table}"
                    " WHERE case_id NOT LIKE '%/%'",
                    (f"/{k}",),
                )


def empty(db: Database) -> None:
    with db.transaction() as cursor:
        for table in ("card_history", "cards", "cases", "case_events"):
            cursor.execute(f"DELETE FROM {table}")


def timed_rejudge(ledger: CaseLedger, now: dt.datetime) -> tuple[int, int, float]:
    """(cases judged, card changes, seconds) of one full re-judgement."""
    history = ledger.db.query("SELECT COUNT(*) AS n FROM card_history")[0]["n"]
    start = time.perf_counter()
    judged = ledger.rejudge_open(now)
    seconds = time.perf_counter() - start
    changed = ledger.db.query("SELECT COUNT(*) AS n FROM card_history")[0]["n"] - history
    return judged, changed, seconds


def rejudge_figures(name: str, db: Database, args: argparse.Namespace) -> None:
    sizes = sorted(int(size) for size in args.open.split(","))
    when = START + dt.timedelta(days=70)
    for size in sizes:
        empty(db)
        seeded = min(args.seed, size)
        if size % seeded:
            raise SystemExit(f"--open sizes must be multiples of --seed {seeded}")
        rate = seed_open_cases(db, seeded, args.batch)
        copy_cases(db, size // seeded - 1)
        ledger = ledger_for(db)
        judged, changed, cold = timed_rejudge(ledger, when)
        _, again, steady = timed_rejudge(ledger, when)
        line = (f"{name:10s} re-judge {judged:8d} open cases (seeded at {rate:.0f} events/s):"
                f" cold {cold:6.2f} s ({changed} card changes, {judged / cold:7.0f} cases/s)"
                f"   steady {steady:6.2f} s ({judged / steady:7.0f} cases/s)")  # fmt: skip
        if size == sizes[0]:
            naive = CaseLedger(db, ledger.calendar, ledger.settings, bulk=False)
            _, _, fold = timed_rejudge(naive, when)
            line += f"   fold {fold:6.2f} s ({fold / steady:.0f}x the bulk steady)"
        print(line, flush=True)
        assert again == 0


def run(name: str, url: str, args: argparse.Namespace, workdir: Path) -> None:
    db = open_case_db(url)
    events = list(case_events(f"{name[:2].upper()}H", args.cases // 2))
    singles = list(case_events(f"{name[:2].upper()}S", args.single // 2))
    with Console(db, workdir) as console:
        batched = http_rate(console, events, args.batch)
        single = http_rate(console, singles, 1)
    bulk = bulk_rate(db, list(case_events(f"{name[:2].upper()}B", args.cases // 2)), args.batch)
    print(f"{name:10s} http batch {batched:7.0f} events/s   http single {single:6.0f} events/s"
          f" ({batched / single:.1f}x)   bulk {bulk:7.0f} events/s", flush=True)  # fmt: skip
    if args.open:
        rejudge_figures(name, db, args)
    db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20_000, help="events per phase (2/case)")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--single", type=int, default=500, help="events sent one by one")
    parser.add_argument("--open", default="100000,1000000", help="open cases to re-judge")
    parser.add_argument("--seed", type=int, default=100_000, help="cases ingested, then copied")
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
