"""Recordings API: the timeline of segments and gaps per camera, and segment playback.

Playback is a FileResponse, which answers HTTP Range requests, so a <video> element can seek.
Every playback is written to the audit log.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from console.auth import StoreDep, UserDep, current_user, problem, unprocessable
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
async def video(segment_id: int, index: IndexDep, store: StoreDep, user: UserDep) -> FileResponse:
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
