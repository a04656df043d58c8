"""Relay status in the console: stream push, the GB/T 28181 cascade and the upload outbox.

Operators read the link's health (is the provincial centre receiving?); only admins list the
outbox's messages or send the waiting ones now (audited). No answer holds a credential: the
relay's parts redact their URLs, and the GB password and upload key are never in a status.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool

from console.auth import Role, StoreDep, UserDep, require_role

router = APIRouter(prefix="/api/relay", tags=["relay"])

ADMIN_ONLY = [Depends(require_role())]  # admins pass every role check; no other role is named


class RelayControl(Protocol):
    """What the console needs of the running relay (relay.service.RelayService)."""

    def status(self) -> dict[str, Any]:
        """JSON-ready: push targets, the cascade and the uploader, each None when not set up."""

    def outbox_messages(self, state: str, limit: int) -> list[dict[str, Any]] | None:
        """Messages in `state` (pending, failed, rejected), oldest first; None without upload."""

    def outbox_retry(self) -> int | None:
        """Make every waiting message due now; how many. None without upload."""


class OutboxState(StrEnum):
    PENDING = "pending"  # not delivered yet
    FAILED = "failed"  # tried at least once, not delivered
    REJECTED = "rejected"  # refused by the platform for its content; sent alone, waits longest


NOT_CONFIGURED: dict[str, Any] = {"configured": False, "push": [], "gb28181": None, "upload": None}


def relay_of(request: Request) -> RelayControl | None:
    relay: RelayControl | None = getattr(request.app.state, "relay", None)
    return relay


@router.get("", dependencies=[Depends(require_role(Role.OPERATOR))])
async def relay_status(request: Request) -> dict[str, Any]:
    """Each push target, the cascade's registration and sessions, and the outbox's counts."""
    relay = relay_of(request)
    if relay is None:
        return NOT_CONFIGURED
    return {"configured": True, **await run_in_threadpool(relay.status)}


def no_upload() -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, "no upload is configured (relay.upload)")


@router.get("/outbox", dependencies=ADMIN_ONLY)
async def outbox(
    request: Request,
    state: Annotated[
        OutboxState, Query(description="pending, failed or rejected")
    ] = OutboxState.PENDING,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """The outbox's undelivered messages in one state, oldest first."""
    relay = relay_of(request)
    items = (
        None
        if relay is None
        else await run_in_threadpool(relay.outbox_messages, state.value, limit)
    )
    if items is None:
        raise no_upload()
    return {"items": items}


@router.post("/outbox/retry", dependencies=ADMIN_ONLY)
async def outbox_retry(request: Request, store: StoreDep, user: UserDep) -> dict[str, int]:
    """Send every waiting message at the next attempt, without waiting out its backoff."""
    relay = relay_of(request)
    count = None if relay is None else await run_in_threadpool(relay.outbox_retry)
    if count is None:
        raise no_upload()
    await run_in_threadpool(store.audit, user.username, "relay_retry", "outbox", messages=count)
    return {"rescheduled": count}
