"""Live view signalling: WebRTC offers/answers for the wall (one upstream per camera)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from console.auth import current_user

router = APIRouter(prefix="/api", dependencies=[Depends(current_user)])
