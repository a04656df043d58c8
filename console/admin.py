"""Admin: cameras, windows, schedules and zones edited in the console, written to cameras.yaml."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from console.auth import current_user

router = APIRouter(prefix="/api", dependencies=[Depends(current_user)])
