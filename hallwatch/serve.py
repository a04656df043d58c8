"""Run the live pipeline and the console in one process (`hallwatch serve` / `demo`)."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import uvicorn

from hallwatch.config import calendar_notices, data_dir_of, load_site
from hallwatch.store import Store

log = logging.getLogger(__name__)


def serve(
    config_path: Path,
    *,
    host: str,
    port: int,
    data_dir: Path | None = None,
    reset_admin: bool = False,
) -> int:
    from analyzers.detector import NanoDetDetector
    from console.app import ConsoleSettings, EvidenceSetup, create_app
    from console.auth import Role, ensure_user
    from hallwatch.runtime import Runtime
    from recordings.export import load_or_create_site_key

    site = load_site(config_path)
    data_dir = data_dir or data_dir_of(site, config_path)
    store = Store(data_dir / "hallwatch.db")
    if reset_admin or store.user("admin") is None:
        password = ensure_user(store, "admin", Role.ADMIN)
        store.audit(None, "admin_password_generated", "admin")
    else:
        password = None
    detector = NanoDetDetector(
        score_threshold=site.detector.score_threshold, threads=site.detector.threads
    )
    runtime = Runtime(site, config_path, store, detector, data_dir)
    import datetime as dt

    years = [dt.date.today().year, dt.date.today().year + 1]
    settings = ConsoleSettings(
        calendar_notices=calendar_notices(site, years),
        metrics_token=os.environ.get("HALLWATCH_METRICS_TOKEN") or None,
    )
    for notice in settings.calendar_notices:
        log.warning("%s", notice)
    recording = runtime.recording
    evidence = None
    if recording is not None:
        evidence = EvidenceSetup(
            recording.clips, data_dir / "exports", load_or_create_site_key(data_dir)
        )
    index = None if recording is None else recording.index
    app = create_app(site, store, runtime, settings, index, evidence)
    runtime.start()
    banner = [f"hallwatch console: http://{host}:{port}/", f"data: {data_dir}"]
    if password is not None:
        banner.append(f"login: admin / {password}")
    print("\n".join(banner), file=sys.stderr, flush=True)
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        runtime.stop()
        store.close()
    return 0
