"""Admin: users, roles and the halls a user is limited to."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from console.auth import current_user

router = APIRouter(prefix="/api", dependencies=[Depends(current_user)])
