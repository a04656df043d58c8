"""Bulk file import of case events (the front-end machine pattern, 前置机): JSON lines and CSV.

Pure parsing into the intake models of `cases.intake`; no storage.

- `parse_jsonl(data)`: one event (a JSON object) per line.
- `parse_csv(data)`: a header row, then one event per row. The columns are the events' fields
  flattened (`CSV_COLUMNS`): a time limit becomes `<name>_amount` and `<name>_unit`
  (promised_amount, promised_unit, legal_..., limit_...). An empty cell is an absent field, cells
  are trimmed, and a file may hold only the columns it uses (event_id, case_id, at and type are
  required). Cells of fields that the row's type does not have must be empty.
- Both take text or bytes. Bytes are decoded as UTF-8 (with or without a BOM) and, when that
  fails, as GB18030 (Excel on Chinese Windows writes it); `BulkResult.encoding` says which
  ("utf-8", "gb18030"; None for text). A leading BOM in text is dropped too.
- Blank lines are skipped. Line numbers are 1-based physical lines of the file; a CSV record
  whose quoted cell spans lines is numbered by its first line.
- The result holds the valid events (with their lines) and, per bad line, the details of
  `cases.intake.validation_details` (for CSV located by column name: promised_unit). An
  event_id used again with other content is an error on the later line; an exact repeat is
  kept (intake is idempotent). Whether to import the valid events of a file with errors is
  the caller's choice; `BulkResult.ok` says whether there were none.
- A file-level problem (bytes neither UTF-8 nor GB18030, a bad CSV header, broken CSV quoting)
  is an error on the line where it is found, and no events of the file are returned when the
  file cannot be read past it.

`to_jsonl(events)` and `to_csv(events)` write the same formats (round trip).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from cases.intake import (
    CASE_EVENT,
    EVENT_MODELS,
    CaseEvent,
    conflicting_duplicates,
    validation_details,
)

Detail = dict[str, str]
UTF8 = "utf-8"
GB18030 = "gb18030"
_BOM = "\ufeff"
_REQUIRED_COLUMNS = ("event_id", "case_id", "at", "type")
_FATAL = frozenset({"unknown_column", "duplicate_column", "missing_column", "csv"})


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The intake model inside a field's annotation (TimeLimit | None -> TimeLimit)."""
    candidates = getattr(annotation, "__args__", (annotation,))
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _columns() -> tuple[tuple[str, ...], dict[str, tuple[str, str]]]:
    """The flattened field names of every event type in a stable order, and for each column of
    a nested field its (field, sub-field)."""
    columns: list[str] = []
    nested: dict[str, tuple[str, str]] = {}
    for model in EVENT_MODELS.values():
        for name, info in model.model_fields.items():
            inner = _nested_model(info.annotation)
            names = [name]
            if inner is not None:
                names = [f"{name}_{sub}" for sub in inner.model_fields]
                nested.update({f"{name}_{sub}": (name, sub) for sub in inner.model_fields})
            columns += [column for column in names if column not in columns]
    return tuple(columns), nested


CSV_COLUMNS, _NESTED = _columns()


@dataclass(frozen=True, slots=True)
class LineError:
    """What is wrong on one line of the file (`line` is 1-based)."""

    line: int
    details: list[Detail]

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "details": self.details}


@dataclass(frozen=True, slots=True)
class BulkResult:
    """The valid events of a file with the line of each, and the errors per line."""

    events: tuple[CaseEvent, ...] = ()
    lines: tuple[int, ...] = ()  # the line of each event
    errors: tuple[LineError, ...] = ()
    encoding: str | None = None  # "utf-8" or "gb18030" when given bytes; None for text

    @property
    def ok(self) -> bool:
        return not self.errors


def _detail(loc: str, message: str, kind: str) -> Detail:
    return {"loc": loc, "message": message, "type": kind}


def decode(data: str | bytes) -> tuple[str, str | None, LineError | None]:
    """(text, encoding, error): UTF-8 first, else GB18030. When neither decodes, the error
    names the line of the bad byte in the encoding that reads further (the likelier one)."""
    if isinstance(data, str):
        return data.removeprefix(_BOM), None, None
    try:
        return data.decode("utf-8-sig"), UTF8, None
    except UnicodeDecodeError as error:
        utf8_error = error
    try:
        return data.decode(GB18030).removeprefix(_BOM), GB18030, None
    except UnicodeDecodeError as error:
        gb_error = error
    if utf8_error.start >= gb_error.start:
        offset, message = utf8_error.start, "invalid UTF-8 at byte offset {}, nor is it GB18030"
    else:
        offset, message = gb_error.start, "invalid GB18030 at byte offset {}, nor is it UTF-8"
    line = data.count(b"\n", 0, offset) + 1
    return "", None, LineError(line, [_detail("", message.format(offset), "encoding")])


def _collect(
    parsed: Iterable[tuple[int, CaseEvent | list[Detail]]], encoding: str | None
) -> BulkResult:
    """Sort parsed lines into events and errors; a conflicting event_id is an error."""
    events: list[CaseEvent] = []
    lines: list[int] = []
    errors: list[LineError] = []
    for line, outcome in parsed:
        if isinstance(outcome, list):
            errors.append(LineError(line, outcome))
        else:
            events.append(outcome)
            lines.append(line)
    conflicts = conflicting_duplicates(events)
    for index, first in conflicts:
        event_id = events[index].event_id
        message = f"event_id {event_id!r} is used on line {lines[first]} with other content"
        errors.append(LineError(lines[index], [_detail("event_id", message, "duplicate_event")]))
    dropped = {index for index, _ in conflicts}
    kept = [index for index in range(len(events)) if index not in dropped]
    errors.sort(key=lambda error: error.line)
    return BulkResult(
        tuple(events[index] for index in kept),
        tuple(lines[index] for index in kept),
        tuple(errors),
        encoding,
    )


# ---- JSON lines -------------------------------------------------------------------------------


def _jsonl_lines(text: str) -> Iterator[tuple[int, CaseEvent | list[Detail]]]:
    # split on "\n" only: JSON strings may hold U+2028 and other breaks that splitlines() cuts
    for number, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            yield number, CASE_EVENT.validate_json(raw)
        except ValidationError as error:
            details = validation_details(error)
            for detail in details:  # the JSON parser counts lines within the line
                detail["message"] = detail["message"].replace(" at line 1 column ", " at column ")
            yield number, details


def parse_jsonl(data: str | bytes) -> BulkResult:
    """Events from JSON lines (one JSON object per line)."""
    text, encoding, problem = decode(data)
    if problem is not None:
        return BulkResult(errors=(problem,))
    return _collect(_jsonl_lines(text), encoding)


def to_jsonl(events: Iterable[CaseEvent]) -> str:
    """Events as JSON lines, absent fields left out."""
    return "".join(event.model_dump_json(exclude_none=True) + "\n" for event in events)


# ---- CSV --------------------------------------------------------------------------------------


def _header_problems(header: list[str]) -> list[Detail]:
    problems: list[Detail] = []
    seen: set[str] = set()
    for name in header:
        if name not in CSV_COLUMNS:
            message = f"unknown column {name!r}: the columns are {', '.join(CSV_COLUMNS)}"
            problems.append(_detail(name, message, "unknown_column"))
        elif name in seen:
            problems.append(_detail(name, f"column {name!r} appears twice", "duplicate_column"))
        seen.add(name)
    for name in _REQUIRED_COLUMNS:
        if name not in seen:
            message = f"required column {name!r} is missing"
            problems.append(_detail(name, message, "missing_column"))
    return problems


def _row_data(header: list[str], cells: list[str]) -> dict[str, Any]:
    """A row as the nested data of an event; empty cells are absent fields."""
    data: dict[str, Any] = {}
    for name, raw in zip(header, cells, strict=True):
        cell = raw.strip()
        if not cell:
            continue
        if name in _NESTED:
            outer, inner = _NESTED[name]
            data.setdefault(outer, {})[inner] = cell
        else:
            data[name] = cell
    return data


def _csv_details(error: ValidationError, data: dict[str, Any]) -> list[Detail]:
    """Details located by column (promised/unit -> promised_unit) and worded for cells."""
    kind = data.get("type")
    details: list[Detail] = []
    for detail in validation_details(error):
        column = detail["loc"].replace("/", "_")
        if detail["type"] == "extra_forbidden":
            # a filled cell of a field the row's type does not have (a limit: each filled cell)
            inner = data.get(column)
            filled = [f"{column}_{sub}" for sub in inner] if isinstance(inner, dict) else [column]
            details += [
                _detail(
                    name,
                    f"column {name!r} must be empty in a row of type {kind!r}",
                    "extra_forbidden",
                )
                for name in filled
            ]
            continue
        if column in CSV_COLUMNS:
            detail["loc"] = column
            if detail["type"] == "missing":
                detail["message"] = f"column {column!r} needs a value in a row of type {kind!r}"
        details.append(detail)
    return details


def _csv_rows(text: str) -> Iterator[tuple[int, CaseEvent | list[Detail]]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    last = 0  # the physical line the reader has read through
    try:
        for row in reader:
            number, last = last + 1, reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = [cell.strip() for cell in row]
                problems = _header_problems(header)
                if problems:
                    yield number, problems
                    return
                continue
            if len(row) != len(header):
                message = f"the row has {len(row)} cells, the header {len(header)}"
                yield number, [_detail("", message, "row_length")]
                continue
            data = _row_data(header, row)
            try:
                yield number, CASE_EVENT.validate_python(data)
            except ValidationError as error:
                yield number, _csv_details(error, data)
    except csv.Error as error:
        yield last + 1, [_detail("", f"unreadable CSV: {error}", "csv")]


def parse_csv(data: str | bytes) -> BulkResult:
    """Events from CSV with a header row (columns: `CSV_COLUMNS`, any subset, any order)."""
    text, encoding, problem = decode(data)
    if problem is not None:
        return BulkResult(errors=(problem,))
    rows = list(_csv_rows(text))
    stopped = [line for line, outcome in rows if _fatal(outcome)]
    if stopped:
        errors = [LineError(line, outcome) for line, outcome in rows if isinstance(outcome, list)]
        return BulkResult(errors=tuple(sorted(errors, key=lambda e: e.line)), encoding=encoding)
    return _collect(rows, encoding)


def _fatal(outcome: CaseEvent | list[Detail]) -> bool:
    """Whether a line's problem stops the reading of the file (header, quoting)."""
    return isinstance(outcome, list) and any(detail["type"] in _FATAL for detail in outcome)


def _flat(event: CaseEvent) -> dict[str, str]:
    flat: dict[str, str] = {}
    for name, value in event.model_dump(mode="json", exclude_none=True).items():
        if isinstance(value, dict):
            flat.update({f"{name}_{sub}": str(inner) for sub, inner in value.items()})
        else:
            flat[name] = str(value)
    return flat


def to_csv(events: Iterable[CaseEvent], columns: Sequence[str] = CSV_COLUMNS) -> str:
    """Events as CSV with a header row; a field left out of `columns` is an error."""
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(columns)
    for event in events:
        flat = _flat(event)
        missing = set(flat) - set(columns)
        if missing:
            raise ValueError(f"event {event.event_id!r} has fields outside the columns: {missing}")
        writer.writerow([flat.get(column, "") for column in columns])
    return out.getvalue()
