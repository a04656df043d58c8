"""The audit log, read by auditors."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from console.auth import current_user

router = APIRouter(prefix="/api", dependencies=[Depends(current_user)])
