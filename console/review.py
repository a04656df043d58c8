"""Operators acknowledge alarms; inspectors review events (verdicts) in a queue."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from console.auth import current_user

router = APIRouter(prefix="/api", dependencies=[Depends(current_user)])
