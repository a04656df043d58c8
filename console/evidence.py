"""Evidence API: event clip playback, evidence exports (证据导出) and their download.

* `GET /api/events/{id}/clip`: the event's clip (any logged-in user), a FileResponse that
  answers HTTP Range, audited as "playback";
* `POST /api/exports` `{camera, from, to}` or `{event_id}`: an inspector (or admin) exports a
  range of at most an hour or an event; the export itself writes the audit entry "export";
* `GET /api/exports/{id}/{file}`: download one file of an export (inspector or admin),
  audited as "export_download". Only the fixed file names of an export are served, from a
  folder whose name matches the export id pattern: no path can leave the exports folder.

The routes read `app.state.recordings` (SegmentIndex | None), `app.state.clips`
(ClipStore | None), `app.state.site_key` (bytes) and `app.state.exports_dir` (Path).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from console.auth import (
    MAX_ID,
    InspectorDep,
    RowId,
    StoreDep,
    UserDep,
    current_user,
    problem,
    unprocessable,
)
from hallwatch.config import Site
from hallwatch.events import Event
from hallwatch.store import Store, User
from recordings.clips import ClipStore
from recordings.cut import NoFootage
from recordings.export import (
    EXPORT_FILES,
    EXPORT_ID_PATTERN,
    MANIFEST,
    SIGNATURE,
    export_event,
    export_range,
    read_manifest,
)
from recordings.index import SegmentIndex

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api", dependencies=[Depends(current_user)])

MAX_EXPORT_S = 3600.0
TEXT = "text/plain; charset=utf-8"
MEDIA_TYPES = {".mp4": "video/mp4", ".json": "application/json", ".sig": TEXT, ".txt": TEXT}


class ExportBody(BaseModel):
    """Either an event or a camera with a time range (UNIX seconds)."""

    model_config = ConfigDict(extra="forbid")

    camera: str | None = Field(default=None, min_length=1, max_length=64)
    since: float | None = Field(default=None, alias="from", ge=0, allow_inf_nan=False)
    until: float | None = Field(default=None, alias="to", ge=0, allow_inf_nan=False)
    event_id: int | None = Field(default=None, ge=1, le=MAX_ID)


def _problem(field: str, msg: str, kind: str = "value_error") -> dict[str, Any]:
    return problem("body", field, msg, kind)


def _range_problems(body: ExportBody, site: Site) -> list[dict[str, Any]]:
    problems = [_problem(name, "Field required", "missing")
                for name, value in (("camera", body.camera), ("from", body.since),
                                    ("to", body.until)) if value is None]  # fmt: skip
    if body.camera is not None and body.camera not in {c.id for c in site.cameras}:
        problems.append(_problem("camera", f"unknown camera '{body.camera}'"))
    if body.since is None or body.until is None:
        return problems
    if body.until <= body.since:
        problems.append(_problem("to", "'to' must be after 'from'"))
    elif body.until - body.since > MAX_EXPORT_S:
        problems.append(_problem("to", "at most one hour per export"))
    return problems


def _event_of(body: ExportBody, store: Store) -> tuple[Event | None, list[dict[str, Any]]]:
    """The event to export, or the problems of the request."""
    if body.camera is not None or body.since is not None or body.until is not None:
        return None, [_problem("event_id", "give either event_id or camera, from and to")]
    try:
        return store.get_event(body.event_id or 0), []
    except KeyError:
        return None, [_problem("event_id", f"no event {body.event_id}")]


def _exports_dir(request: Request) -> tuple[Path, bytes]:
    folder: Path | None = getattr(request.app.state, "exports_dir", None)
    key: bytes | None = getattr(request.app.state, "site_key", None)
    if folder is None or not key:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "exports are not configured")
    return folder, key


def _files_json(export_id: str, folder: Path, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    listed = [{"name": f["name"], "bytes": f["bytes"], "sha256": f["sha256"]}
              for f in manifest["files"]]  # fmt: skip
    listed += [{"name": name, "bytes": (folder / name).stat().st_size, "sha256": None}
               for name in (MANIFEST, SIGNATURE)]  # fmt: skip
    return [{**entry, "url": f"/api/exports/{export_id}/{entry['name']}"} for entry in listed]


def _export_json(folder: Path) -> dict[str, Any]:
    manifest = read_manifest(folder)
    return {"id": folder.name, "files": _files_json(folder.name, folder, manifest),
            "manifest": manifest}  # fmt: skip


def _state(request: Request, name: str) -> Any:
    return getattr(request.app.state, name, None)


def _export(request: Request, body: ExportBody, event: Event | None, user: User) -> Path:
    """Run the export (blocking: call it in a worker thread); the export folder."""
    out_dir, key = _exports_dir(request)
    index: SegmentIndex | None = _state(request, "recordings")
    site_name = request.app.state.site.name
    if event is not None:
        clips: ClipStore | None = _state(request, "clips")
        return export_event(index, clips, event, user=user.username, out_dir=out_dir, key=key,
                            site_name=site_name)  # fmt: skip
    if index is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "recording is not enabled")
    assert body.camera is not None and body.since is not None and body.until is not None
    return export_range(index, body.camera, body.since, body.until, user=user.username,
                        out_dir=out_dir, key=key, site_name=site_name)  # fmt: skip


@router.post("/exports", status_code=status.HTTP_201_CREATED)
async def create_export(
    body: ExportBody, request: Request, store: StoreDep, user: InspectorDep
) -> dict[str, Any]:
    event = None
    if body.event_id is None:
        problems = _range_problems(body, request.app.state.site)
    else:
        event, problems = await run_in_threadpool(_event_of, body, store)
    if problems:
        raise unprocessable(problems)
    try:
        folder = await run_in_threadpool(_export, request, body, event, user)
    except NoFootage as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from None
    return await run_in_threadpool(_export_json, folder)


def _list_exports(out_dir: Path, limit: int) -> list[dict[str, Any]]:
    """Finished exports, newest first (their ids begin with the UTC creation time)."""
    if not out_dir.is_dir():
        return []
    finished = [p.name for p in out_dir.iterdir() if p.is_dir()]  # building ones are hidden
    names = sorted((n for n in finished if re.match(EXPORT_ID_PATTERN, n)), reverse=True)
    return [_export_json(out_dir / name) for name in names[:limit]]


@router.get("/exports")
async def list_exports(
    request: Request, user: InspectorDep, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[dict[str, Any]]:
    out_dir, _ = _exports_dir(request)
    return await run_in_threadpool(_list_exports, out_dir, limit)


@router.get("/exports/{export_id}/{name}")
async def export_file(
    export_id: str, name: str, request: Request, store: StoreDep, user: InspectorDep
) -> FileResponse:
    out_dir, _ = _exports_dir(request)
    if not re.match(EXPORT_ID_PATTERN, export_id) or name not in EXPORT_FILES:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such export file")
    path = out_dir / export_id / name
    if not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such export file")
    await run_in_threadpool(store.audit, user.username, "export_download", f"{export_id}/{name}")
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], filename=name)


@router.get("/events/{event_id}/clip")
async def event_clip(
    event_id: RowId, request: Request, store: StoreDep, user: UserDep
) -> FileResponse:
    clips: ClipStore | None = _state(request, "clips")
    if clips is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "event clips are not enabled")
    clip = await run_in_threadpool(clips.clip_for_event, event_id)
    if clip is None:
        try:
            await run_in_threadpool(store.get_event, event_id)
        except KeyError:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such event") from None
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no clip for this event yet")
    path = clips.path_of(clip)
    if not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, "the clip file is missing")
    await run_in_threadpool(store.audit, user.username, "playback", clip.path,
                            camera=clip.camera, event=event_id, clip=clip.id)  # fmt: skip
    return FileResponse(path, media_type="video/mp4", filename=path.name,
                        content_disposition_type="inline")  # fmt: skip
