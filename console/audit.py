"""The audit log, read by auditors (and admins).

Reading the log is not itself written to the log (that would double it with every page an
auditor turns); exporting it as CSV is.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from console.auth import Role, StoreDep, UserDep, problem, require_role, unprocessable

router = APIRouter(
    prefix="/api", tags=["audit"], dependencies=[Depends(require_role(Role.AUDITOR))]
)

CSV_MAX_ROWS = 100_000
CSV_COLUMNS = ("id", "at", "username", "action", "target", "details")


@dataclass(frozen=True, slots=True)
class AuditFilter:
    user: str | None = None
    action: str | None = None
    target: str | None = None  # a part of the target
    since: float | None = None
    until: float | None = None


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def audit_where(filters: AuditFilter) -> tuple[str, list[Any]]:
    """The WHERE clause (possibly empty) and its parameters for the filters given."""
    clauses: list[str] = []
    params: list[Any] = []
    if filters.user is not None:
        clauses.append("username = ?")
        params.append(filters.user)
    if filters.action is not None:
        clauses.append("action = ?")
        params.append(filters.action)
    if filters.target is not None:
        clauses.append("target LIKE ? ESCAPE '\\'")
        params.append(_like(filters.target))
    if filters.since is not None:
        clauses.append("at >= ?")
        params.append(filters.since)
    if filters.until is not None:
        clauses.append("at < ?")
        params.append(filters.until)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _filters(
    user: Annotated[str | None, Query(max_length=64, description="Exact user name")] = None,
    action: Annotated[str | None, Query(max_length=64, description="Exact action")] = None,
    target: Annotated[str | None, Query(max_length=200, description="Part of the target")] = None,
    since: Annotated[float | None, Query(alias="from", ge=0, description="UNIX time")] = None,
    until: Annotated[float | None, Query(alias="to", ge=0, description="UNIX time")] = None,
) -> AuditFilter:
    if since is not None and until is not None and until < since:
        raise unprocessable([problem("query", "to", "'to' must not be before 'from'")])
    return AuditFilter(user or None, action or None, target or None, since, until)


FilterDep = Annotated[AuditFilter, Depends(_filters)]


class AuditEntry(BaseModel):
    id: int
    at: float = Field(description="UNIX time")
    username: str | None
    action: str
    target: str | None
    details: dict[str, Any]


class AuditPage(BaseModel):
    items: list[AuditEntry]
    total: int


def _entry(row: Any) -> AuditEntry:
    details = json.loads(row["details"]) if row["details"] else {}
    return AuditEntry(
        id=row["id"],
        at=row["at"],
        username=row["username"],
        action=row["action"],
        target=row["target"],
        details=details if isinstance(details, dict) else {"value": details},
    )


@router.get(
    "/audit",
    summary="Read the audit log",
    description="Newest first, filtered and paged. Reading is not itself audited.",
    response_model=AuditPage,
)
def audit_log(
    store: StoreDep,
    filters: FilterDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> AuditPage:
    where, params = audit_where(filters)
    total = int(store.query(f"SELECT COUNT(*) FROM audit{where}", params)[0][0])
    rows = store.query(
        f"SELECT * FROM audit{where} ORDER BY at DESC, id DESC LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )
    return AuditPage(items=[_entry(row) for row in rows], total=total)


def audit_csv(entries: list[AuditEntry]) -> str:
    """The entries as CSV (details as JSON), with a BOM so spreadsheet programs read UTF-8."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        details = json.dumps(entry.details, ensure_ascii=False, sort_keys=True)
        writer.writerow([entry.id, entry.at, entry.username or "", entry.action,
                         entry.target or "", details])  # fmt: skip
    return out.getvalue()


@router.get(
    "/audit.csv",
    summary="Export the audit log as CSV",
    description=f"The filtered log, newest first, at most {CSV_MAX_ROWS} rows. The export is"
    " itself audited (audit_exported).",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "CSV, UTF-8 with BOM"}},
)
def audit_export(store: StoreDep, filters: FilterDep, user: UserDep) -> Response:
    where, params = audit_where(filters)
    rows = store.query(
        f"SELECT * FROM audit{where} ORDER BY at DESC, id DESC LIMIT ?", [*params, CSV_MAX_ROWS]
    )
    body = audit_csv([_entry(row) for row in rows])
    store.audit(user.username, "audit_exported", None, rows=len(rows), **_described(filters))
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
    )


def _described(filters: AuditFilter) -> dict[str, Any]:
    return {
        f"filter_{key}": value
        for key, value in (
            ("user", filters.user),
            ("action", filters.action),
            ("target", filters.target),
            ("from", filters.since),
            ("to", filters.until),
        )
        if value is not None
    }
