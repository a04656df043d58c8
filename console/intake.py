"""Data exchange (数据交换): approval systems send case events here, each with its own API key.

Not a user route: a source system authenticates with `Authorization: Bearer <key>` (or
`X-Api-Key`), the key given once by `hallwatch case-source add NAME`. Every answer is JSON:

- 200 {"accepted", "duplicates", "cases"}: the batch is committed (durable) before this answer;
  events sent before are counted as duplicates, not stored twice.
- 401 without a valid key; 422 with field-level `detail` (loc like "events/3/promised/unit")
  when any event is invalid, and then nothing of the batch is written; 409 when an event id
  was stored before with other content (nothing written either).

`POST /api/intake/events` takes {"events": [...]} (1..1000). `POST /api/intake/file` takes a
JSON-lines or CSV file (UTF-8 or GB18030) as the raw body, `Content-Type: application/x-ndjson`
or `text/csv`: all of its lines or none.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from cases.bulk import parse_csv, parse_jsonl
from cases.intake import EventBase, EventBatch, validation_details
from cases.ledger import CaseLedger, IngestResult
from cases.store import EventConflict, Sources

router = APIRouter(prefix="/api/intake")
log = logging.getLogger(__name__)

MAX_FILE_BYTES = 32 * 1024 * 1024


def _setup(request: Request) -> tuple[CaseLedger, Sources]:
    cases = request.app.state.cases
    if cases is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "case intake is not set up")
    return cases.ledger, cases.sources


def _publish(request: Request) -> None:
    """Tell the console's feed of new cards now (the ticker retries whatever fails here)."""
    publish = request.app.state.cases.publish
    if publish is None:
        return
    try:
        publish()
    except Exception:  # the cards are committed; the outbox tells them at the next tick
        log.exception("publishing card changes failed; retried at the next tick")


def presented_key(request: Request) -> str:
    header = request.headers.get("authorization", "")
    if header.startswith("Bearer "):
        return header.removeprefix("Bearer ").strip()
    return request.headers.get("x-api-key", "").strip()


def source_system(request: Request) -> str:
    """The source system whose API key came with the request (401 otherwise)."""
    key = presented_key(request)
    name = _setup(request)[1].authenticate(key) if key else None
    if name is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "a source system's API key is required (Authorization: Bearer <key>)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return name


SourceDep = Annotated[str, Depends(source_system)]


def _answer(result: IngestResult) -> dict[str, Any]:
    return {"accepted": result.accepted, "duplicates": result.duplicates,
            "cases": list(result.cases)}  # fmt: skip


def _ingest(request: Request, source: str, events: list[EventBase]) -> dict[str, Any]:
    ledger, _ = _setup(request)
    try:
        result = ledger.ingest(source, events)
    except EventConflict as conflict:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            [{"loc": "event_id", "message": f"event_id {event_id!r} was stored before with"
              " other content", "type": "event_conflict"} for event_id in conflict.event_ids],
        ) from conflict  # fmt: skip
    if result.cases:
        _publish(request)
    return _answer(result)


@router.post("/events")
async def intake_events(request: Request, source: SourceDep) -> dict[str, Any]:
    body = await request.body()
    try:
        batch = EventBatch.model_validate_json(body)
    except ValidationError as error:
        return JSONResponse(  # type: ignore[return-value]
            {"detail": validation_details(error)}, 422
        )
    return await run_in_threadpool(_ingest, request, source, list(batch.events))


@router.post("/file")
async def intake_file(request: Request, source: SourceDep) -> dict[str, Any]:
    body = await request.body()
    if len(body) > MAX_FILE_BYTES:
        raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "file over 32 MiB")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in ("text/csv", "application/x-ndjson", "application/jsonl"):
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            "send the file as text/csv or application/x-ndjson (JSON lines)",
        )
    parsed = parse_csv(body) if kind == "text/csv" else parse_jsonl(body)
    if not parsed.ok:
        detail = [
            {"line": error.line, **detail} for error in parsed.errors for detail in error.details
        ]
        return JSONResponse(  # type: ignore[return-value]
            {"detail": detail}, 422
        )
    events: list[EventBase] = list(parsed.events)
    if not events:
        raise HTTPException(422, "the file holds no events")
    answer = await run_in_threadpool(_ingest, request, source, events)
    return {**answer, "lines": len(events), "encoding": parsed.encoding}
