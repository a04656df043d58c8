"""create_app: the console's FastAPI application. No side effects at import time."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from fastapi import Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from cases.ledger import CaseLedger
from cases.store import Sources
from console import (
    admin,
    api,
    audit,
    dashboards,
    evidence,
    intake,
    metrics,
    pages,
    recordings,
    review,
    scores,
    users,
)
from console import cases as case_routes
from console import relay as relay_routes
from console.assets import static_dir
from console.auth import CsrfMiddleware, Role, UserDep, require_role
from console.live import routes as live_routes
from console.relay import RelayControl
from hallwatch.config import Site
from hallwatch.config_edit import ApplyResult
from hallwatch.live import LiveView
from hallwatch.store import Store
from ingest.packets import FanOut
from recordings.clips import ClipStore
from recordings.index import SegmentIndex


class LiveSource(Protocol):
    """What the console reads from the running pipeline."""

    def live(self, camera_id: str) -> LiveView | None: ...

    def camera_status(self, camera_id: str) -> dict[str, object]: ...

    def apply_site(self, site: Site) -> ApplyResult:
        """Run the analysis with an edited site where it can (zones, windows, thresholds,
        schedule); say what waits for a restart."""
        ...

    def live_fanout(self, camera_id: str, stream: str) -> FanOut | None:
        """The packet fan-out of a camera's "main" or "sub" stream (None: no such stream)."""
        ...


@dataclass(frozen=True)
class EvidenceSetup:
    """Where event clips and evidence exports live, and the site key that signs exports."""

    clips: ClipStore
    exports_dir: Path
    site_key: bytes = field(repr=False)


@dataclass(frozen=True)
class CaseSetup:
    """The supervision store: the case ledger and the source systems allowed to feed it."""

    ledger: CaseLedger
    sources: Sources
    publish: Callable[[], int] | None = None  # tells the console's feed of card changes


@dataclass(frozen=True)
class ConsoleSettings:
    secure_cookies: bool = False  # set behind HTTPS
    metrics_token: str | None = None  # lets a Prometheus scraper read /metrics
    config_path: Path | None = None  # cameras.yaml, edited by the admin view (None: read-only)


def create_app(
    site: Site,
    store: Store,
    live: LiveSource,
    settings: ConsoleSettings | None = None,
    recording_index: SegmentIndex | None = None,
    evidence_setup: EvidenceSetup | None = None,
    cases: CaseSetup | None = None,
    relay: RelayControl | None = None,
) -> FastAPI:
    app = FastAPI(title="hallwatch console", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.site = site
    app.state.store = store
    app.state.live = live
    app.state.settings = settings or ConsoleSettings()
    app.state.recordings = recording_index
    app.state.clips = evidence_setup.clips if evidence_setup else None
    app.state.site_key = evidence_setup.site_key if evidence_setup else None
    app.state.exports_dir = evidence_setup.exports_dir if evidence_setup else None
    app.state.cases = cases
    app.state.relay = relay
    watch = [Depends(require_role(Role.OPERATOR, Role.INSPECTOR))]
    app.include_router(pages.router)  # public: the page shells and login
    app.include_router(api.router)  # me/site: any user; cameras, windows, events: watchers
    app.include_router(recordings.router, dependencies=watch)  # playback is audited
    app.include_router(evidence.router, dependencies=watch)  # clips; exports: inspectors
    app.include_router(metrics.router)  # operators or the metrics bearer token
    app.include_router(intake.router)  # source systems, each with its own API key
    app.include_router(case_routes.router, dependencies=watch)  # acknowledging: inspectors
    app.include_router(
        scores.router, dependencies=[Depends(require_role(Role.INSPECTOR))]
    )  # scores and their CSV export; exports audited
    app.include_router(live_routes.router)  # WebRTC live view signalling; audited per viewer
    app.include_router(review.router)  # alarm acknowledgement (operators), verdicts (inspectors)
    app.include_router(admin.router)  # config and zone editing: admins; audited
    app.include_router(users.router)  # users and roles: admins; audited
    app.include_router(audit.router)  # the audit log: auditors
    app.include_router(dashboards.router)  # statistics per hall and department
    app.include_router(relay_routes.router)  # relay health: operators; the outbox: admins
    app.add_api_route("/api/openapi.json", _openapi, methods=["GET"], include_in_schema=False)
    app.mount("/static", StaticFiles(directory=static_dir()), name="static")
    app.add_middleware(CsrfMiddleware)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    return app


class _AsciiJSON(JSONResponse):
    """JSON with every non-ASCII character escaped: a lone surrogate cannot break it."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


async def _invalid_request(request: Request, exc: Exception) -> Response:
    """FastAPI's 422 without echoing the input back: an input holding NaN or a lone surrogate
    cannot be rendered as JSON, and the default answer then became a 500."""
    assert isinstance(exc, RequestValidationError)
    problems = [{k: v for k, v in error.items() if k != "input"} for error in exc.errors()]
    return _AsciiJSON({"detail": jsonable_encoder(problems)}, status_code=422)


def _openapi(request: Request, user: UserDep) -> dict[str, Any]:
    """FastAPI's schema of the console API, for logged-in users only (no public docs page)."""
    schema: dict[str, Any] = request.app.openapi()
    return schema
