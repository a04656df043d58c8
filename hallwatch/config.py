"""Site configuration (cameras.yaml): pydantic schema, cross-field checks and located errors.

Structural problems (types, unknown keys, bad polygons) are reported by pydantic; checks that
need the whole site (unknown camera, duplicate id) are small named functions that return
problems. Every problem is reported at once, each with file, line, key path and reason.
"""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, IPvAnyAddress, ValidationError, field_validator, model_validator
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from hallwatch.calendar import CalendarSource, calendar_source
from hallwatch.config_analysis import AnalysisSettings, DetectorSettings, QueueZone, SiteZone
from hallwatch.config_base import (
    Ident,
    Model,
    Polygon,
    TimeRange,
    check_polygon,
    optional_polygon,
)
from hallwatch.config_cases import CasesSettings
from hallwatch.config_relay import RelaySettings
from hallwatch.yamlloc import line_of

Loc = tuple[str | int, ...]


class CameraKind(StrEnum):
    WINDOW = "window"
    TENDER_SITE = "tender_site"


class Hall(Model):
    id: Ident = Field(description="Hall id, unique in the site")
    name: str = Field(description="Hall name shown to operators, e.g. 一楼综合受理大厅")


class Camera(Model):
    id: Ident = Field(description="Camera id, unique in the site")
    name: str = Field(description="Camera name shown to operators")
    hall: str | None = Field(default=None, description="Id of the hall the camera is in")
    url: str = Field(
        description="Main stream: rtsp://[user:password@]host[:port]/path, file:PATH or a path;"
        " credentials are never shown in logs or API answers"
    )
    sub_url: str | None = Field(
        default=None, description="Optional sub-stream (lower resolution) used for analysis"
    )
    kind: CameraKind = Field(
        default=CameraKind.WINDOW, description="window: service windows; tender_site: tender room"
    )
    analysis_fps: float = Field(
        default=1.0, gt=0, le=10, description="Frames per second sampled for analysis"
    )
    record: bool = Field(default=True, description="Record this camera's main stream")
    continuous_days: float | None = Field(
        default=None, gt=0, description="Override of recording.continuous_days for this camera"
    )
    event_days: float | None = Field(
        default=None, gt=0, description="Override of recording.event_days for this camera"
    )
    zones: list[SiteZone] = Field(
        default=[], description="Tender-site zones with their rules (kind: tender_site only)"
    )

    @field_validator("url", "sub_url")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not value.strip():
            raise ValueError("must not be empty")
        scheme = value.split("://", 1)[0].lower() if "://" in value else ""
        if scheme and scheme not in ("rtsp", "rtsps", "file"):
            raise ValueError(f"unsupported scheme '{scheme}': use rtsp://, file: or a path")
        return value


class Window(Model):
    id: Ident = Field(description="Service window id, unique in the site, e.g. W01")
    name: str = Field(description="Window name shown to operators, e.g. 1号窗口")
    department: str = Field(description="Department that staffs the window, e.g. 市场监管局")
    camera: str = Field(description="Id of the camera that sees this window")
    staff_zone: Polygon = Field(description="Where staff sit or stand, relative 0–1 polygon")
    queue_zone: Polygon | None = Field(
        default=None, description="Where customers queue in front of the window (optional)"
    )
    customer_zone: Polygon | None = Field(
        default=None,
        description="Where the customer being served stands or sits at the counter (optional)",
    )
    staff_on_duty: int = Field(
        default=1, ge=1, le=10, description="Staff expected in the staff zone during service"
    )

    _staff_polygon = field_validator("staff_zone")(check_polygon)
    _other_polygons = field_validator("queue_zone", "customer_zone")(optional_polygon)


class Schedule(Model):
    timezone: str = Field(default="Asia/Shanghai", description="IANA time zone of the site")
    weekdays: list[Annotated[int, Field(ge=1, le=7)]] = Field(
        default=[1, 2, 3, 4, 5],
        description="ISO weekdays with service (1 = Monday) when no calendar data says otherwise",
    )
    hours: TimeRange = Field(
        default=TimeRange(start=dt.time(9), end=dt.time(17, 30)),
        description="Service hours on a working day",
    )
    lunch_break: TimeRange | None = Field(
        default=TimeRange(start=dt.time(12), end=dt.time(13, 30)),
        description="Lunch break inside the service hours (no service); null for none",
    )
    statutory_calendar: bool = Field(
        default=True,
        description="Use PRC statutory holidays and make-up working days (chinese-calendar)",
    )
    holidays: list[dt.date] = Field(
        default=[],
        description="Extra days off: local holidays, or a new year's statutory holidays before"
        " the calendar package has them",
    )
    workdays: list[dt.date] = Field(
        default=[], description="Extra working days (调休 make-up days) not in the calendar data"
    )

    @model_validator(mode="after")
    def _consistent(self) -> Schedule:
        lunch = self.lunch_break
        if lunch is not None and (lunch.start < self.hours.start or lunch.end > self.hours.end):
            raise ValueError("lunch_break must lie within the service hours")
        both = sorted(set(self.holidays) & set(self.workdays))
        if both:
            days = ", ".join(str(day) for day in both)
            raise ValueError(f"listed both as holiday and as working day: {days}")
        return self

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone '{value}'") from exc
        return value


class Thresholds(Model):
    absence_delay_s: float = Field(
        default=60.0, ge=0, le=3600, description="Staff absent this long ⇒ counter_vacant event"
    )
    return_delay_s: float = Field(
        default=5.0, ge=0, le=600, description="Staff back this long ⇒ the vacancy event ends"
    )
    queue_max_length: int = Field(
        default=5, ge=1, le=100, description="Queue length that counts as a build-up"
    )
    queue_min_duration_s: float = Field(
        default=120.0, ge=0, le=7200, description="How long the queue must stay that long"
    )
    queue_clear_delay_s: float = Field(
        default=30.0, ge=0, le=3600, description="Queue shorter this long ⇒ the build-up ends"
    )
    queue_confirm_s: float = Field(
        default=3.0, ge=0, le=600, description="In the queue zone this long ⇒ counted as queuing"
    )
    queue_exit_grace_s: float = Field(
        default=5.0, ge=0, le=600, description="Out of sight shorter than this keeps one wait"
    )
    queue_max_wait_s: float = Field(
        default=900.0, gt=0, le=86400, description="A person waiting this long ⇒ long_wait event"
    )
    intrusion_delay_s: float = Field(
        default=5.0, ge=0, le=3600, description="Someone in a restricted zone this long ⇒ intrusion"
    )
    overcrowd_delay_s: float = Field(
        default=30.0, ge=0, le=3600, description="Over max_persons this long ⇒ overcrowded"
    )
    site_clear_delay_s: float = Field(
        default=10.0, ge=0, le=3600, description="Condition gone this long ⇒ a zone event ends"
    )


class RecordingSettings(Model):
    enabled: bool = Field(default=True, description="Record every camera's main stream")
    root: str = Field(
        default="recordings", description="Storage root, relative to the data directory"
    )
    segment_s: float = Field(
        default=60.0, ge=2, le=3600, description="Segment length in seconds (cut at keyframes)"
    )
    continuous_days: float = Field(
        default=7.0, gt=0, description="Days continuous recordings are kept"
    )
    event_days: float = Field(
        default=30.0, gt=0, description="Days segments overlapping an event are kept"
    )
    max_gb: float | None = Field(
        default=None, gt=0, description="Disk quota for all recordings (GB); null for none"
    )
    min_free_gb: float = Field(
        default=5.0, ge=0, description="Oldest recordings go when less than this is free (GB)"
    )
    sweep_interval_s: float = Field(
        default=60.0, ge=1, le=3600, description="How often retention runs"
    )
    pre_roll_s: float = Field(
        default=10.0, ge=0, le=600, description="Seconds of video before an event in its clip"
    )
    post_roll_s: float = Field(
        default=10.0, ge=0, le=600, description="Seconds of video after an event in its clip"
    )


class LiveSettings(Model):
    ice_addresses: list[IPvAnyAddress] = Field(
        default=[],
        description="Addresses of this server offered to browsers as WebRTC (ICE) host"
        " candidates for the live wall, besides 127.0.0.1 which is always offered; addresses"
        " not found on this host are skipped with a warning",
    )
    max_viewers_per_camera: int = Field(
        default=16, ge=1, le=256, description="Live viewers allowed at once on one camera"
    )


class Site(Model):
    name: str = Field(description="Site name, e.g. 某市政务服务中心")
    data_dir: str = Field(default="./var", description="Store and snapshots, relative to the file")
    halls: list[Hall] = Field(default=[], description="Halls of the site")
    cameras: list[Camera] = Field(description="Cameras")
    windows: list[Window] = Field(default=[], description="Service windows and their zones")
    queues: list[QueueZone] = Field(
        default=[], description="Hall queue zones not tied to one window"
    )
    schedule: Schedule = Field(default=Schedule(), description="Service schedule")
    thresholds: Thresholds = Field(default=Thresholds(), description="Rule thresholds")
    detector: DetectorSettings = Field(default=DetectorSettings(), description="Detector")
    analysis: AnalysisSettings = Field(
        default=AnalysisSettings(), description="Crops, batching, motion gate and tracking"
    )
    recording: RecordingSettings = Field(
        default=RecordingSettings(), description="Continuous recording and retention"
    )
    cases: CasesSettings = Field(
        default=CasesSettings(),
        description="Approval cases: card rules, and per item default limits and step limits",
    )
    live: LiveSettings = Field(
        default=LiveSettings(), description="Live wall over WebRTC: ICE addresses, viewer limits"
    )
    relay: RelaySettings = Field(
        default=RelaySettings(),
        description="Relay to the provincial video centre: stream push, GB/T 28181, upload",
    )

    def camera(self, camera_id: str) -> Camera:
        for camera in self.cameras:
            if camera.id == camera_id:
                return camera
        raise KeyError(camera_id)

    def window_by_id(self, window_id: str | None) -> Window | None:
        """The window with this id (None when there is none, e.g. from an approval system)."""
        return next((window for window in self.windows if window.id == window_id), None)

    def windows_of(self, camera_id: str) -> list[Window]:
        return [window for window in self.windows if window.camera == camera_id]

    def queues_of(self, camera_id: str) -> list[QueueZone]:
        return [queue for queue in self.queues if queue.camera == camera_id]


# --- cross-field checks: each takes the raw YAML data and returns the problems it finds -----
# They read the raw data (not the validated model) so that they still run, and report, when
# some other part of the file is structurally wrong: every problem is reported at once.


@dataclass(frozen=True)
class Problem:
    loc: Loc
    reason: str  # in English, as check-config prints it
    code: str = ""  # pydantic's error type ("less_than_equal"...), for a translated message
    params: tuple[tuple[str, str], ...] = ()  # the message's values by name ({"le": "3600"})


def _items(data: dict[str, Any], section: str) -> list[tuple[int, dict[str, Any]]]:
    items = data.get(section)
    if not isinstance(items, list):
        return []
    return [(index, item) for index, item in enumerate(items) if isinstance(item, dict)]


def _ids(data: dict[str, Any], section: str) -> set[str]:
    return {str(item["id"]) for _, item in _items(data, section) if "id" in item}


def _duplicates(
    items: Iterable[tuple[Loc, dict[str, Any]]],
) -> Iterator[Problem]:
    seen: dict[str, Loc] = {}
    for loc, item in items:
        ident = str(item.get("id"))
        if ident in seen:
            yield Problem(
                (*loc, "id"), f"duplicate id '{ident}' (already used by {key_path(seen[ident])})"
            )
        else:
            seen[ident] = loc


def check_unique_ids(data: dict[str, Any]) -> Iterator[Problem]:
    for section in ("halls", "cameras"):
        yield from _duplicates(((section, i), item) for i, item in _items(data, section))
    # window ids also name their queues, so hall queues share their namespace
    yield from _duplicates(
        ((section, i), item)
        for section in ("windows", "queues")
        for i, item in _items(data, section)
    )
    for c, camera in _items(data, "cameras"):
        zones = camera.get("zones")
        if isinstance(zones, list):
            yield from _duplicates(
                (("cameras", c, "zones", z), zone)
                for z, zone in enumerate(zones)
                if isinstance(zone, dict)
            )


def _reference_check(
    data: dict[str, Any], section: str, key: str, target: str
) -> Iterator[Problem]:
    known = _ids(data, target)
    for index, item in _items(data, section):
        value = item.get(key)
        if value is not None and str(value) not in known:
            yield Problem(
                (section, index, key),
                f"{section[:-1]} '{item.get('id')}' names unknown {key} '{value}'"
                f" (known: {', '.join(sorted(known)) or 'none'})",
            )


def check_window_cameras(data: dict[str, Any]) -> Iterator[Problem]:
    yield from _reference_check(data, "windows", "camera", "cameras")


def check_camera_halls(data: dict[str, Any]) -> Iterator[Problem]:
    yield from _reference_check(data, "cameras", "hall", "halls")


def check_queue_cameras(data: dict[str, Any]) -> Iterator[Problem]:
    yield from _reference_check(data, "queues", "camera", "cameras")


def check_zones_on_tender_cameras(data: dict[str, Any]) -> Iterator[Problem]:
    for index, camera in _items(data, "cameras"):
        if camera.get("zones") and camera.get("kind", "window") != "tender_site":
            yield Problem(
                ("cameras", index, "zones"),
                f"camera '{camera.get('id')}' has zones but is not kind: tender_site"
                " (service windows use windows: and queues:)",
            )


def _relay_items(data: dict[str, Any]) -> Iterator[tuple[Loc, dict[str, Any]]]:
    """The relay's push targets and GB channels, each with where it is."""
    relay = data.get("relay")
    if not isinstance(relay, dict):
        return
    for index, item in _items(relay, "push"):
        yield ("relay", "push", index), item
    gb = relay.get("gb28181")
    if isinstance(gb, dict):
        for index, item in _items(gb, "channels"):
            yield ("relay", "gb28181", "channels", index), item


def check_relay_cameras(data: dict[str, Any]) -> Iterator[Problem]:
    known = _ids(data, "cameras")
    for loc, item in _relay_items(data):
        camera = item.get("camera")
        if camera is not None and str(camera) not in known:
            yield Problem(
                (*loc, "camera"),
                f"relay names unknown camera '{camera}'"
                f" (known: {', '.join(sorted(known)) or 'none'})",
            )


def check_relay_channels(data: dict[str, Any]) -> Iterator[Problem]:
    """GB channel ids are unique, and none is the platform's own id."""
    gb = data.get("relay", {}).get("gb28181") if isinstance(data.get("relay"), dict) else None
    if not isinstance(gb, dict):
        return
    seen: dict[str, int] = {str(gb.get("platform_id")): -1}
    for index, item in _items(gb, "channels"):
        ident = str(item.get("channel_id"))
        if ident in seen:
            other = "platform_id" if seen[ident] < 0 else f"channels[{seen[ident]}]"
            yield Problem(
                ("relay", "gb28181", "channels", index, "channel_id"),
                f"channel id {ident} is already used by relay.gb28181.{other}",
            )
        else:
            seen[ident] = index


SITE_CHECKS: tuple[Callable[[dict[str, Any]], Iterable[Problem]], ...] = (
    check_unique_ids,
    check_window_cameras,
    check_camera_halls,
    check_queue_cameras,
    check_zones_on_tender_cameras,
    check_relay_cameras,
    check_relay_channels,
)


# --- loading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocatedProblem:
    file: str
    line: int | None
    key: str
    reason: str
    code: str = ""  # as Problem's
    params: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.key or '(top level)'}: {self.reason}"


class ConfigError(Exception):
    """cameras.yaml is invalid; `problems` lists every problem, each located."""

    def __init__(self, problems: Sequence[LocatedProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


def key_path(loc: Loc) -> str:
    """('windows', 1, 'staff_zone') -> 'windows[1].staff_zone'."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _param_text(value: Any) -> str:
    """A message value as pydantic words it: 3600.0 -> "3600"."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _pydantic_problems(error: ValidationError) -> Iterator[Problem]:
    for item in error.errors(include_url=False):
        loc = tuple(part for part in item["loc"] if isinstance(part, str | int))
        message = str(item["msg"])
        if item["type"] == "extra_forbidden":
            message = f"unknown key '{loc[-1]}'"
        elif message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        if item["type"] == "missing":
            message = f"required key '{loc[-1]}' is missing"
        if item["type"] == "value_error":  # our own checks' reasons: English only
            yield Problem(loc, message)
            continue
        params = tuple((str(k), _param_text(v)) for k, v in item.get("ctx", {}).items())
        yield Problem(loc, message, item["type"], params)


def validate_site(data: Any, *, file: str, root: Any = None) -> Site:
    """Validate parsed YAML `data`; `root` is the ruamel node tree used to find line numbers."""
    source = data if root is None else root
    if not isinstance(data, dict):
        raise ConfigError([LocatedProblem(file, 1, "", "expected a mapping at the top level")])
    problems = [problem for check in SITE_CHECKS for problem in check(data)]
    try:
        site = Site.model_validate(data)
    except ValidationError as error:
        problems.extend(_pydantic_problems(error))
    if problems:
        raise located_error(problems, file=file, source=source)
    return site


def located_error(problems: Sequence[Problem], *, file: str, source: Any) -> ConfigError:
    """`problems` with the line of each key in `source` (ruamel nodes), in line order."""
    ordered = sorted(problems, key=lambda p: line_of(source, p.loc) or 0)
    return ConfigError(
        [
            LocatedProblem(
                file, line_of(source, p.loc), key_path(p.loc), p.reason, p.code, p.params
            )
            for p in ordered
        ]
    )


def parse_yaml(text: str, *, file: str) -> Any:
    yaml = YAML(typ="rt")
    try:
        return yaml.load(text)
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else None
        reason = f"YAML syntax error: {error.problem or error.context}"
        raise ConfigError([LocatedProblem(file, line, "", reason)]) from error
    except YAMLError as error:
        raise ConfigError([LocatedProblem(file, None, "", f"YAML error: {error}")]) from error


def plain(node: Any) -> Any:
    """ruamel round-trip nodes → plain dicts/lists so pydantic sees ordinary Python data."""
    if isinstance(node, dict):
        return {str(key): plain(value) for key, value in node.items()}
    if isinstance(node, list):
        return [plain(value) for value in node]
    return node


def load_site(path: Path | str) -> Site:
    """Read, validate and check the files a cameras.yaml names (relative to its folder)."""
    path = Path(path)
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError([LocatedProblem(file, None, "", f"cannot read: {error}")]) from error
    root = parse_yaml(text, file=file)
    site = validate_site(plain(root), file=file, root=root)
    problems = list(check_site_files(site, path.parent))
    if problems:
        raise located_error(problems, file=file, source=root)
    return site


def check_site_files(site: Site, config_dir: Path) -> Iterator[Problem]:
    """The files a valid site names, which must be readable as what they are now (a relative
    path is the config folder's: `config_dir / name`, an absolute one stays as it is)."""
    upload = site.relay.upload
    if upload is not None and upload.ca_file is not None:
        reason = ca_file_problem(config_dir / upload.ca_file)
        if reason is not None:
            yield Problem(("relay", "upload", "ca_file"), reason)


def ca_file_problem(path: Path) -> str | None:
    """Why `path` cannot serve as a PEM bundle of CA certificates (None: it can)."""
    try:
        ssl.create_default_context(cafile=str(path))
    except FileNotFoundError:
        return f"no such file: {path}"
    except (OSError, ssl.SSLError) as error:
        return f"no PEM CA certificate could be read from {path}: {error}"
    return None


def site_from_text(text: str, *, file: str) -> Site:
    """Parse and validate a cameras.yaml text (what `load_site` does once the file is read)."""
    root = parse_yaml(text, file=file)
    return validate_site(plain(root), file=file, root=root)


def data_dir_of(site: Site, config_path: Path) -> Path:
    """The site's data directory, resolved relative to the config file's folder."""
    path = Path(site.data_dir)
    return path if path.is_absolute() else (config_path.parent / path).resolve()


def site_years(site: Site, now: float) -> list[int]:
    """This year and the next in the site's time zone: the years whose calendar matters now."""
    year = dt.datetime.fromtimestamp(now, ZoneInfo(site.schedule.timezone)).year
    return [year, year + 1]


def calendar_gap_years(site: Site, years: Iterable[int]) -> list[int]:
    """The years among `years` whose holiday calendar is known neither built in nor on site."""
    return [y for y in years if calendar_source(site.schedule, y) is CalendarSource.WEEKDAYS_ONLY]


def calendar_notices(site: Site, years: Iterable[int]) -> list[str]:
    """Human-readable notices (for logs and check-config) for the years `calendar_gap_years`."""
    return [
        f"{year} holiday calendar not yet published: service days fall back to weekday"
        f" hours; list {year}'s holidays and make-up working days under schedule.holidays"
        " and schedule.workdays"
        for year in calendar_gap_years(site, years)
    ]
