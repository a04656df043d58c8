"""The intake contract of approval-case data (数据交换): the messages approval systems send.

Pure models and parsing, no storage and no HTTP. Every message (a case event) has:

- `event_id`: the source system's unique id of this message (1..128 characters). Intake is
  idempotent by `(source, event_id)` (`idempotency_key`): the source is the authenticated
  system, not a field. The same key sent again with the same content (`canonical_json`) is a
  repeat; with other content it is a conflict.
- `case_id` (1..64 characters), `at` (when it happened at the source: an ISO 8601 date-time with
  a UTC offset, e.g. 2026-11-16T10:00:00+08:00 or ...Z; naive times, dates without a time and
  Unix timestamps are rejected) and `type`, the discriminator of `CaseEvent`:

  accepted (受理), step (承办/审核/批准… start or end), suspended / resumed (补正 and 特别程序,
  time that Art. 45 of the Administrative Licensing Law excludes from the limit), completed (办结:
  approved / refused / not_accepted) and withdrawn (撤回).

Choices (the store and routes build on them):

- A step is two messages, `phase` start and end, each at its own `at`, so events may arrive in
  any order and a running step is visible. An end pairs with the start of the same `step_id`
  when the source gives one, else with the latest open start of the same step name. A node
  limit (节点时限) may come with either phase; the start's counts when both carry one.
- `resumed` pairs with the suspension of the same `suspension_id` when given, else with the last
  open suspension of the case.
- A missing or blank written reason of a refusal or non-acceptance is valid input (it becomes
  None): the card rules give it a red card, intake must not refuse the record.
- Time limits (`TimeLimit`) use the unit strings of `cases.clock.LimitUnit` and its bounds
  (amount 0..`cases.clock.MAX_LIMIT`, at least 1 in working hours), so `TimeLimit.to_limit()`
  never fails for a validated message. A promised limit longer than the legal one is kept, not
  refused: it is a supervision finding, not a malformed message.
- `window_id` names a window of the site config (`windows[].id`), so it follows the config's
  id pattern; whether that window exists is the store's check against the site config.
- Ids (`event_id`, `case_id`, item code, handler, window, step and suspension ids) are exact
  keys: surrounding whitespace and control characters are errors, not trimmed. Names and
  reasons are trimmed; names are one line, reasons may span lines.
- `at` lies between `EARLIEST_AT` and `LATEST_AT`, the range in which the working-day clock can
  count every deadline; whether a time is plausible against the store's own clock is not an
  intake rule.

`validation_details` turns a `ValidationError` into field-level details with a JSON-pointer-like
location ("events/3/promised/unit") for a 422 answer; a batch (`EventBatch`, 1..1000 events) is
validated as a whole, so nothing of it is written when any event is invalid.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from cases.cards import Outcome
from cases.clock import MAX_LIMIT, Limit, LimitUnit
from hallwatch.config_base import ID_PATTERN

MAX_BATCH = 1000
EARLIEST_AT = dt.datetime(2000, 1, 2, tzinfo=dt.UTC)  # the working-day calendar starts 2000-01-01
LATEST_AT = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_EXCEPT_NEWLINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_ISO_START = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")
_WINDOW_ID = re.compile(ID_PATTERN)


class EventType(StrEnum):
    ACCEPTED = "accepted"  # 受理
    STEP = "step"  # 环节：承办 / 审核 / 批准 …
    SUSPENDED = "suspended"  # 暂停计时：补正、特别程序
    RESUMED = "resumed"  # 恢复计时
    COMPLETED = "completed"  # 办结
    WITHDRAWN = "withdrawn"  # 撤回


class ApplicantType(StrEnum):
    INDIVIDUAL = "individual"  # 自然人
    ORGANIZATION = "organization"  # 法人或其他组织


class StepPhase(StrEnum):
    START = "start"
    END = "end"


class SuspensionKind(StrEnum):
    CORRECTION = "correction"  # 补正材料
    HEARING = "hearing"  # 听证
    TENDER = "tender"  # 招标
    AUCTION = "auction"  # 拍卖
    INSPECTION = "inspection"  # 检验、检测、检疫
    EXPERT_REVIEW = "expert_review"  # 专家评审
    OTHER = "other"  # 其他（须说明理由）


# ---- field types ------------------------------------------------------------------------------


def _field_error(field: str, kind: str, message: str, value: object) -> ValidationError:
    """A validation error located at `field` of the model being validated (cross-field checks
    raise it from a model validator so that the detail names the field, not the model)."""
    detail = InitErrorDetails(type=PydanticCustomError(kind, message), loc=(field,), input=value)
    return ValidationError.from_exception_data("intake", [detail])


def _key_text(value: str) -> str:
    if value != value.strip():
        raise ValueError("must not begin or end with whitespace")
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


def _one_line(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must be one line without control characters")
    return value


def _multi_line(value: str) -> str:
    if _CONTROL_EXCEPT_NEWLINES.search(value):
        raise ValueError("must not contain control characters other than line breaks and tabs")
    return value


def _blank_to_none(value: object) -> object:
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _window_id(value: str) -> str:
    if not _WINDOW_ID.match(value):
        raise ValueError(
            f"'{value}' is not a window id: letters, digits, '_', '.', '-', at most 64,"
            " as in the site config's windows[].id"
        )
    return value


def _iso_datetime(value: object) -> object:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and _ISO_START.match(value.strip()):
        return value.strip()
    raise ValueError(
        f"expected an ISO 8601 date-time with a UTC offset, e.g. 2026-11-16T10:00:00+08:00,"
        f" got {value!r}"
    )


def _aware_in_range(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{value.isoformat()} has no UTC offset: send a timezone-aware time such as"
            f" {value.replace(tzinfo=dt.timezone(dt.timedelta(hours=8))).isoformat()}"
        )
    if not EARLIEST_AT <= value < LATEST_AT:
        raise ValueError(
            f"{value.isoformat()} is outside the supported range"
            f" {EARLIEST_AT.isoformat()} .. {LATEST_AT.isoformat()}"
        )
    return value


def _no_bool(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("expected a whole number, got a boolean")
    return value


_KEY = AfterValidator(_key_text)
_ONE_LINE = AfterValidator(_one_line)

EventId = Annotated[str, StringConstraints(min_length=1, max_length=128), _KEY]
CaseId = Annotated[str, StringConstraints(min_length=1, max_length=64), _KEY]
Code = Annotated[str, StringConstraints(min_length=1, max_length=64), _KEY]
HandlerId = Annotated[str, StringConstraints(min_length=1, max_length=64), _KEY]
PairId = Annotated[str, StringConstraints(min_length=1, max_length=64), _KEY]
WindowId = Annotated[
    str, StringConstraints(min_length=1, max_length=64), AfterValidator(_window_id)
]
ItemName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), _ONE_LINE
]
Department = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), _ONE_LINE
]
StepName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), _ONE_LINE
]
ReasonText = Annotated[
    Annotated[
        str,
        StringConstraints(strip_whitespace=True, max_length=2000),
        AfterValidator(_multi_line),
    ]
    | None,
    BeforeValidator(_blank_to_none),
]
At = Annotated[dt.datetime, BeforeValidator(_iso_datetime), AfterValidator(_aware_in_range)]
Amount = Annotated[int, BeforeValidator(_no_bool), Field(ge=0, le=MAX_LIMIT)]


# ---- models -----------------------------------------------------------------------------------


class IntakeModel(BaseModel):
    """Base of every intake message: unknown fields are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class TimeLimit(IntakeModel):
    """A time limit (时限) as the approval system states it: `amount` of `unit`."""

    amount: Amount = Field(
        description=f"How many units, 0..{MAX_LIMIT} (0 days: a same-day item, 即办件);"
        " at least 1 for working_hours"
    )
    unit: LimitUnit = Field(
        description="working_days (工作日), natural_days (自然日) or working_hours (工作小时)"
    )

    @model_validator(mode="after")
    def _hours_at_least_one(self) -> TimeLimit:
        if self.unit is LimitUnit.WORKING_HOURS and self.amount < 1:
            raise _field_error(
                "amount",
                "limit_hours",
                "a limit in working hours must be at least 1 hour",
                self.amount,
            )
        return self

    def to_limit(self) -> Limit:
        """The clock's limit; never fails for a validated `TimeLimit`."""
        return Limit(self.amount, self.unit)


class EventBase(IntakeModel):
    """Fields every case event has; `type` selects the event model."""

    type: str = Field(description="Event type, the discriminator")
    event_id: EventId = Field(
        description="The source's unique id of this message (1..128 characters); intake is"
        " idempotent by (source, event_id)"
    )
    case_id: CaseId = Field(description="Case number in the approval system (办件编号), 1..64")
    at: At = Field(
        description="When it happened at the source: ISO 8601 with a UTC offset, e.g."
        " 2026-11-16T10:00:00+08:00"
    )


class Accepted(EventBase):
    """受理: the case was accepted; `at` is the acceptance time (受理时间)."""

    type: Literal["accepted"] = Field(description="accepted (受理)")
    item_code: Code = Field(description="Code of the service item (事项编码)")
    item_name: ItemName = Field(description="Name of the service item (事项名称)")
    department: Department = Field(description="Department in charge (办理部门), e.g. 市场监管局")
    window_id: WindowId | None = Field(
        default=None,
        description="Hall window where it was accepted (受理窗口, windows[].id of the site"
        " config); absent for cases accepted online (网上受理)",
    )
    applicant_type: ApplicantType = Field(
        description="individual (自然人) or organization (法人或其他组织)"
    )
    promised: TimeLimit | None = Field(
        default=None,
        description="Promised time limit (承诺时限); absent: the site config's default for the"
        " item applies",
    )
    legal: TimeLimit | None = Field(default=None, description="Statutory time limit (法定时限)")
    handler_id: HandlerId | None = Field(
        default=None, description="Id of the person who accepted it (受理人)"
    )


class StepEvent(EventBase):
    """A handling step (办理环节) starts or ends."""

    type: Literal["step"] = Field(description="step (办理环节)")
    step: StepName = Field(description="Step name (环节名称), e.g. 承办, 审核, 批准")
    phase: StepPhase = Field(description="start: the step began at `at`; end: it ended at `at`")
    handler_id: HandlerId = Field(description="Id of the person handling the step (经办人)")
    window_id: WindowId | None = Field(
        default=None,
        description="Hall window where the step was handled (windows[].id), if at a window",
    )
    step_id: PairId | None = Field(
        default=None,
        description="The source's id of this step instance, pairing its start and end; absent:"
        " an end pairs with the latest open start of the same step name",
    )
    limit: TimeLimit | None = Field(
        default=None,
        description="Node time limit of the step (节点时限); when both phases carry one, the"
        " start's counts",
    )


class Suspended(EventBase):
    """暂停计时: the clock stops (补正, 特别程序) from `at`."""

    type: Literal["suspended"] = Field(description="suspended (暂停计时)")
    kind: SuspensionKind = Field(
        description="correction (补正材料), hearing (听证), tender (招标), auction (拍卖),"
        " inspection (检验、检测、检疫), expert_review (专家评审) or other (其他)"
    )
    reason: ReasonText = Field(
        default=None, description="Written reason (暂停理由); required when kind is other"
    )
    suspension_id: PairId | None = Field(
        default=None, description="The source's id of this suspension, repeated by its resumed"
    )

    @model_validator(mode="after")
    def _other_needs_reason(self) -> Suspended:
        if self.kind is SuspensionKind.OTHER and self.reason is None:
            raise _field_error(
                "reason",
                "reason_required",
                "a suspension of kind 'other' needs a written reason",
                None,
            )
        return self


class Resumed(EventBase):
    """恢复计时: the clock runs again from `at`."""

    type: Literal["resumed"] = Field(description="resumed (恢复计时)")
    suspension_id: PairId | None = Field(
        default=None,
        description="Id of the suspension that ends; absent: the last open suspension",
    )


class Completed(EventBase):
    """办结: the case was decided at `at`."""

    type: Literal["completed"] = Field(description="completed (办结)")
    outcome: Outcome = Field(
        description="approved (准予许可), refused (不予许可) or not_accepted (不予受理)"
    )
    reason: ReasonText = Field(
        default=None,
        description="Written reason (理由), required by law for refused and not_accepted;"
        " a missing one is accepted here and raises a red card",
    )
    handler_id: HandlerId = Field(description="Id of the person who completed the case (办结人)")


class Withdrawn(EventBase):
    """撤回: the applicant withdrew the application at `at`."""

    type: Literal["withdrawn"] = Field(description="withdrawn (撤回申请)")
    reason: ReasonText = Field(default=None, description="Reason of the withdrawal (撤回理由)")


CaseEvent = Annotated[
    Accepted | StepEvent | Suspended | Resumed | Completed | Withdrawn,
    Field(discriminator="type"),
]
CASE_EVENT: TypeAdapter[CaseEvent] = TypeAdapter(CaseEvent)
EVENT_MODELS: dict[EventType, type[EventBase]] = {
    EventType.ACCEPTED: Accepted,
    EventType.STEP: StepEvent,
    EventType.SUSPENDED: Suspended,
    EventType.RESUMED: Resumed,
    EventType.COMPLETED: Completed,
    EventType.WITHDRAWN: Withdrawn,
}


def parse_event(data: Any) -> CaseEvent:
    """One event from parsed JSON (a dict); raises `ValidationError`."""
    return CASE_EVENT.validate_python(data)


class EventKey(NamedTuple):
    """The idempotency key of a case event."""

    source: str  # the authenticated source system
    event_id: str


def idempotency_key(source: str, event: EventBase) -> EventKey:
    return EventKey(source, event.event_id)


def canonical_json(event: EventBase) -> str:
    """The event's content as one canonical string: sorted keys, absent fields left out and
    `at` in UTC, so that two messages mean the same iff their strings are equal."""
    data = event.model_dump(mode="json", exclude_none=True)
    data["at"] = event.at.astimezone(dt.UTC).isoformat()
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def conflicting_duplicates(events: Sequence[EventBase]) -> list[tuple[int, int]]:
    """(index, index of the first event with that id) for each event whose `event_id` was
    already used by an earlier event with other content; exact repeats are not conflicts."""
    first: dict[str, int] = {}
    conflicts: list[tuple[int, int]] = []
    canonical: dict[int, str] = {}

    def content(index: int) -> str:
        if index not in canonical:
            canonical[index] = canonical_json(events[index])
        return canonical[index]

    for index, event in enumerate(events):
        seen = first.setdefault(event.event_id, index)
        if seen != index and content(index) != content(seen):
            conflicts.append((index, seen))
    return conflicts


def _unique_events(events: list[CaseEvent]) -> list[CaseEvent]:
    conflicts = conflicting_duplicates(events)
    if conflicts:
        details = [
            InitErrorDetails(
                type=PydanticCustomError(
                    "duplicate_event",
                    "event_id {event_id} is used by events/{first} with other content",
                    {"event_id": repr(events[index].event_id), "first": seen},
                ),
                loc=(index, "event_id"),
                input=events[index].event_id,
            )
            for index, seen in conflicts
        ]
        raise ValidationError.from_exception_data("EventBatch", details)
    return events


class EventBatch(IntakeModel):
    """The HTTP request body: 1..1000 events of any cases, in any order."""

    events: Annotated[
        list[CaseEvent],
        Field(min_length=1, max_length=MAX_BATCH),
        AfterValidator(_unique_events),
    ] = Field(
        description=f"1..{MAX_BATCH} case events; an event_id used twice must carry the same"
        " content both times"
    )


# ---- error details ----------------------------------------------------------------------------

_TAGS = frozenset(EVENT_MODELS)
_EXPECTED_TYPES = ", ".join(EVENT_MODELS)


def _escape(part: str | int) -> str:
    return str(part).replace("~", "~0").replace("/", "~1")


def _strip_tags(loc: Sequence[str | int]) -> tuple[list[str | int], str | None, int]:
    """The location without the union's tag, the tag, and the depth of the event in it (the
    tag follows the position of a union: the root or a list index)."""
    parts: list[str | int] = []
    tag: str | None = None
    depth = -1
    for index, part in enumerate(loc):
        at_union = index == 0 or isinstance(loc[index - 1], int)
        if isinstance(part, str) and part in _TAGS and at_union and tag is None:
            tag, depth = part, len(parts)
            continue
        parts.append(part)
    return parts, tag, depth


def location(loc: Sequence[str | int]) -> str:
    """A pydantic location as a JSON-pointer-like path without the union's tag:
    ('events', 3, 'accepted', 'promised', 'unit') -> 'events/3/promised/unit'."""
    parts, _, _ = _strip_tags(loc)
    return "/".join(_escape(part) for part in parts)


def error_detail(item: Mapping[str, Any]) -> dict[str, str]:
    """One pydantic error (an item of `ValidationError.errors()`, or of FastAPI's
    `RequestValidationError.errors()`) as {"loc", "message", "type"}."""
    loc = [part for part in item.get("loc", ()) if isinstance(part, str | int)]
    parts, tag, depth = _strip_tags(loc)
    kind = str(item.get("type", ""))
    message = str(item.get("msg", ""))
    name = str(parts[-1]) if parts else ""
    if kind == "extra_forbidden":
        if tag is not None and len(parts) == depth + 1:
            message = f"field '{name}' is not allowed in an event of type '{tag}'"
        else:
            message = f"unknown field '{name}'"
    elif kind == "missing":
        message = f"required field '{name}' is missing"
    elif kind == "union_tag_invalid":
        found = item.get("ctx", {}).get("tag", "")
        message = f"unknown event type '{found}': expected one of {_EXPECTED_TYPES}"
        parts.append("type")
    elif kind == "union_tag_not_found":
        message = f"required field 'type' is missing: expected one of {_EXPECTED_TYPES}"
        parts.append("type")
    elif kind in ("model_attributes_type", "model_type", "dict_type"):
        message = "expected a JSON object"
    elif message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    return {
        "loc": "/".join(_escape(part) for part in parts),
        "message": message,
        "type": kind,
    }


def validation_details(error: ValidationError) -> list[dict[str, str]]:
    """Field-level details of a validation error, for a 422 answer: each detail has `loc`
    ("events/3/promised/unit"; "" for the whole input), `message` and `type` (pydantic's
    error type, or ours: duplicate_event, limit_hours, reason_required)."""
    return details_of(error.errors(include_url=False))


def details_of(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    return [error_detail(item) for item in errors]
