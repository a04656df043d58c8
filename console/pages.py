"""Public routes: the static page shells, login/logout and the health check.

The pages hold no data; everything they show comes from the authenticated API.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field

from console import auth
from console.assets import static_dir

router = APIRouter()


def _page(name: str) -> FileResponse:
    return FileResponse(static_dir() / name, media_type="text/html; charset=utf-8")


@router.get("/", include_in_schema=False)
def index() -> FileResponse:
    return _page("index.html")


@router.get("/login", include_in_schema=False)
def login_page() -> FileResponse:
    return _page("login.html")


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


class Credentials(BaseModel):
    username: str = Field(min_length=1, max_length=64, description="User name")
    password: str = Field(min_length=1, max_length=256, description="Password")


@router.post("/api/login")
def login(credentials: Credentials, request: Request, store: auth.StoreDep) -> Response:
    outcome = auth.login(store, credentials.username, credentials.password)
    if outcome is None:
        store.audit(credentials.username, "login_failed", client=_client(request))
        return JSONResponse(
            {"detail": "用户名或密码错误 / wrong user name or password"},
            status_code=status.HTTP_401_UNAUTHORIZED,
        )
    user, token = outcome
    store.audit(user.username, "login", client=_client(request))
    response = JSONResponse({"username": user.username, "role": user.role})
    response.set_cookie(
        auth.SESSION_COOKIE,
        token,
        max_age=auth.SESSION_TTL_S,
        httponly=True,
        samesite="strict",
        secure=request.app.state.settings.secure_cookies,
    )
    return response


@router.post("/api/logout")
def logout(request: Request, store: auth.StoreDep) -> Response:
    token = request.cookies.get(auth.SESSION_COOKIE)
    if token:
        store.delete_session(auth.token_hash(token))
    response = JSONResponse({"ok": True})
    response.delete_cookie(auth.SESSION_COOKIE)
    return response


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None
