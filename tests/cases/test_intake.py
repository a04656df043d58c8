"""The intake contract (cases.intake): every event type, every invalid field with its location
and message, datetimes, batches, idempotency keys, and limits that always convert."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from cases.cards import CaseView, Outcome, handling_reasons
from cases.clock import MAX_LIMIT, Limit, LimitUnit
from cases.intake import (
    CASE_EVENT,
    EVENT_MODELS,
    MAX_BATCH,
    Accepted,
    ApplicantType,
    Completed,
    EventBatch,
    EventKey,
    EventType,
    Resumed,
    StepEvent,
    StepPhase,
    Suspended,
    SuspensionKind,
    TimeLimit,
    Withdrawn,
    canonical_json,
    error_detail,
    idempotency_key,
    location,
    parse_event,
    validation_details,
)

SH = ZoneInfo("Asia/Shanghai")
AT = "2026-11-16T10:00:00+08:00"
BASE = {"event_id": "ev-1", "case_id": "C2026-0001", "at": AT}

VALID: dict[str, dict[str, Any]] = {
    "accepted": {
        **BASE,
        "type": "accepted",
        "item_code": "11110000-XK-001",
        "item_name": "食品经营许可",
        "department": "市场监管局",
        "window_id": "W01",
        "applicant_type": "organization",
        "promised": {"amount": 5, "unit": "working_days"},
        "legal": {"amount": 20, "unit": "working_days"},
        "handler_id": "clerk-07",
    },
    "step": {
        **BASE,
        "type": "step",
        "step": "审核",
        "phase": "start",
        "handler_id": "rev-02",
        "window_id": "W03",
        "step_id": "s-1",
        "limit": {"amount": 8, "unit": "working_hours"},
    },
    "suspended": {
        **BASE,
        "type": "suspended",
        "kind": "correction",
        "reason": "缺少营业执照副本",
        "suspension_id": "p-1",
    },
    "resumed": {**BASE, "type": "resumed", "suspension_id": "p-1"},
    "completed": {
        **BASE,
        "type": "completed",
        "outcome": "refused",
        "reason": "不符合《食品经营许可管理办法》第十二条",
        "handler_id": "chief-01",
    },
    "withdrawn": {**BASE, "type": "withdrawn", "reason": "申请人主动撤回"},
}
MINIMAL: dict[str, dict[str, Any]] = {
    "accepted": {
        **BASE,
        "type": "accepted",
        "item_code": "X1",
        "item_name": "公共场所卫生许可",
        "department": "卫健委",
        "applicant_type": "individual",
    },
    "step": {**BASE, "type": "step", "step": "批准", "phase": "end", "handler_id": "h1"},
    "suspended": {**BASE, "type": "suspended", "kind": "hearing"},
    "resumed": {**BASE, "type": "resumed"},
    "completed": {**BASE, "type": "completed", "outcome": "approved", "handler_id": "h1"},
    "withdrawn": {**BASE, "type": "withdrawn"},
}
MODELS = {
    "accepted": Accepted,
    "step": StepEvent,
    "suspended": Suspended,
    "resumed": Resumed,
    "completed": Completed,
    "withdrawn": Withdrawn,
}


def details(data: Any, *, batch_index: int | None = None) -> list[dict[str, str]]:
    """The details of validating one event, alone or at `batch_index` of a batch."""
    with pytest.raises(ValidationError) as caught:
        if batch_index is None:
            parse_event(data)
        else:
            others = [{**MINIMAL["resumed"], "event_id": f"other-{i}"} for i in range(batch_index)]
            EventBatch.model_validate({"events": [*others, data]})
    return validation_details(caught.value)


def changed(event_type: str, /, **changes: Any) -> dict[str, Any]:
    data = dict(VALID[event_type])
    for key, value in changes.items():
        if value is DROP:
            data.pop(key, None)
        else:
            data[key] = value
    return data


DROP = object()


# ---- valid events -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(VALID))
def test_every_type_valid_with_all_fields(kind: str) -> None:
    event = parse_event(VALID[kind])
    assert type(event) is MODELS[kind]
    assert event.type == kind
    assert event.event_id == "ev-1" and event.case_id == "C2026-0001"
    assert event.at == dt.datetime(2026, 11, 16, 10, tzinfo=SH)
    assert event.model_dump(mode="json", exclude_none=True) == VALID[kind]


@pytest.mark.parametrize("kind", list(MINIMAL))
def test_every_type_valid_with_required_fields_only(kind: str) -> None:
    event = parse_event(MINIMAL[kind])
    assert type(event) is MODELS[kind]
    assert event.model_dump(mode="json", exclude_none=True) == MINIMAL[kind]


def test_accepted_fields() -> None:
    event = parse_event(VALID["accepted"])
    assert isinstance(event, Accepted)
    assert event.applicant_type is ApplicantType.ORGANIZATION
    assert event.promised == TimeLimit(amount=5, unit=LimitUnit.WORKING_DAYS)
    assert event.promised.to_limit() == Limit(5, LimitUnit.WORKING_DAYS)
    assert event.legal is not None and event.legal.to_limit() == Limit(20)
    online = parse_event(MINIMAL["accepted"])
    assert isinstance(online, Accepted)
    assert (online.window_id, online.promised, online.legal, online.handler_id) == (None,) * 4


def test_step_and_suspension_enums() -> None:
    step = parse_event(VALID["step"])
    assert isinstance(step, StepEvent) and step.phase is StepPhase.START
    assert step.limit is not None and step.limit.to_limit() == Limit(8, LimitUnit.WORKING_HOURS)
    for kind in SuspensionKind:
        reason = "待定" if kind is SuspensionKind.OTHER else None
        event = parse_event({**MINIMAL["suspended"], "kind": kind.value, "reason": reason})
        assert isinstance(event, Suspended) and event.kind is kind
    assert [kind.value for kind in SuspensionKind] == [
        "correction",
        "hearing",
        "tender",
        "auction",
        "inspection",
        "expert_review",
        "other",
    ]


@pytest.mark.parametrize("outcome", list(Outcome))
@pytest.mark.parametrize("reason", [DROP, None, "", "   \n"])
def test_completed_without_reason_is_valid_input(outcome: Outcome, reason: object) -> None:
    """A refusal without a written reason is a red card, not a 422."""
    data = changed("completed", outcome=outcome.value, reason=reason)
    event = parse_event(data)
    assert isinstance(event, Completed) and event.outcome is outcome and event.reason is None
    view = CaseView(
        promised=Limit(5),
        accepted_at=None if outcome is Outcome.NOT_ACCEPTED else event.at,
        completed_at=event.at,
        outcome=event.outcome,
        reason=event.reason,
    )
    codes = [found.code for found in handling_reasons(view)]
    expected = {
        Outcome.APPROVED: [],
        Outcome.REFUSED: ["refused_without_reason"],
        Outcome.NOT_ACCEPTED: ["not_accepted_without_reason"],
    }
    assert codes == expected[outcome]


def test_texts_are_trimmed_and_reasons_may_span_lines() -> None:
    event = parse_event(changed("accepted", item_name="  食品经营许可 ", department=" 市场监管局"))
    assert isinstance(event, Accepted)
    assert (event.item_name, event.department) == ("食品经营许可", "市场监管局")
    withdrawn = parse_event(changed("withdrawn", reason=" 第一行\n第二行\t说明 "))
    assert isinstance(withdrawn, Withdrawn) and withdrawn.reason == "第一行\n第二行\t说明"


def test_events_are_immutable() -> None:
    event = parse_event(VALID["accepted"])
    with pytest.raises(ValidationError):
        event.case_id = "other"  # type: ignore[misc]


def test_type_adapter_and_registry_agree() -> None:
    assert set(EVENT_MODELS) == set(MODELS) == set(EventType)
    for kind, model in EVENT_MODELS.items():
        assert model is MODELS[kind]
        assert model.model_fields["type"].annotation == Literal[kind.value]
        assert type(CASE_EVENT.validate_python(MINIMAL[kind])) is model
        assert type(CASE_EVENT.validate_json(CASE_EVENT.dump_json(parse_event(VALID[kind])))) is (
            model
        )


def _properties(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for model_name, model in schema.get("$defs", {}).items():
        for field_name, field in model.get("properties", {}).items():
            found.append((model_name, field_name, field))
    for field_name, field in schema.get("properties", {}).items():
        found.append((schema.get("title", ""), field_name, field))
    return found


@pytest.mark.parametrize("schema", [CASE_EVENT.json_schema(), EventBatch.model_json_schema()])
def test_every_field_has_a_description_and_extra_is_forbidden(schema: dict[str, Any]) -> None:
    properties = _properties(schema)
    assert len(properties) > 30 or schema.get("title") == "EventBatch"
    missing = [(m, f) for m, f, field in properties if not field.get("description")]
    assert missing == []
    for model in schema.get("$defs", {}).values():
        if model.get("type") == "object":
            assert model.get("additionalProperties") is False


def test_limit_units_are_the_clock_strings() -> None:
    schema = TimeLimit.model_json_schema()
    unit = schema["$defs"]["LimitUnit"]["enum"]
    assert unit == [member.value for member in LimitUnit]
    assert TimeLimit.model_fields["unit"].annotation is LimitUnit


# ---- invalid fields: location and message -----------------------------------------------------

LONG = "x" * 65
INVALID = [
    # (type, changes, location, message or its start, error type)
    ("accepted", {"event_id": DROP}, "event_id", "required field 'event_id' is missing", "missing"),
    (
        "accepted",
        {"case_id": ""},
        "case_id",
        "String should have at least 1 character",
        "string_too_short",
    ),
    (
        "accepted",
        {"case_id": LONG},
        "case_id",
        "String should have at most 64 characters",
        "string_too_long",
    ),
    (
        "accepted",
        {"case_id": " C1"},
        "case_id",
        "must not begin or end with whitespace",
        "value_error",
    ),
    ("accepted", {"case_id": 17}, "case_id", "Input should be a valid string", "string_type"),
    (
        "accepted",
        {"item_code": "X\x001"},
        "item_code",
        "must not contain control characters",
        "value_error",
    ),
    (
        "accepted",
        {"item_code": DROP},
        "item_code",
        "required field 'item_code' is missing",
        "missing",
    ),
    (
        "accepted",
        {"item_name": "  "},
        "item_name",
        "String should have at least 1 character",
        "string_too_short",
    ),
    (
        "accepted",
        {"item_name": "食品\n经营"},
        "item_name",
        "must be one line without control characters",
        "value_error",
    ),
    (
        "accepted",
        {"item_name": "许" * 201},
        "item_name",
        "String should have at most 200 characters",
        "string_too_long",
    ),
    (
        "accepted",
        {"department": DROP},
        "department",
        "required field 'department' is missing",
        "missing",
    ),
    (
        "accepted",
        {"department": "局" * 101},
        "department",
        "String should have at most 100 characters",
        "string_too_long",
    ),
    (
        "accepted",
        {"window_id": "3号窗口"},
        "window_id",
        "'3号窗口' is not a window id",
        "value_error",
    ),
    ("accepted", {"window_id": "-W1"}, "window_id", "'-W1' is not a window id", "value_error"),
    (
        "accepted",
        {"applicant_type": "company"},
        "applicant_type",
        "Input should be 'individual' or 'organization'",
        "enum",
    ),
    (
        "accepted",
        {"applicant_type": DROP},
        "applicant_type",
        "required field 'applicant_type' is missing",
        "missing",
    ),
    (
        "accepted",
        {"promised": {"amount": 5, "unit": "days"}},
        "promised/unit",
        "Input should be 'working_days', 'natural_days' or 'working_hours'",
        "enum",
    ),
    (
        "accepted",
        {"promised": {"amount": 5}},
        "promised/unit",
        "required field 'unit' is missing",
        "missing",
    ),
    (
        "accepted",
        {"promised": {"unit": "natural_days"}},
        "promised/amount",
        "required field 'amount' is missing",
        "missing",
    ),
    (
        "accepted",
        {"promised": {"amount": -1, "unit": "working_days"}},
        "promised/amount",
        "Input should be greater than or equal to 0",
        "greater_than_equal",
    ),
    (
        "accepted",
        {"promised": {"amount": MAX_LIMIT + 1, "unit": "natural_days"}},
        "promised/amount",
        f"Input should be less than or equal to {MAX_LIMIT}",
        "less_than_equal",
    ),
    (
        "accepted",
        {"promised": {"amount": 0, "unit": "working_hours"}},
        "promised/amount",
        "a limit in working hours must be at least 1 hour",
        "limit_hours",
    ),
    (
        "accepted",
        {"promised": {"amount": 2.5, "unit": "working_days"}},
        "promised/amount",
        "Input should be a valid integer",
        "int_from_float",
    ),
    (
        "accepted",
        {"promised": {"amount": True, "unit": "working_days"}},
        "promised/amount",
        "expected a whole number, got a boolean",
        "value_error",
    ),
    (
        "accepted",
        {"promised": {"amount": 5, "unit": "working_days", "per": "item"}},
        "promised/per",
        "unknown field 'per'",
        "extra_forbidden",
    ),
    ("accepted", {"promised": 5}, "promised", "expected a JSON object", "model_type"),
    (
        "accepted",
        {"legal": {"amount": 20, "unit": "weeks"}},
        "legal/unit",
        "Input should be",
        "enum",
    ),
    (
        "accepted",
        {"handler_id": ""},
        "handler_id",
        "String should have at least 1 character",
        "string_too_short",
    ),
    (
        "accepted",
        {"colour": "red"},
        "colour",
        "field 'colour' is not allowed in an event of type 'accepted'",
        "extra_forbidden",
    ),
    (
        "accepted",
        {"a/b~c": 1},
        "a~1b~0c",
        "field 'a/b~c' is not allowed in an event of type 'accepted'",
        "extra_forbidden",
    ),
    ("step", {"step": DROP}, "step", "required field 'step' is missing", "missing"),
    (
        "step",
        {"step": "审" * 65},
        "step",
        "String should have at most 64 characters",
        "string_too_long",
    ),
    ("step", {"phase": "middle"}, "phase", "Input should be 'start' or 'end'", "enum"),
    ("step", {"phase": DROP}, "phase", "required field 'phase' is missing", "missing"),
    (
        "step",
        {"handler_id": DROP},
        "handler_id",
        "required field 'handler_id' is missing",
        "missing",
    ),
    (
        "step",
        {"step_id": "s 1 "},
        "step_id",
        "must not begin or end with whitespace",
        "value_error",
    ),
    (
        "step",
        {"limit": {"amount": 0, "unit": "working_hours"}},
        "limit/amount",
        "a limit in working hours must be at least 1 hour",
        "limit_hours",
    ),
    (
        "step",
        {"item_code": "X1"},
        "item_code",
        "field 'item_code' is not allowed in an event of type 'step'",
        "extra_forbidden",
    ),
    (
        "suspended",
        {"kind": "holiday"},
        "kind",
        "Input should be 'correction', 'hearing', 'tender', 'auction', 'inspection', 'expert_review' or 'other'",
        "enum",
    ),
    ("suspended", {"kind": DROP}, "kind", "required field 'kind' is missing", "missing"),
    (
        "suspended",
        {"kind": "other", "reason": DROP},
        "reason",
        "a suspension of kind 'other' needs a written reason",
        "reason_required",
    ),
    (
        "suspended",
        {"kind": "other", "reason": " "},
        "reason",
        "a suspension of kind 'other' needs a written reason",
        "reason_required",
    ),
    (
        "suspended",
        {"reason": "说" * 2001},
        "reason",
        "String should have at most 2000 characters",
        "string_too_long",
    ),
    (
        "suspended",
        {"reason": "bell\x07"},
        "reason",
        "must not contain control characters other than line breaks and tabs",
        "value_error",
    ),
    (
        "resumed",
        {"suspension_id": ""},
        "suspension_id",
        "String should have at least 1 character",
        "string_too_short",
    ),
    (
        "resumed",
        {"kind": "correction"},
        "kind",
        "field 'kind' is not allowed in an event of type 'resumed'",
        "extra_forbidden",
    ),
    (
        "completed",
        {"outcome": "rejected"},
        "outcome",
        "Input should be 'approved', 'refused' or 'not_accepted'",
        "enum",
    ),
    ("completed", {"outcome": DROP}, "outcome", "required field 'outcome' is missing", "missing"),
    (
        "completed",
        {"handler_id": DROP},
        "handler_id",
        "required field 'handler_id' is missing",
        "missing",
    ),
    ("completed", {"reason": 404}, "reason", "Input should be a valid string", "string_type"),
    (
        "withdrawn",
        {"outcome": "approved"},
        "outcome",
        "field 'outcome' is not allowed in an event of type 'withdrawn'",
        "extra_forbidden",
    ),
]


@pytest.mark.parametrize(("kind", "changes", "loc", "message", "error_type"), INVALID)
def test_invalid_field_alone(
    kind: str, changes: dict[str, Any], loc: str, message: str, error_type: str
) -> None:
    found = details(changed(kind, **changes))
    assert len(found) == 1, found
    assert found[0]["loc"] == loc
    assert found[0]["message"].startswith(message), found[0]["message"]
    assert found[0]["type"] == error_type


@pytest.mark.parametrize(("kind", "changes", "loc", "message", "error_type"), INVALID)
def test_invalid_field_in_a_batch(
    kind: str, changes: dict[str, Any], loc: str, message: str, error_type: str
) -> None:
    found = details(changed(kind, **changes), batch_index=3)
    assert [(d["loc"], d["type"]) for d in found] == [(f"events/3/{loc}", error_type)]
    assert found[0]["message"].startswith(message)


def test_the_example_location() -> None:
    data = changed("accepted", promised={"amount": 5, "unit": "fortnights"})
    assert details(data, batch_index=3)[0]["loc"] == "events/3/promised/unit"


def test_every_bad_field_of_an_event_is_listed() -> None:
    data = changed(
        "accepted",
        at="2026-11-16T10:00:00",
        promised={"amount": 0, "unit": "working_hours"},
        window_id="窗口",
        applicant_type=DROP,
        extra=1,
    )
    found = {(d["loc"], d["type"]) for d in details(data, batch_index=0)}
    assert found == {
        ("events/0/at", "value_error"),
        ("events/0/promised/amount", "limit_hours"),
        ("events/0/window_id", "value_error"),
        ("events/0/applicant_type", "missing"),
        ("events/0/extra", "extra_forbidden"),
    }


# ---- datetimes --------------------------------------------------------------------------------

NAIVE_MESSAGE = "has no UTC offset: send a timezone-aware time such as"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2026-11-16T10:00:00", f"2026-11-16T10:00:00 {NAIVE_MESSAGE} 2026-11-16T10:00:00+08:00"),
        ("2026-11-16 10:00", f"2026-11-16T10:00:00 {NAIVE_MESSAGE}"),
        ("2026-11-16T10:00:00.250", f"2026-11-16T10:00:00.250000 {NAIVE_MESSAGE}"),
        (dt.datetime(2026, 11, 16, 10), f"2026-11-16T10:00:00 {NAIVE_MESSAGE}"),
        ("2026-11-16", "expected an ISO 8601 date-time with a UTC offset"),
        ("16/11/2026 10:00+08:00", "expected an ISO 8601 date-time with a UTC offset"),
        (
            1763258400,
            "expected an ISO 8601 date-time with a UTC offset, e.g. 2026-11-16T10:00:00+08:00, got 1763258400",
        ),
        ("1763258400", "expected an ISO 8601 date-time with a UTC offset"),
        (True, "expected an ISO 8601 date-time with a UTC offset"),
        ("2026-13-01T10:00:00+08:00", "Input should be a valid datetime"),
        ("2026-11-16T25:00:00+08:00", "Input should be a valid datetime"),
        ("1999-12-31T23:00:00+00:00", "1999-12-31T23:00:00+00:00 is outside the supported range"),
        ("2100-01-01T00:00:00Z", "2100-01-01T00:00:00+00:00 is outside the supported range"),
    ],
)
def test_bad_datetimes(value: object, message: str) -> None:
    for kind in VALID:
        found = details(changed(kind, at=value))
        assert [d["loc"] for d in found] == ["at"]
        assert found[0]["message"].startswith(message), found[0]["message"]


@pytest.mark.parametrize(
    ("value", "utc"),
    [
        ("2026-11-16T10:00:00+08:00", "2026-11-16T02:00:00+00:00"),
        ("2026-11-16T02:00:00Z", "2026-11-16T02:00:00+00:00"),
        ("2026-11-16 10:00:00+0800", "2026-11-16T02:00:00+00:00"),
        ("2026-11-16T10:00+08:00", "2026-11-16T02:00:00+00:00"),
        ("2026-11-16T10:00:00.123456+08:00", "2026-11-16T02:00:00.123456+00:00"),
        (dt.datetime(2026, 11, 16, 10, tzinfo=SH), "2026-11-16T02:00:00+00:00"),
        ("2000-01-02T00:00:00Z", "2000-01-02T00:00:00+00:00"),
    ],
)
def test_aware_datetimes(value: object, utc: str) -> None:
    event = parse_event(changed("resumed", at=value))
    assert event.at.utcoffset() is not None
    assert event.at.astimezone(dt.UTC).isoformat() == utc


def test_offset_of_the_source_is_kept() -> None:
    event = parse_event(changed("resumed", at="2026-11-16T10:00:00+08:00"))
    assert event.at.utcoffset() == dt.timedelta(hours=8)
    assert event.model_dump(mode="json")["at"] == "2026-11-16T10:00:00+08:00"


# ---- type discriminator, extra fields, non-objects --------------------------------------------

EXPECTED_TYPES = "expected one of accepted, step, suspended, resumed, completed, withdrawn"


@pytest.mark.parametrize(
    ("data", "loc", "message", "error_type"),
    [
        (
            {**BASE, "type": "closed"},
            "type",
            f"unknown event type 'closed': {EXPECTED_TYPES}",
            "union_tag_invalid",
        ),
        (
            {**BASE, "type": "Accepted"},
            "type",
            "unknown event type 'Accepted'",
            "union_tag_invalid",
        ),
        ({**BASE, "type": 3}, "type", "unknown event type '3'", "union_tag_invalid"),
        (
            BASE,
            "type",
            f"required field 'type' is missing: {EXPECTED_TYPES}",
            "union_tag_not_found",
        ),
        ([BASE], "", "expected a JSON object", "model_attributes_type"),
        ("accepted", "", "expected a JSON object", "model_attributes_type"),
    ],
)
def test_bad_type_or_shape(data: Any, loc: str, message: str, error_type: str) -> None:
    found = details(data)
    assert found == [{"loc": loc, "message": found[0]["message"], "type": error_type}]
    assert found[0]["message"].startswith(message)
    in_batch = details(data, batch_index=2)
    assert [d["loc"] for d in in_batch] == [f"events/2/{loc}".rstrip("/")]


@pytest.mark.parametrize("kind", list(VALID))
def test_extra_fields_rejected_in_every_type(kind: str) -> None:
    found = details(changed(kind, source="ERP"))
    assert found == [
        {
            "loc": "source",
            "message": f"field 'source' is not allowed in an event of type '{kind}'",
            "type": "extra_forbidden",
        }
    ]


def test_location_helpers() -> None:
    assert location(("events", 3, "accepted", "promised", "unit")) == "events/3/promised/unit"
    assert location(("step", "step")) == "step"
    assert location(("events", 0, "step", "step")) == "events/0/step"
    assert location(()) == ""
    fastapi_style = {
        "type": "enum",
        "loc": ("body", "events", 3, "accepted", "promised", "unit"),
        "msg": "Input should be 'working_days', 'natural_days' or 'working_hours'",
    }
    assert error_detail(fastapi_style)["loc"] == "body/events/3/promised/unit"


# ---- batches ----------------------------------------------------------------------------------


def batch_of(count: int) -> dict[str, Any]:
    return {"events": [{**MINIMAL["resumed"], "event_id": f"e{i}"} for i in range(count)]}


@pytest.mark.parametrize("count", [1, 2, MAX_BATCH])
def test_batch_sizes_accepted(count: int) -> None:
    assert len(EventBatch.model_validate(batch_of(count)).events) == count


@pytest.mark.parametrize(
    ("data", "loc", "message", "error_type"),
    [
        (
            batch_of(0),
            "events",
            "List should have at least 1 item after validation, not 0",
            "too_short",
        ),
        (
            batch_of(MAX_BATCH + 1),
            "events",
            "List should have at most 1000 items after validation, not 1001",
            "too_long",
        ),
        ({}, "events", "required field 'events' is missing", "missing"),
        ({"events": VALID["accepted"]}, "events", "Input should be a valid list", "list_type"),
        ({**batch_of(1), "source": "ERP"}, "source", "unknown field 'source'", "extra_forbidden"),
    ],
)
def test_batch_limits(data: Any, loc: str, message: str, error_type: str) -> None:
    with pytest.raises(ValidationError) as caught:
        EventBatch.model_validate(data)
    assert validation_details(caught.value) == [
        {"loc": loc, "message": message, "type": error_type}
    ]


def test_batch_mixes_types_and_cases_in_any_order() -> None:
    events = [{**VALID[kind], "event_id": f"e-{kind}"} for kind in reversed(list(VALID))]
    events.append({**VALID["accepted"], "event_id": "other-case", "case_id": "C2"})
    batch = EventBatch.model_validate({"events": events})
    assert [event.type for event in batch.events] == [*reversed(list(VALID)), "accepted"]


def test_one_bad_event_fails_the_whole_batch() -> None:
    events = [{**VALID[kind], "event_id": f"e-{kind}"} for kind in VALID]
    events[4] = {**events[4], "outcome": "maybe"}
    with pytest.raises(ValidationError) as caught:
        EventBatch.model_validate({"events": events})
    assert [d["loc"] for d in validation_details(caught.value)] == ["events/4/outcome"]


def test_batch_json_body() -> None:
    item = {"type": "resumed", "event_id": "e1", "case_id": "C1", "at": AT}
    body = json.dumps({"events": [item]})
    batch = EventBatch.model_validate_json(body)
    assert isinstance(batch.events[0], Resumed)


# ---- idempotency key --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "event_id",
    [
        "1",
        "e" * 128,
        "审" * 128,
        "ERP:2026/11/16#0001",
        "550e8400-e29b-41d4-a716-446655440000",
        "a b",
    ],
)
def test_event_id_shapes_accepted(event_id: str) -> None:
    event = parse_event(changed("resumed", event_id=event_id))
    assert event.event_id == event_id
    assert idempotency_key("erp-shanghai", event) == EventKey("erp-shanghai", event_id)


@pytest.mark.parametrize(
    ("event_id", "message"),
    [
        ("", "String should have at least 1 character"),
        ("e" * 129, "String should have at most 128 characters"),
        ("审" * 129, "String should have at most 128 characters"),
        (" e1", "must not begin or end with whitespace"),
        ("e1\n", "must not begin or end with whitespace"),
        ("e\t1", "must not contain control characters"),
        (12345, "Input should be a valid string"),
        (None, "Input should be a valid string"),
    ],
)
def test_event_id_shapes_rejected(event_id: object, message: str) -> None:
    found = details(changed("resumed", event_id=event_id))
    assert [(d["loc"], d["message"]) for d in found] == [("event_id", message)]


def test_canonical_json_is_content() -> None:
    first = parse_event(VALID["accepted"])
    same_instant = parse_event(changed("accepted", at="2026-11-16T02:00:00Z"))
    reordered = parse_event(dict(reversed(list(VALID["accepted"].items()))))
    padded = parse_event(changed("accepted", item_name=" 食品经营许可 "))
    assert canonical_json(first) == canonical_json(same_instant) == canonical_json(reordered)
    assert canonical_json(first) == canonical_json(padded)
    assert canonical_json(first) != canonical_json(
        parse_event(changed("accepted", department="卫健委"))
    )
    assert '"at":"2026-11-16T02:00:00+00:00"' in canonical_json(first)


def test_batch_repeats_and_conflicts_of_an_event_id() -> None:
    repeat = {
        "events": [VALID["accepted"], MINIMAL["resumed"] | {"event_id": "x"}, VALID["accepted"]]
    }
    assert len(EventBatch.model_validate(repeat).events) == 3
    same_instant = {"events": [VALID["accepted"], changed("accepted", at="2026-11-16T02:00:00Z")]}
    assert len(EventBatch.model_validate(same_instant).events) == 2
    conflict = {
        "events": [
            VALID["accepted"],
            MINIMAL["resumed"] | {"event_id": "x"},
            changed("accepted", item_name="另一个事项"),
            changed("completed", event_id="x"),
        ]
    }
    with pytest.raises(ValidationError) as caught:
        EventBatch.model_validate(conflict)
    assert validation_details(caught.value) == [
        {
            "loc": "events/2/event_id",
            "message": "event_id 'ev-1' is used by events/0 with other content",
            "type": "duplicate_event",
        },
        {
            "loc": "events/3/event_id",
            "message": "event_id 'x' is used by events/1 with other content",
            "type": "duplicate_event",
        },
    ]


# ---- limits always convert to the clock's Limit -----------------------------------------------

amounts = st.one_of(
    st.integers(min_value=-3, max_value=MAX_LIMIT + 3),
    st.integers(),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
    st.integers(min_value=-3, max_value=MAX_LIMIT + 3).map(str),
    st.text(max_size=6),
)
units = st.one_of(st.sampled_from([unit.value for unit in LimitUnit]), st.text(max_size=14))


@given(amount=amounts, unit=units)
def test_a_validated_limit_always_converts(amount: object, unit: object) -> None:
    try:
        limit = TimeLimit.model_validate({"amount": amount, "unit": unit})
    except ValidationError as error:
        for detail in validation_details(error):
            assert detail["loc"] in ("amount", "unit")
        return
    converted = limit.to_limit()
    assert isinstance(converted, Limit)
    assert (converted.amount, converted.unit.value) == (limit.amount, limit.unit.value)
    assert 0 <= converted.amount <= MAX_LIMIT


@given(
    amount=st.integers(min_value=0, max_value=MAX_LIMIT),
    unit=st.sampled_from(list(LimitUnit)),
)
def test_every_limit_the_clock_takes_is_valid_intake(amount: int, unit: LimitUnit) -> None:
    try:
        expected: Limit | None = Limit(amount, unit)
    except ValueError:
        expected = None
    data = {"amount": amount, "unit": unit.value}
    try:
        event = parse_event(changed("accepted", promised=data, legal=data))
    except ValidationError:
        assert expected is None
        return
    assert isinstance(event, Accepted) and event.promised is not None and event.legal is not None
    assert event.promised.to_limit() == expected == event.legal.to_limit()


@given(
    amount=st.one_of(st.integers(min_value=-2, max_value=MAX_LIMIT + 2), st.booleans()),
    unit=st.sampled_from([*(unit.value for unit in LimitUnit), "hours"]),
)
def test_node_limits_convert_through_a_batch(amount: object, unit: str) -> None:
    data = {"events": [changed("step", limit={"amount": amount, "unit": unit})]}
    try:
        batch = EventBatch.model_validate(data)
    except ValidationError as error:
        locs = {detail["loc"] for detail in validation_details(error)}
        assert locs <= {"events/0/limit/amount", "events/0/limit/unit"}
        return
    step = batch.events[0]
    assert isinstance(step, StepEvent) and step.limit is not None
    assert step.limit.to_limit() == Limit(step.limit.amount, LimitUnit(unit))
