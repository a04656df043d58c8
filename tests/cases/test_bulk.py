"""Bulk file import (cases.bulk): JSON lines and CSV, encodings, line numbers, round trips."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cases.bulk import (
    CSV_COLUMNS,
    GB18030,
    UTF8,
    BulkResult,
    LineError,
    parse_csv,
    parse_jsonl,
    to_csv,
    to_jsonl,
)
from cases.cards import Outcome
from cases.clock import MAX_LIMIT, LimitUnit
from cases.intake import (
    Accepted,
    ApplicantType,
    CaseEvent,
    Completed,
    StepPhase,
    SuspensionKind,
    parse_event,
)

SH = ZoneInfo("Asia/Shanghai")


def event(event_type: str, event_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": event_type,
        "event_id": event_id,
        "case_id": fields.pop("case_id", "C2026-0001"),
        "at": fields.pop("at", "2026-11-16T10:00:00+08:00"),
        **fields,
    }


CASE = [
    event(
        "accepted",
        "e1",
        item_code="11110000-XK-001",
        item_name="食品经营许可（新办）",
        department="市场监管局",
        window_id="W01",
        applicant_type="organization",
        promised={"amount": 5, "unit": "working_days"},
        legal={"amount": 20, "unit": "working_days"},
        handler_id="clerk-07",
    ),
    event(
        "step",
        "e2",
        step="审核",
        phase="start",
        handler_id="rev-02",
        step_id="s1",
        limit={"amount": 8, "unit": "working_hours"},
        at="2026-11-17T09:10:00+08:00",
    ),
    event(
        "suspended",
        "e3",
        kind="correction",
        reason="缺少营业执照副本，\n请补正",
        suspension_id="p1",
        at="2026-11-17T15:00:00+08:00",
    ),
    event("resumed", "e4", suspension_id="p1", at="2026-11-20T10:00:00+08:00"),
    event(
        "step",
        "e5",
        step="审核",
        phase="end",
        handler_id="rev-02",
        step_id="s1",
        at="2026-11-20T16:00:00+08:00",
    ),
    event(
        "completed", "e6", outcome="approved", handler_id="chief-01", at="2026-11-23T11:00:00+08:00"
    ),
    event("withdrawn", "e7", case_id="C2026-0002", reason="申请人撤回", at="2026-11-18T09:00:00Z"),
]
JSONL = "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in CASE)


def parsed(items: list[dict[str, Any]]) -> tuple[CaseEvent, ...]:
    return tuple(parse_event(item) for item in items)


def locs(error: LineError) -> list[tuple[str, str]]:
    return [(detail["loc"], detail["type"]) for detail in error.details]


# ---- JSON lines -------------------------------------------------------------------------------


def test_jsonl_every_type() -> None:
    result = parse_jsonl(JSONL)
    assert result.ok and result.errors == ()
    assert result.events == parsed(CASE)
    assert result.lines == (1, 2, 3, 4, 5, 6, 7)
    assert result.encoding is None


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (JSONL.encode(), UTF8),
        (b"\xef\xbb\xbf" + JSONL.encode(), UTF8),
        ("\ufeff" + JSONL, None),
        (JSONL.replace("\n", "\r\n"), None),
        (JSONL.encode(GB18030), GB18030),
    ],
)
def test_jsonl_bom_line_endings_and_encodings(data: str | bytes, encoding: str | None) -> None:
    result = parse_jsonl(data)
    assert result.ok, result.errors
    assert result.events == parsed(CASE)
    assert result.encoding == encoding


def test_jsonl_blank_lines_and_line_numbers_of_errors() -> None:
    lines = [
        json.dumps(CASE[0], ensure_ascii=False),  # 1
        "",  # 2
        "   \t",  # 3
        json.dumps({**CASE[1], "phase": "middle"}),  # 4
        '{"type": "resumed", "event_id": "e9"',  # 5: broken JSON
        json.dumps(CASE[2], ensure_ascii=False),  # 6
        "[1, 2]",  # 7
        json.dumps({**CASE[3], "at": "2026-11-20T10:00:00"}),  # 8: naive
        json.dumps({**CASE[5], "type": "closed"}),  # 9
        "",  # 10
    ]
    result = parse_jsonl("\n".join(lines))
    assert not result.ok
    assert result.lines == (1, 6)
    assert [e.event_id for e in result.events] == ["e1", "e3"]
    assert [error.line for error in result.errors] == [4, 5, 7, 8, 9]
    assert locs(result.errors[0]) == [("phase", "enum")]
    assert locs(result.errors[1]) == [("", "json_invalid")]
    assert result.errors[1].details[0]["message"].startswith("Invalid JSON: EOF while parsing")
    assert " at column " in result.errors[1].details[0]["message"]
    assert locs(result.errors[2]) == [("", "dict_type")]
    assert (
        result.errors[3].details[0]["message"].startswith("2026-11-20T10:00:00 has no UTC offset")
    )
    assert locs(result.errors[4]) == [("type", "union_tag_invalid")]
    assert result.errors[0].as_dict() == {"line": 4, "details": result.errors[0].details}


def test_jsonl_line_separators_inside_strings_do_not_split_lines() -> None:
    text = json.dumps({**CASE[2], "reason": "第一段\u2028第二段\u2029第三段"}, ensure_ascii=False)
    assert "\u2028" in text
    result = parse_jsonl(text + "\n" + json.dumps(CASE[3]))
    assert result.errors == ()
    assert result.lines == (1, 2)


def test_jsonl_repeats_and_conflicting_event_ids() -> None:
    lines = [CASE[0], CASE[3], CASE[0], {**CASE[3], "suspension_id": "p2"}]
    result = parse_jsonl("\n".join(json.dumps(item) for item in lines))
    assert result.lines == (1, 2, 3)
    assert [error.line for error in result.errors] == [4]
    assert result.errors[0].details == [
        {
            "loc": "event_id",
            "message": "event_id 'e4' is used on line 2 with other content",
            "type": "duplicate_event",
        }
    ]


@pytest.mark.parametrize("data", ["", "\n\n", b"", b"\xef\xbb\xbf", "\ufeff\n"])
def test_empty_files(data: str | bytes) -> None:
    for parse in (parse_jsonl, parse_csv):
        result = parse(data)
        assert result.ok and result.events == ()


def test_undecodable_bytes_name_their_line() -> None:
    utf8 = JSONL.encode() + b'{"type": "\xff\xff"}\n'
    result = parse_jsonl(utf8)
    assert result.events == () and result.encoding is None
    assert [error.line for error in result.errors] == [8]
    offset = len(JSONL.encode()) + 10
    assert result.errors[0].details == [
        {
            "loc": "",
            "message": f"invalid UTF-8 at byte offset {offset}, nor is it GB18030",
            "type": "encoding",
        }
    ]
    gb = JSONL.encode(GB18030) + b"\n\x80\n"
    gb_error = parse_jsonl(gb).errors[0]
    assert gb_error.line == 9
    assert gb_error.details[0]["message"].startswith("invalid GB18030 at byte offset")
    assert parse_csv(b"event_id,case_id,at,type\n\x80\n").errors[0].line == 2


def test_to_jsonl_round_trip() -> None:
    events = parsed(CASE)
    text = to_jsonl(events)
    assert text.count("\n") == len(events) and "null" not in text
    assert parse_jsonl(text).events == events
    assert parse_jsonl(text.encode()).events == events


# ---- CSV --------------------------------------------------------------------------------------

HEADER = (
    "event_id,case_id,at,type,item_code,item_name,department,window_id,applicant_type,"
    "promised_amount,promised_unit,legal_amount,legal_unit,handler_id,outcome,reason"
)
ROWS = [
    "A-1,C1,2026-11-16T10:00:00+08:00,accepted,X-001,食品经营许可,市场监管局,W01,organization,5,working_days,20,working_days,clerk-07,,",
    "A-2,C2,2026-11-16T10:30:00+08:00,accepted,X-002,公共场所卫生许可,卫健委,,individual,,,,,,,",
    'A-3,C1,2026-11-20T16:00:00+08:00,completed,,,,,,,,,,chief-01,refused,"不符合条件，\n不予许可"',
    "A-4,C2,2026-11-20T16:30:00+08:00,completed,,,,,,,,,,chief-01,refused,",
]
CSV_TEXT = HEADER + "\n" + "\n".join(ROWS) + "\n"


def test_csv_events_and_empty_cells_as_absent_fields() -> None:
    result = parse_csv(CSV_TEXT)
    assert result.ok, result.errors
    assert result.lines == (2, 3, 4, 6)  # A-3 spans lines 4 and 5
    first, second, refused, no_reason = result.events
    assert isinstance(first, Accepted) and isinstance(second, Accepted)
    assert first.item_name == "食品经营许可" and first.window_id == "W01"
    assert first.promised is not None and first.promised.to_limit().unit is LimitUnit.WORKING_DAYS
    assert (second.window_id, second.promised, second.legal, second.handler_id) == (None,) * 4
    assert isinstance(refused, Completed) and refused.reason == "不符合条件，\n不予许可"
    assert isinstance(no_reason, Completed) and no_reason.reason is None
    assert no_reason.outcome is Outcome.REFUSED


def test_csv_columns_any_subset_any_order_trimmed_cells() -> None:
    text = (
        " type , at ,case_id,event_id,suspension_id\r\n"
        "resumed, 2026-11-20T10:00:00+08:00 ,C1,r-1,\r\n"
        "\r\n"
        " , , , , \r\n"
        "resumed,2026-11-21T10:00:00+08:00,C1,r-2, p1 \r\n"
    )
    result = parse_csv(text)
    assert result.ok, result.errors
    assert result.lines == (2, 5)
    assert [getattr(item, "suspension_id", None) for item in result.events] == [None, "p1"]


def test_csv_bom_and_utf8_bytes() -> None:
    for data in (CSV_TEXT.encode(), b"\xef\xbb\xbf" + CSV_TEXT.encode(), "\ufeff" + CSV_TEXT):
        result = parse_csv(data)
        assert result.ok and len(result.events) == 4
        assert result.encoding == (None if isinstance(data, str) else UTF8)


def test_csv_in_gb18030_with_chinese_item_names() -> None:
    """Excel on Chinese Windows saves CSV in GB18030 (GBK); the names must come out right."""
    names = ["食品经营许可", "建设工程规划许可证核发", "药品零售企业许可（新办）", "㵘𠀀字库外"]
    rows = [
        f"G-{i},C{i},2026-11-16T10:00:00+08:00,accepted,X-{i},{name},住房和城乡建设局,,organization,"
        "10,working_days,,,,,"
        for i, name in enumerate(names)
    ]
    data = (HEADER + "\r\n" + "\r\n".join(rows) + "\r\n").encode(GB18030)
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    result = parse_csv(data)
    assert result.ok, result.errors
    assert result.encoding == GB18030
    assert [item.item_name for item in result.events if isinstance(item, Accepted)] == names
    assert {item.department for item in result.events if isinstance(item, Accepted)} == {
        "住房和城乡建设局"
    }


def test_csv_errors_with_line_numbers_and_columns() -> None:
    rows = [
        ROWS[0],  # 2
        "B-1,C1,2026-11-16T10:00:00,accepted,X,名称,局,,individual,5,working_days,,,,,",  # 3 naive
        "B-2,C1,2026-11-16T10:00:00+08:00,accepted,X,名称,局,,individual,5,,,,,,",  # 4 unit missing
        "B-3,C1,2026-11-16T10:00:00+08:00,accepted,X,名称,局,,individual,0,working_hours,,,,,",  # 5
        "B-4,C1,2026-11-16T10:00:00+08:00,completed,X,,,,,5,days,,,h1,approved,",  # 6 extra cells
        "B-5,C1,2026-11-16T10:00:00+08:00,withdrawn,,,,,",  # 7 too few cells
        "B-6,C1,2026-11-16T10:00:00+08:00,,,,,,,,,,,,,",  # 8 no type
        "B-7,C1,2026-11-16T10:00:00+08:00,accepted,X,名称,局,3号窗口,company,5,weeks,,,,,",  # 9
    ]
    result = parse_csv(HEADER + "\n" + "\n".join(rows))
    assert result.lines == (2,)
    by_line = {error.line: error for error in result.errors}
    assert sorted(by_line) == [3, 4, 5, 6, 7, 8, 9]
    assert locs(by_line[3]) == [("at", "value_error")]
    assert locs(by_line[4]) == [("promised_unit", "missing")]
    assert by_line[4].details[0]["message"] == (
        "column 'promised_unit' needs a value in a row of type 'accepted'"
    )
    assert locs(by_line[5]) == [("promised_amount", "limit_hours")]
    assert locs(by_line[6]) == [
        ("item_code", "extra_forbidden"),
        ("promised_amount", "extra_forbidden"),
        ("promised_unit", "extra_forbidden"),
    ]
    assert by_line[6].details[0]["message"] == (
        "column 'item_code' must be empty in a row of type 'completed'"
    )
    assert locs(by_line[7]) == [("", "row_length")]
    assert by_line[7].details[0]["message"] == "the row has 9 cells, the header 16"
    assert locs(by_line[8]) == [("type", "union_tag_not_found")]
    assert locs(by_line[9]) == [
        ("window_id", "value_error"),
        ("applicant_type", "enum"),
        ("promised_unit", "enum"),
    ]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("event_id,case_id,at,type,colour", [("colour", "unknown_column")]),
        ("event_id,case_id,at,type,reason,reason", [("reason", "duplicate_column")]),
        ("event_id,at,type", [("case_id", "missing_column")]),
        ("event_id,case_id,at,type,promised", [("promised", "unknown_column")]),
    ],
)
def test_csv_bad_header_stops_the_file(header: str, expected: list[tuple[str, str]]) -> None:
    text = "\n\n" + header + "\n" + "E-1,C1,2026-11-16T10:00:00+08:00,resumed\n"
    result = parse_csv(text)
    assert result.events == ()
    assert [error.line for error in result.errors] == [3]
    assert locs(result.errors[0]) == expected


def test_csv_unknown_column_lists_the_columns() -> None:
    result = parse_csv("event_id,case_id,at,type,item\n")
    message = result.errors[0].details[0]["message"]
    assert message.startswith("unknown column 'item': the columns are type, event_id")
    assert "promised_amount, promised_unit" in message


def test_csv_unterminated_quote_stops_at_its_line() -> None:
    text = (
        "event_id,case_id,at,type,reason\n"
        "W-1,C1,2026-11-16T10:00:00+08:00,withdrawn,ok\n"
        'W-2,C1,2026-11-16T10:00:00+08:00,withdrawn,"never closed\n'
        "W-3,C1,2026-11-16T10:00:00+08:00,withdrawn,\n"
    )
    result = parse_csv(text)
    assert result.events == ()
    assert [(error.line, locs(error)) for error in result.errors] == [(3, [("", "csv")])]


def test_csv_repeats_and_conflicts() -> None:
    text = (
        "event_id,case_id,at,type,suspension_id\n"
        "R-1,C1,2026-11-20T10:00:00+08:00,resumed,p1\n"
        "R-1,C1,2026-11-20T02:00:00Z,resumed,p1\n"
        "R-1,C1,2026-11-20T10:00:00+08:00,resumed,p2\n"
    )
    result = parse_csv(text)
    assert result.lines == (2, 3)
    assert [(error.line, locs(error)) for error in result.errors] == [
        (4, [("event_id", "duplicate_event")])
    ]


def test_csv_round_trip_of_every_type() -> None:
    events = parsed(CASE)
    text = to_csv(events)
    assert text.splitlines()[0] == ",".join(CSV_COLUMNS)
    assert parse_csv(text).events == events
    gb = parse_csv(text.encode(GB18030))
    assert gb.events == events and gb.encoding == GB18030
    assert parse_csv(to_csv(events, columns=[*reversed(CSV_COLUMNS)])).events == events


def test_to_csv_refuses_columns_that_lose_fields() -> None:
    with pytest.raises(ValueError, match="outside the columns"):
        to_csv(parsed(CASE[:1]), columns=["event_id", "case_id", "at", "type"])


def test_csv_and_jsonl_agree() -> None:
    assert parse_csv(to_csv(parsed(CASE))).events == parse_jsonl(JSONL).events


def test_bulk_result_defaults() -> None:
    assert BulkResult().ok
    assert not BulkResult(errors=(LineError(1, []),)).ok


# ---- round trips of generated events ----------------------------------------------------------

_text_chars = st.characters(blacklist_categories=("Cc", "Cs"))
keys = st.text(_text_chars, min_size=1, max_size=20).filter(lambda s: s == s.strip())
names = st.text(_text_chars, min_size=1, max_size=30).filter(lambda s: bool(s.strip()))
reasons = st.none() | st.text(
    st.characters(
        blacklist_categories=("Cs",),
        blacklist_characters=[chr(c) for c in range(32) if chr(c) not in "\t\n\r"]
        + [chr(c) for c in range(0x7F, 0xA0)],
    ),
    max_size=40,
)
window_ids = st.none() | st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,10}\Z")
zones = st.sampled_from([dt.UTC, SH, dt.timezone(dt.timedelta(hours=-5, minutes=-30))])
instants = st.datetimes(
    min_value=dt.datetime(2000, 1, 3), max_value=dt.datetime(2099, 12, 30), timezones=zones
)
limits = st.none() | st.one_of(
    st.fixed_dictionaries(
        {
            "amount": st.integers(0, MAX_LIMIT),
            "unit": st.sampled_from(["working_days", "natural_days"]),
        }
    ),
    st.fixed_dictionaries({"amount": st.integers(1, MAX_LIMIT), "unit": st.just("working_hours")}),
)


def _base(kind: str) -> dict[str, Any]:
    return {"type": st.just(kind), "event_id": keys, "case_id": keys, "at": instants}


events = st.one_of(
    st.fixed_dictionaries(
        {
            **_base("accepted"),
            "item_code": keys,
            "item_name": names,
            "department": names,
            "applicant_type": st.sampled_from([member.value for member in ApplicantType]),
        },
        optional={"window_id": window_ids, "promised": limits, "legal": limits, "handler_id": keys},
    ),
    st.fixed_dictionaries(
        {
            **_base("step"),
            "step": names,
            "phase": st.sampled_from([member.value for member in StepPhase]),
            "handler_id": keys,
        },
        optional={"window_id": window_ids, "step_id": keys, "limit": limits},
    ),
    st.fixed_dictionaries(
        {
            **_base("suspended"),
            "kind": st.sampled_from(
                [k.value for k in SuspensionKind if k is not SuspensionKind.OTHER]
            ),
        },
        optional={"reason": reasons, "suspension_id": keys},
    ),
    st.fixed_dictionaries({**_base("resumed")}, optional={"suspension_id": keys}),
    st.fixed_dictionaries(
        {
            **_base("completed"),
            "outcome": st.sampled_from([member.value for member in Outcome]),
            "handler_id": keys,
        },
        optional={"reason": reasons},
    ),
    st.fixed_dictionaries({**_base("withdrawn")}, optional={"reason": reasons}),
).map(parse_event)


@given(st.lists(events, max_size=8))
def test_generated_events_round_trip_through_jsonl_and_csv(generated: list[CaseEvent]) -> None:
    # make event ids unique so that the files hold no conflicting duplicates
    unique = tuple(
        item.model_copy(update={"event_id": f"{index}-{item.event_id}"})
        for index, item in enumerate(generated)
    )
    jsonl = parse_jsonl(to_jsonl(unique).encode())
    assert jsonl.errors == () and jsonl.events == unique
    csv_text = to_csv(unique)
    for data in (csv_text, csv_text.encode(), csv_text.encode(GB18030)):
        result = parse_csv(data)
        assert result.errors == (), result.errors
        assert result.events == unique
