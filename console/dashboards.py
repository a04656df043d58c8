"""Dashboards (统计分析): per hall and department, today and by day."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from console.auth import current_user

router = APIRouter(prefix="/api", dependencies=[Depends(current_user)])
