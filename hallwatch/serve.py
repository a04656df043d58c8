"""Run the live pipeline and the console in one process (`hallwatch serve` / `demo`)."""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

import uvicorn

from cases.demo import DEMO_SOURCE, feed_demo
from console.app import CaseSetup, ConsoleSettings, EvidenceSetup, create_app
from console.auth import Role, ensure_user
from hallwatch.analysis_process import ProcessEngine, tune_parent_interpreter
from hallwatch.cases_setup import case_parts
from hallwatch.config import Site, calendar_notices, data_dir_of, load_site, site_years
from hallwatch.runtime import Runtime
from hallwatch.store import Store
from recordings.export import load_or_create_site_key
from relay.service import RelayService

log = logging.getLogger(__name__)


def admin_password(store: Store, reset: bool) -> str | None:
    """A generated admin password when there is no admin yet (or on reset), else None."""
    if not reset and store.user("admin") is not None:
        return None
    password = ensure_user(store, "admin", Role.ADMIN)
    store.audit(None, "admin_password_generated", "admin")
    return password


def console_settings(site: Site, config_path: Path | None = None) -> ConsoleSettings:
    for notice in calendar_notices(site, site_years(site, time.time())):
        log.warning("%s", notice)  # the console shows the same, translated, from /api/site
    return ConsoleSettings(
        metrics_token=os.environ.get("HALLWATCH_METRICS_TOKEN") or None,
        config_path=config_path,
    )


def evidence_setup(runtime: Runtime, data_dir: Path) -> EvidenceSetup | None:
    if runtime.recording is None:
        return None
    key = load_or_create_site_key(data_dir)
    return EvidenceSetup(runtime.recording.clips, data_dir / "exports", key)


def serve(
    config_path: Path,
    *,
    host: str,
    port: int,
    data_dir: Path | None = None,
    reset_admin: bool = False,
    demo_cases: bool = False,
) -> int:
    site = load_site(config_path)
    data_dir = data_dir or data_dir_of(site, config_path)
    store = Store(data_dir / "hallwatch.db")
    password = admin_password(store, reset_admin)
    tune_parent_interpreter()
    engine = ProcessEngine(site, config_path.parent)  # loads the model: a ModelError ends here
    runtime = Runtime(
        site, config_path, store, engine, data_dir,
        engine_factory=lambda edited: ProcessEngine(edited, config_path.parent),
    )  # fmt: skip
    index = None if runtime.recording is None else runtime.recording.index
    cases = case_parts(site, data_dir, store)
    if demo_cases:  # synthetic approval cases, so that case cards show in the demo console
        fed = feed_demo(cases.ledger, cases.sources, site)
        log.info("demo: %d case event(s) fed as source %s", fed, DEMO_SOURCE)
        cases.ticker.publish()
    case_setup = CaseSetup(cases.ledger, cases.sources, cases.ticker.publish)
    relay = RelayService(
        site, store, runtime.live_fanout, runtime.camera_online, config_path.parent
    )
    app = create_app(
        site, store, runtime, console_settings(site, config_path), index,
        evidence_setup(runtime, data_dir), case_setup, relay if relay.configured else None,
    )  # fmt: skip
    banner = [f"hallwatch console: http://{host}:{port}/", f"data: {data_dir}"]
    if password is not None:
        banner.append(f"login: admin / {password}")
    # one write, before any worker thread logs: print() writes the text and its newline
    # separately, and a log line written in between ran on into the password (CI)
    sys.stderr.write("\n".join(banner) + "\n")
    sys.stderr.flush()
    runtime.start()
    cases.ticker.start()
    relay.start()
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        relay.stop()
        cases.ticker.stop()
        runtime.stop()
        cases.db.close()
        store.close()
    return 0
