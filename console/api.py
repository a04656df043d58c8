"""The JSON API: site, cameras, windows, events and the live event stream (SSE).

Every route here needs a logged-in user (the router's dependency): secure by default.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from console.auth import (
    Offset,
    Role,
    SiteDep,
    StoreDep,
    UserDep,
    current_user,
    problem,
    require_role,
    sees_hall,
    unprocessable,
    visible_halls,
)
from hallwatch import reviews
from hallwatch.config import Site, calendar_gap_years, site_years
from hallwatch.store import EventQuery, User
from ingest.source import redact_url

router = APIRouter(prefix="/api", dependencies=[Depends(current_user)])
WATCH = [Depends(require_role(Role.OPERATOR, Role.INSPECTOR))]  # cameras, windows, events

SSE_POLL_S = 0.5
SSE_HEARTBEAT_S = 15.0


def visible_cameras(site: Site, user: User) -> frozenset[str] | None:
    """The cameras in the user's halls; None when the user sees every hall."""
    if visible_halls(user) is None:
        return None
    return frozenset(camera.id for camera in site.cameras if sees_hall(user, camera.hall))


@router.get("/me")
def me(user: UserDep) -> dict[str, str]:
    return {"username": user.username, "role": user.role}


@router.get("/site")
def site_info(site: SiteDep) -> dict[str, Any]:
    now = time.time()
    return {
        "name": site.name,
        "halls": [hall.model_dump() for hall in site.halls],
        "timezone": site.schedule.timezone,
        "calendar_gaps": calendar_gap_years(site, site_years(site, now)),
        "server_time": now,
    }


def _camera_json(request: Request, site: Site, camera_id: str) -> dict[str, Any]:
    camera = site.camera(camera_id)
    live = request.app.state.live.live(camera_id)
    # the zones for the wall's overlay (drawn by the browser over the video): relative 0-1
    zones: list[dict[str, Any]] = []
    for window in site.windows_of(camera.id):
        for kind, polygon in (("staff", window.staff_zone), ("queue", window.queue_zone),
                              ("customer", window.customer_zone)):  # fmt: skip
            if polygon is not None:
                zones.append({"kind": kind, "id": window.id, "name": window.name,
                              "polygon": [list(point) for point in polygon]})  # fmt: skip
    for queue in site.queues_of(camera.id):
        zones.append({"kind": "queue", "id": queue.id, "name": queue.name,
                      "polygon": [list(point) for point in queue.zone]})  # fmt: skip
    for zone in camera.zones:
        zones.append({"kind": "site", "id": zone.id, "name": zone.name,
                      "polygon": [list(point) for point in zone.zone]})  # fmt: skip
    return {
        "id": camera.id,
        "name": camera.name,
        "hall": camera.hall,
        "kind": camera.kind.value,
        "url": redact_url(camera.url),
        "sub_url": None if camera.sub_url is None else redact_url(camera.sub_url),
        "windows": [window.id for window in site.windows_of(camera.id)],
        "status": request.app.state.live.camera_status(camera_id),
        "live": None if live is None else live.to_json(),
        "zones": zones,
    }


@router.get("/cameras", dependencies=WATCH)
def cameras(request: Request, site: SiteDep, user: UserDep) -> list[dict[str, Any]]:
    shown = visible_cameras(site, user)
    return [
        _camera_json(request, site, camera.id)
        for camera in site.cameras
        if shown is None or camera.id in shown
    ]


def _known_camera(site: Site, camera_id: str, user: User) -> None:
    shown = visible_cameras(site, user)
    known = {camera.id for camera in site.cameras if shown is None or camera.id in shown}
    if camera_id not in known:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown camera '{camera_id}'")


@router.get("/cameras/{camera_id}", dependencies=WATCH)
def camera(camera_id: str, request: Request, site: SiteDep, user: UserDep) -> dict[str, Any]:
    _known_camera(site, camera_id, user)
    return _camera_json(request, site, camera_id)


@router.get("/cameras/{camera_id}/snapshot.jpg", dependencies=WATCH)
def snapshot(camera_id: str, request: Request, site: SiteDep, user: UserDep) -> Response:
    _known_camera(site, camera_id, user)
    live = request.app.state.live.live(camera_id)
    if live is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no frame from this camera yet")
    return Response(live.jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.get("/windows", dependencies=WATCH)
def windows(request: Request, site: SiteDep, user: UserDep) -> list[dict[str, Any]]:
    result = []
    shown = visible_cameras(site, user)
    for window in site.windows:
        if shown is not None and window.camera not in shown:
            continue
        live = request.app.state.live.live(window.camera)
        state = live.windows.get(window.id) if live is not None else None
        result.append({**window.model_dump(mode="json"), "live": state})
    return result


@router.get("/events", dependencies=WATCH)
def events(
    store: StoreDep,
    site: SiteDep,
    user: UserDep,
    window: Annotated[str | None, Query(max_length=64)] = None,
    camera: Annotated[str | None, Query(max_length=64)] = None,
    type: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[float | None, Query(alias="from", ge=0, description="UNIX time")] = None,
    until: Annotated[float | None, Query(alias="to", ge=0, description="UNIX time")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    if since is not None and until is not None and until < since:
        raise unprocessable([problem("query", "to", "'to' must not be before 'from'")])
    cameras = visible_cameras(site, user)
    query = EventQuery(window, camera, type, since, until, limit, offset, cameras)
    items, total = store.list_events(query)
    return {"items": reviews.events_json(store, items), "total": total}


@router.get("/events/stream", dependencies=WATCH)
async def event_stream(
    request: Request, store: StoreDep, site: SiteDep, user: UserDep
) -> StreamingResponse:
    """Server-sent events: every new or changed event, as it is stored."""
    last_id = request.headers.get("last-event-id", "")
    start_seq = int(last_id) if last_id.isdigit() else await run_in_threadpool(store.max_seq)
    await run_in_threadpool(store.audit, user.username, "live_view", "events/stream")
    return StreamingResponse(
        _sse(request, store, start_seq, visible_cameras(site, user)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _sse(
    request: Request, store: Any, seq: int, cameras: frozenset[str] | None
) -> AsyncIterator[str]:
    yield "retry: 2000\n\n"
    quiet_since = time.monotonic()
    while not await request.is_disconnected():
        changed = await run_in_threadpool(store.events_after, seq)
        seq = changed[-1].seq if changed else seq
        if cameras is not None:  # the user's halls only
            changed = [event for event in changed if event.camera in cameras]
        enriched = await run_in_threadpool(reviews.events_json, store, changed)
        for event, data in zip(changed, enriched, strict=True):
            seq = event.seq
            payload = json.dumps(data, ensure_ascii=False)
            yield f"id: {seq}\nevent: event\ndata: {payload}\n\n"
        if changed:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > SSE_HEARTBEAT_S:
            quiet_since = time.monotonic()
            yield ": keep-alive\n\n"
        await asyncio.sleep(SSE_POLL_S)
