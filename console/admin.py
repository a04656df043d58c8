"""Admin: cameras, windows, queues, tender-site zones, schedule and thresholds edited in the
console and written back to cameras.yaml (comments kept; hallwatch.config_edit).

Admins only (the router's dependency). Every edit names the version (sha256) of the file it
was based on: an older one gets 409. The edited file must pass `check-config`'s checks, else
422 with each located problem (file, line, key, reason), the ones inside the edited item
placed on its form fields. A saved edit goes to the running analysis where it can; the answer
says when (part of) it waits for a restart. Every change is audited as `config_change`
(section, id, the keys that changed; never a value, so never a password).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from console.auth import Role, StoreDep, UserDep, problem, require_role, unprocessable
from hallwatch.config import Site, Thresholds
from hallwatch.config_edit import (
    NULL,
    ApplyResult,
    ConfigFile,
    Edit,
    InvalidEdit,
    ItemPath,
    NotFound,
    Saved,
    SecretMissing,
    StaleVersion,
    add_item,
    remove_item,
    restore_secrets,
    set_camera,
    set_item,
    set_section,
)
from hallwatch.store import Store, User
from ingest.source import redact_url

router = APIRouter(
    prefix="/api/admin", tags=["admin"], dependencies=[Depends(require_role(Role.ADMIN))]
)
log = logging.getLogger(__name__)

_SAVING = threading.Lock()  # one edit at a time: write, then apply, in order

IDENT = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
IdPath = Annotated[str, Path(pattern=IDENT, description="Id in cameras.yaml")]
Version = Annotated[
    str, Field(pattern=r"^[0-9a-f]{64}$", description="The file's version this edit is based on")
]
VersionQuery = Annotated[
    str, Query(pattern=r"^[0-9a-f]{64}$", description="The file's version this edit is based on")
]
Text = Annotated[str, Field(min_length=1, max_length=200)]
Point = tuple[Annotated[float, Field(ge=0, le=1)], Annotated[float, Field(ge=0, le=1)]]
PolygonBody = Annotated[list[Point], Field(max_length=64, description="[[x, y], ...], 0–1")]
Clock = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="'HH:MM'")]
COORDINATE_DIGITS = 4  # 1/10000 of the frame: finer than any camera's pixels


def _encodable(value: Any) -> None:
    if isinstance(value, str):
        value.encode("utf-8")  # a lone surrogate (valid JSON) cannot be written to the file
    elif isinstance(value, dict):
        for item in value.values():
            _encodable(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _encodable(item)


class Body(BaseModel):
    # no allow_inf_nan=False: FastAPI's 422 would echo the NaN and fail to render (a 500);
    # the config checks refuse a NaN with a located problem instead
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _utf8(self) -> Body:
        try:
            _encodable(self.model_dump())
        except UnicodeEncodeError as error:
            raise ValueError("text must be valid Unicode (UTF-8)") from error
        return self


class Range(Body):
    start: Clock
    end: Clock


class CameraFields(Body):
    name: Text | None = None
    hall: Text | None = None
    url: Annotated[str, Field(min_length=1, max_length=2000)] | None = Field(
        default=None, description="Sent back as shown (redacted), the stored URL stays"
    )
    sub_url: Annotated[str, Field(min_length=1, max_length=2000)] | None = None
    kind: Literal["window", "tender_site"] | None = None
    analysis_fps: float | None = None
    record: bool | None = None
    continuous_days: float | None = None
    event_days: float | None = None


class NewCamera(CameraFields):
    version: Version
    id: Annotated[str, Field(pattern=IDENT)]


class CameraChange(CameraFields):
    version: Version


class WindowFields(Body):
    name: Text | None = None
    department: Text | None = None
    camera: Text | None = None
    staff_zone: PolygonBody | None = None
    queue_zone: PolygonBody | None = None
    customer_zone: PolygonBody | None = None
    staff_on_duty: int | None = None


class NewWindow(WindowFields):
    version: Version
    id: Annotated[str, Field(pattern=IDENT)]


class WindowChange(WindowFields):
    version: Version


class QueueFields(Body):
    name: Text | None = None
    camera: Text | None = None
    zone: PolygonBody | None = None
    max_length: int | None = None
    max_wait_s: float | None = None


class NewQueue(QueueFields):
    version: Version
    id: Annotated[str, Field(pattern=IDENT)]


class QueueChange(QueueFields):
    version: Version


class SiteZoneFields(Body):
    name: Text | None = None
    zone: PolygonBody | None = None
    restricted_hours: list[Range] | None = Field(default=None, max_length=24)
    max_persons: int | None = None


class NewSiteZone(SiteZoneFields):
    version: Version
    id: Annotated[str, Field(pattern=IDENT)]


class SiteZoneChange(SiteZoneFields):
    version: Version


class ScheduleChange(Body):
    version: Version
    timezone: Text | None = None
    weekdays: list[int] | None = Field(default=None, max_length=7)
    hours: Range | None = None
    lunch_break: Range | None = Field(default=None, description="null: no lunch break")
    statutory_calendar: bool | None = None
    holidays: list[dt.date] | None = Field(default=None, max_length=400)
    workdays: list[dt.date] | None = Field(default=None, max_length=400)


class ThresholdsChange(Body):
    version: Version
    values: dict[str, int | float] = Field(max_length=50, description="Threshold name → value")


# --- bodies → YAML values --------------------------------------------------------------------


POLYGON_KEYS = frozenset({"staff_zone", "queue_zone", "customer_zone", "zone"})


def _yaml_value(key: str, value: Any) -> Any:
    if key in POLYGON_KEYS:  # rounded, as [x, y] pairs
        return [[round(x, COORDINATE_DIGITS), round(y, COORDINATE_DIGITS)] for x, y in value]
    return value


def fields_of(body: Body, *, keep_null: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The fields the client sent (not `version`): None removes a key (its default), except
    in `keep_null`, where it is written as null."""
    sent = body.model_dump(exclude_unset=True, exclude={"version"})
    result: dict[str, Any] = {}
    for key, value in sent.items():
        if value is None:
            result[key] = NULL if key in keep_null else None
        else:
            result[key] = _yaml_value(key, value)
    return result


def new_item_fields(body: Body) -> dict[str, Any]:
    """A new item's fields, id first (the order they are written in)."""
    fields = fields_of(body)
    ident = fields.pop("id")
    return {"id": ident, **{k: v for k, v in fields.items() if v is not None}}


# --- answers ---------------------------------------------------------------------------------


SECRET = "***"


def redacted_site(site: Site) -> dict[str, Any]:
    """The site as JSON without secrets: URL credentials, the GB password, the upload key."""
    data = site.model_dump(mode="json")
    for camera in data["cameras"]:
        for key in ("url", "sub_url"):
            if camera.get(key):
                camera[key] = redact_url(camera[key])
    relay = data["relay"]
    for target in relay["push"]:
        target["url"] = redact_url(target["url"])
    if relay["gb28181"] is not None:
        relay["gb28181"]["password"] = SECRET
    if relay["upload"] is not None:
        relay["upload"]["key"] = SECRET
        relay["upload"]["url"] = redact_url(relay["upload"]["url"])
    return data


def located(error: InvalidEdit) -> list[dict[str, Any]]:
    """The check's problems as field-level details: a problem inside the edited item is on the
    body's field of that name, others on the config key they name."""
    details = []
    for found in error.problems:
        key = found.key
        if key == error.key or key.startswith((f"{error.key}.", f"{error.key}[")):
            rest = key[len(error.key) :].lstrip(".")
            field = re.split(r"[.\[]", rest, maxsplit=1)[0] or error.key.split("[")[0]
            loc: list[Any] = ["body", field]
        else:
            loc = ["config", key or "(top level)"]
        details.append(
            {"loc": loc, "msg": found.reason, "type": found.code or "config_invalid",
             "ctx": dict(found.params), "file": found.file, "line": found.line, "key": key,
             "located": str(found)}
        )  # fmt: skip
    return details


def config_file(request: Request) -> ConfigFile:
    path = request.app.state.settings.config_path
    if path is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "this console has no editable config file")
    found: ConfigFile | None = getattr(request.app.state, "config_file", None)
    if found is None or found.path != path:
        found = ConfigFile(path)
        request.app.state.config_file = found
    return found


ConfigDep = Annotated[ConfigFile, Depends(config_file)]


@dataclass(frozen=True)
class Editing:
    """One admin's edit request: who, where it is written, and what it is applied to."""

    request: Request
    user: User
    store: Store
    config: ConfigFile

    def save(self, version: str, edit: Edit, target: tuple[str, str]) -> dict[str, Any]:
        """Write `edit`, apply the new site to the running service, audit it; the answer."""
        section, ident = target
        with _SAVING:
            saved = _write(self.config, version, edit)
            result = ApplyResult(True, False)
            if saved.changed:
                result = self.request.app.state.live.apply_site(saved.snapshot.site)
                if result.applied:
                    self.request.app.state.site = saved.snapshot.site
                summary = f"{ident}: {'/'.join(saved.changed)}"
                self.store.audit(
                    self.user.username, "config_change", f"{section}/{ident}", section=section,
                    id=ident, changed=saved.changed, summary=summary,
                    restart_required=result.restart_required,
                )  # fmt: skip
                log.info("config %s/%s changed by %s: %s", section, ident, self.user.username,
                         summary)  # fmt: skip
        return {"version": saved.snapshot.version, "changed": saved.changed, **result.to_json()}


def _write(config: ConfigFile, version: str, edit: Edit) -> Saved:
    """The edit written, or the HTTP error that says why not."""
    try:
        return config.edit(version, edit)
    except StaleVersion as error:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            "cameras.yaml changed since it was loaded (another admin or a hand edit):"
            " reload it and make the change again",
        ) from error
    except NotFound as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from error
    except SecretMissing as error:
        raise unprocessable([problem("body", "url", str(error))]) from error
    except InvalidEdit as error:
        raise unprocessable(located(error)) from error


def editing(request: Request, user: UserDep, store: StoreDep, config: ConfigDep) -> Editing:
    return Editing(request, user, store, config)


EditingDep = Annotated[Editing, Depends(editing)]


# --- routes ----------------------------------------------------------------------------------


@router.get("/config")
def get_config(request: Request, config: ConfigDep) -> dict[str, Any]:
    """The file's site (camera URLs redacted), its version, and whether it is what runs."""
    try:
        snapshot = config.read()
    except Exception as error:  # a hand edit broke the file: say what check-config says
        raise HTTPException(status.HTTP_409_CONFLICT, f"cameras.yaml: {error}") from error
    return {
        "version": snapshot.version,
        "file": config.file,
        "site": redacted_site(snapshot.site),
        "running": snapshot.site == request.app.state.site,
        "thresholds": list(Thresholds.model_fields),
        "threshold_fields": threshold_fields(),
    }


def threshold_fields() -> dict[str, dict[str, Any]]:
    """Each threshold's unit, default and bounds (ge / gt / le) from the model: the form's
    limits and help come from here, so they cannot drift from what a save is checked with."""
    fields: dict[str, dict[str, Any]] = {}
    for name, info in Thresholds.model_fields.items():
        spec: dict[str, Any] = {
            "unit": "s" if name.endswith("_s") else "persons",
            "default": info.default,
            "integer": info.annotation is int,
        }
        for item in info.metadata:
            for key in ("ge", "gt", "le"):
                if getattr(item, key, None) is not None:
                    spec[key] = getattr(item, key)
        fields[name] = spec
    return fields


@router.get("/config/history")
def config_history(config: ConfigDep) -> list[dict[str, Any]]:
    """Backups of earlier versions, newest first (kept beside the file, a bounded number)."""
    return [{"name": b.name, "at": b.at, "size": b.size} for b in config.backups()]


@router.post("/cameras", status_code=status.HTTP_201_CREATED)
def add_camera(body: NewCamera, editing: EditingDep) -> dict[str, Any]:
    fields = new_item_fields(body)
    for key in ("url", "sub_url"):
        try:
            if key in fields:
                restore_secrets(fields[key], None)  # '***' with nothing stored to put back
        except SecretMissing as error:
            raise unprocessable([problem("body", key, str(error))]) from error
    edit = add_item(ItemPath("cameras"), fields)
    return editing.save(body.version, edit, ("cameras", body.id))


@router.patch("/cameras/{camera_id}")
def change_camera(camera_id: IdPath, body: CameraChange, editing: EditingDep) -> dict[str, Any]:
    edit = set_camera(camera_id, fields_of(body))
    return editing.save(body.version, edit, ("cameras", camera_id))


@router.delete("/cameras/{camera_id}")
def remove_camera(camera_id: IdPath, version: VersionQuery, editing: EditingDep) -> dict[str, Any]:
    edit = remove_item(ItemPath("cameras"), camera_id)
    return editing.save(version, edit, ("cameras", camera_id))


@router.post("/windows", status_code=status.HTTP_201_CREATED)
def add_window(body: NewWindow, editing: EditingDep) -> dict[str, Any]:
    edit = add_item(ItemPath("windows"), new_item_fields(body))
    return editing.save(body.version, edit, ("windows", body.id))


@router.patch("/windows/{window_id}")
def change_window(window_id: IdPath, body: WindowChange, editing: EditingDep) -> dict[str, Any]:
    """Name, department, camera, staff on duty and the staff/queue/customer zones."""
    edit = set_item(ItemPath("windows"), window_id, fields_of(body))
    return editing.save(body.version, edit, ("windows", window_id))


@router.delete("/windows/{window_id}")
def remove_window(window_id: IdPath, version: VersionQuery, editing: EditingDep) -> dict[str, Any]:
    edit = remove_item(ItemPath("windows"), window_id)
    return editing.save(version, edit, ("windows", window_id))


@router.post("/queues", status_code=status.HTTP_201_CREATED)
def add_queue(body: NewQueue, editing: EditingDep) -> dict[str, Any]:
    edit = add_item(ItemPath("queues"), new_item_fields(body))
    return editing.save(body.version, edit, ("queues", body.id))


@router.patch("/queues/{queue_id}")
def change_queue(queue_id: IdPath, body: QueueChange, editing: EditingDep) -> dict[str, Any]:
    edit = set_item(ItemPath("queues"), queue_id, fields_of(body))
    return editing.save(body.version, edit, ("queues", queue_id))


@router.delete("/queues/{queue_id}")
def remove_queue(queue_id: IdPath, version: VersionQuery, editing: EditingDep) -> dict[str, Any]:
    edit = remove_item(ItemPath("queues"), queue_id)
    return editing.save(version, edit, ("queues", queue_id))


@router.post("/cameras/{camera_id}/zones", status_code=status.HTTP_201_CREATED)
def add_site_zone(camera_id: IdPath, body: NewSiteZone, editing: EditingDep) -> dict[str, Any]:
    edit = add_item(ItemPath("zones", camera_id), new_item_fields(body))
    target = ("zones", f"{camera_id}/{body.id}")
    return editing.save(body.version, edit, target)


@router.patch("/cameras/{camera_id}/zones/{zone_id}")
def change_site_zone(
    camera_id: IdPath, zone_id: IdPath, body: SiteZoneChange, editing: EditingDep
) -> dict[str, Any]:
    edit = set_item(ItemPath("zones", camera_id), zone_id, fields_of(body))
    target = ("zones", f"{camera_id}/{zone_id}")
    return editing.save(body.version, edit, target)


@router.delete("/cameras/{camera_id}/zones/{zone_id}")
def remove_site_zone(
    camera_id: IdPath, zone_id: IdPath, version: VersionQuery, editing: EditingDep
) -> dict[str, Any]:
    edit = remove_item(ItemPath("zones", camera_id), zone_id)
    target = ("zones", f"{camera_id}/{zone_id}")
    return editing.save(version, edit, target)


@router.patch("/schedule")
def change_schedule(body: ScheduleChange, editing: EditingDep) -> dict[str, Any]:
    edit = set_section("schedule", fields_of(body, keep_null=frozenset({"lunch_break"})))
    return editing.save(body.version, edit, ("schedule", "schedule"))


@router.patch("/thresholds")
def change_thresholds(body: ThresholdsChange, editing: EditingDep) -> dict[str, Any]:
    known = Thresholds.model_fields
    unknown = [name for name in body.values if name not in known]
    if unknown:
        raise unprocessable(
            [problem("body", f"values.{name}", f"unknown threshold '{name}'") for name in unknown]
        )
    edit = set_section("thresholds", dict(body.values))
    return editing.save(body.version, edit, ("thresholds", "thresholds"))
