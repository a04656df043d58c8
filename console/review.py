"""Operators acknowledge alarms; inspectors review events (verdicts) in a queue.

* `POST /api/events/{id}/ack` (operator): idempotent; audited `alarm_ack` when stored;
* `PUT /api/events/{id}/verdict` (inspector): appends a verdict; audited `verdict`;
* `GET /api/events/{id}/review` (inspector): the event with its ack, verdict history, clip,
  zones (for the player's overlay), hall and department;
* `GET /api/review` (inspector): the review queue, filtered, newest first, with the total.

Admin passes every role. A user limited to halls sees only the events of cameras in those
halls (any other event answers 404; asking for another hall's queue answers 403). Acks and
verdicts bump the event's seq, so the event stream re-sends
the event to every console.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from console.api import visible_cameras
from console.auth import (
    InspectorDep,
    Offset,
    OperatorDep,
    RowId,
    StoreDep,
    current_user,
    problem,
    sees_hall,
    site_of,
    unprocessable,
)
from hallwatch import reviews
from hallwatch.config import Site
from hallwatch.events import Event
from hallwatch.reviews import MAX_NOTE_CHARS, QueueFilter, Verdict, VerdictFilter
from hallwatch.store import Store, User
from recordings.clips import ClipStore

router = APIRouter(prefix="/api", dependencies=[Depends(current_user)])

DEFAULT_FPS = 25.0


class VerdictBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    verdict: Verdict = Field(description="confirmed, false_alarm or follow_up")
    note: str = Field(default="", max_length=MAX_NOTE_CHARS, description="The inspector's note")


def _event_or_404(store: Store, site: Site, user: User, event_id: int) -> Event:
    """The event, if it exists and the user may see its camera's hall."""
    try:
        event = store.get_event(event_id)
    except KeyError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such event") from None
    shown = visible_cameras(site, user)
    if shown is not None and event.camera not in shown:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such event")
    return event


@router.post("/events/{event_id}/ack")
async def acknowledge(
    event_id: RowId, request: Request, store: StoreDep, user: OperatorDep
) -> dict[str, Any]:
    await run_in_threadpool(_event_or_404, store, site_of(request), user, event_id)
    try:
        ack, stored = await run_in_threadpool(
            reviews.acknowledge, store, event_id, user.username, time.time()
        )
    except KeyError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such event") from None
    if stored:
        await run_in_threadpool(store.audit, user.username, "alarm_ack", f"event/{event_id}")
    return {"event_id": event_id, "ack": ack.to_json(), "stored": stored}


@router.put("/events/{event_id}/verdict")
async def give_verdict(
    event_id: RowId, body: VerdictBody, request: Request, store: StoreDep, user: InspectorDep
) -> dict[str, Any]:
    await run_in_threadpool(_event_or_404, store, site_of(request), user, event_id)
    try:
        entry = await run_in_threadpool(
            reviews.add_verdict, store, event_id, body.verdict, body.note, user.username,
            time.time(),
        )  # fmt: skip
    except KeyError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such event") from None
    await run_in_threadpool(store.audit, user.username, "verdict", f"event/{event_id}",
                            verdict=entry.verdict, note_chars=len(entry.note))  # fmt: skip
    history = await run_in_threadpool(reviews.verdict_history, store, event_id)
    return {"verdict": entry.to_json(), "history": [item.to_json() for item in history]}


def _zones(site: Site, event: Event) -> list[dict[str, Any]]:
    """Polygons (0–1) of the event's window, or of every window on its camera, and the
    camera's queue and tender-site zones."""
    window = site.window_by_id(event.window)
    windows = [window] if window is not None else site.windows_of(event.camera)
    zones = []
    for w in windows:
        for kind in ("staff_zone", "queue_zone", "customer_zone"):
            polygon = getattr(w, kind)
            if polygon is not None:
                zones.append({"id": w.id, "name": w.name, "kind": kind, "polygon": polygon})
    for queue in site.queues_of(event.camera):
        zones.append({"id": queue.id, "name": queue.name, "kind": "queue", "polygon": queue.zone})
    if any(camera.id == event.camera for camera in site.cameras):
        for zone in site.camera(event.camera).zones:
            zones.append({"id": zone.id, "name": zone.name, "kind": "site", "polygon": zone.zone})
    return zones


def _place(site: Site, event: Event) -> dict[str, Any]:
    camera = next((c for c in site.cameras if c.id == event.camera), None)
    hall = None
    if camera is not None and camera.hall is not None:
        hall = next(({"id": h.id, "name": h.name} for h in site.halls if h.id == camera.hall),
                    {"id": camera.hall, "name": camera.hall})  # fmt: skip
    window = site.window_by_id(event.window)
    department = window.department if window is not None else event.details.get("department")
    return {
        "hall": hall,
        "department": department,
        "camera_name": None if camera is None else camera.name,
        "window_name": None if window is None else window.name,
    }


def _clip_json(clips: ClipStore | None, event_id: int) -> dict[str, Any]:
    clip = None if clips is None else clips.clip_for_event(event_id)
    if clip is None or not clips or not clips.path_of(clip).is_file():
        return {"available": False, "enabled": clips is not None}
    span = clip.end - clip.start
    fps = clip.frames / span if clip.frames > 0 and span > 0 else DEFAULT_FPS
    return {"available": True, "enabled": True, "url": f"/api/events/{event_id}/clip",
            "start": clip.start, "end": clip.end, "frames": clip.frames,
            "fps": round(fps, 3)}  # fmt: skip


def _review(request: Request, store: Store, user: User, event_id: int) -> dict[str, Any]:
    """The review page of one event (blocking: run it in a worker thread)."""
    site = site_of(request)
    event = _event_or_404(store, site, user, event_id)
    history = reviews.verdict_history(store, event_id)
    ack = reviews.ack_of(store, event_id)
    review = reviews.Review(ack, history[0] if history else None)
    return {
        "event": reviews.event_json(event, review),
        "ack": None if ack is None else ack.to_json(),
        "history": [entry.to_json() for entry in history],
        "clip": _clip_json(getattr(request.app.state, "clips", None), event_id),
        "zones": _zones(site, event),
        **_place(site, event),
    }


@router.get("/events/{event_id}/review")
async def event_review(
    event_id: RowId, request: Request, store: StoreDep, user: InspectorDep
) -> dict[str, Any]:
    return await run_in_threadpool(_review, request, store, user, event_id)


@router.get("/review")
async def review_queue(
    request: Request,
    store: StoreDep,
    user: InspectorDep,
    hall: Annotated[str | None, Query(max_length=64)] = None,
    department: Annotated[str | None, Query(max_length=200)] = None,
    window: Annotated[str | None, Query(max_length=64)] = None,
    camera: Annotated[str | None, Query(max_length=64)] = None,
    type: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[float | None, Query(alias="from", ge=0, description="UNIX time")] = None,
    until: Annotated[float | None, Query(alias="to", ge=0, description="UNIX time")] = None,
    verdict: Annotated[VerdictFilter, Query()] = VerdictFilter.ANY,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """The review queue, newest first. verdict: unreviewed (no verdict yet), reviewed (any
    verdict), confirmed / false_alarm / follow_up (the newest verdict), any (no filter)."""
    site = site_of(request)
    given = QueueFilter(hall, department, window, camera, type, since, until, verdict)
    problems = reviews.filter_problems(site, given)
    if problems:
        raise unprocessable([problem("query", name, msg) for name, msg in problems])
    if hall is not None and not sees_hall(user, hall):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"hall '{hall}' is not yours")
    query = reviews.resolve_filter(site, given, limit, offset)
    shown = visible_cameras(site, user)
    if shown is not None:  # the user's halls only
        limited = shown if query.cameras is None else query.cameras & shown
        query = dataclasses.replace(query, cameras=limited)
    items, total = await run_in_threadpool(reviews.review_queue, store, query)
    enriched = await run_in_threadpool(reviews.events_json, store, items)
    return {"items": enriched, "total": total, "limit": limit, "offset": offset}
