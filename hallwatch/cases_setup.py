"""The supervision store as the site config says: its database, ledger, sources and ticker."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cases.ledger import CaseLedger
from cases.publish import publish_cards
from cases.store import Sources, open_case_db
from cases.ticker import CaseTicker
from cases.workdays import work_calendar
from hallwatch.config import Site
from hallwatch.database import Database
from hallwatch.store import Store


def case_database_url(site: Site, data_dir: Path) -> str:
    """PostgreSQL when the config names one, else the site's own SQLite store file."""
    return site.cases.database or f"sqlite:///{data_dir / 'hallwatch.db'}"


def open_case_database(site: Site, data_dir: Path) -> Database:
    return open_case_db(case_database_url(site, data_dir))


@dataclass(frozen=True)
class CaseParts:
    db: Database
    ledger: CaseLedger
    sources: Sources
    ticker: CaseTicker


def case_parts(site: Site, data_dir: Path, store: Store) -> CaseParts:
    db = open_case_database(site, data_dir)
    ledger = CaseLedger(db, work_calendar(site.schedule), site.cases)
    ticker = CaseTicker(ledger, lambda: publish_cards(db, store, site), site.cases.tick_s)
    return CaseParts(db, ledger, Sources(db), ticker)
