"""Recordings API: the timeline of segments and gaps per camera, and segment playback.

Playback is a FileResponse, which answers HTTP Range requests, so a <video> element can seek.
Every playback is written to the audit log.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from console.auth import (
    RowId,
    StoreDep,
    UserDep,
    current_user,
    problem,
    sees_hall,
    unprocessable,
)
from hallwatch.store import Store
from recordings.index import Segment, SegmentIndex

router = APIRouter(prefix="/api/recordings", dependencies=[Depends(current_user)])

MAX_RANGE_S = 7 * 24 * 3600


def _index(request: Request) -> SegmentIndex:
    index: SegmentIndex | None = request.app.state.recordings
    if index is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "recording is not enabled")
    return index


IndexDep = Annotated[SegmentIndex, Depends(_index)]


def _segment_json(segment: Segment) -> dict[str, Any]:
    return {
        "id": segment.id,
        "start": segment.start,
        "end": segment.end,
        "bytes": segment.bytes,
        "state": segment.state,
        "codec": segment.codec,
        "width": segment.width,
        "height": segment.height,
        "url": f"/api/recordings/{segment.id}/video" if segment.closed else None,
    }


@router.get("")
def timeline(
    request: Request,
    store: StoreDep,
    index: IndexDep,
    camera: Annotated[str, Query(min_length=1, max_length=64)],
    since: Annotated[float, Query(alias="from", ge=0, description="UNIX time")],
    until: Annotated[float, Query(alias="to", ge=0, description="UNIX time")],
) -> dict[str, Any]:
    problems = []
    if camera not in {c.id for c in request.app.state.site.cameras}:
        problems.append(problem("query", "camera", f"unknown camera '{camera}'"))
    if until <= since:
        problems.append(problem("query", "to", "'to' must be after 'from'"))
    elif until - since > MAX_RANGE_S:
        problems.append(problem("query", "to", "at most 7 days per request"))
    if problems:
        raise unprocessable(problems)
    segments = index.overlapping(camera, since, until)
    gaps = store.gaps(camera, since, until)
    return {
        "camera": camera,
        "from": since,
        "to": until,
        "segments": [_segment_json(segment) for segment in segments],
        "gaps": [{"start": start, "end": end} for start, end in gaps],
    }


@router.get("/{segment_id}/video")
async def video(segment_id: RowId, index: IndexDep, store: StoreDep, user: UserDep) -> FileResponse:
    try:
        segment = index.get(segment_id)
    except KeyError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such segment") from None
    path = index.path_of(segment)
    if not segment.closed or not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, "segment is not available")
    await run_in_threadpool(store.audit, user.username, "playback", segment.path,
                            camera=segment.camera, segment=segment.id)  # fmt: skip
    return FileResponse(path, media_type="video/mp4", filename=path.name,
                        content_disposition_type="inline")  # fmt: skip


MAX_MARKS = 5000  # event marks per overview: a day of a busy camera fits


def _marks(store: Store, camera: str, since: float, until: float) -> list[dict[str, Any]]:
    """The camera's events overlapping [since, until), oldest first, as timeline marks."""
    rows = store.query(
        'SELECT id, type, window, start, "end" FROM events WHERE camera = ? AND start < ?'
        ' AND ("end" IS NULL OR "end" >= ?) ORDER BY start, id LIMIT ?',
        (camera, until, since, MAX_MARKS),
    )
    return [{"id": row["id"], "type": row["type"], "window": row["window"],
             "start": row["start"], "end": row["end"]} for row in rows]  # fmt: skip


@router.get("/overview")
def overview(
    request: Request,
    store: StoreDep,
    index: IndexDep,
    user: UserDep,
    camera: Annotated[str, Query(min_length=1, max_length=64)],
    since: Annotated[float, Query(alias="from", ge=0, description="UNIX time")],
    until: Annotated[float, Query(alias="to", ge=0, description="UNIX time")],
) -> dict[str, Any]:
    """What the playback timeline draws for a range: the segments and gaps of
    `GET /api/recordings`, and the camera's events as marks (at most MAX_MARKS, oldest first;
    `truncated` says when there were more). 403 for a camera outside the user's halls."""
    answer = timeline(request, store, index, camera, since, until)
    hall = request.app.state.site.camera(camera).hall
    if not sees_hall(user, hall):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "you may not see this camera's hall")
    marks = _marks(store, camera, since, until)
    answer["events"] = marks
    answer["truncated"] = len(marks) >= MAX_MARKS
    return answer
