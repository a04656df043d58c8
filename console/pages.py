"""Public routes: the static page shells, login/logout and the health check.

The pages hold no data; everything they show comes from the authenticated API.
"""

from __future__ import annotations

import time

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


@router.get(
    "/healthz", summary="Health check", description="Public: answers while the console runs."
)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


class Credentials(BaseModel):
    username: str = Field(min_length=1, max_length=64, description="User name")
    password: str = Field(min_length=1, max_length=256, description="Password")


class LoginAnswer(BaseModel):
    username: str
    role: str


WRONG_PASSWORD = "用户名或密码错误 / wrong user name or password"
LOCKED = "登录失败次数过多，请稍后再试 / too many failed logins, try again later"
DISABLED = "账号已停用 / this account is disabled"


def _locked(retry_after_s: int) -> JSONResponse:
    return JSONResponse(
        {"detail": LOCKED, "retry_after_s": retry_after_s},
        status_code=status.HTTP_429_TOO_MANY_REQUESTS,
        headers={"Retry-After": str(retry_after_s)},
    )


@router.post(
    "/api/login",
    summary="Log in",
    description="Checks the password (argon2) and sets the HttpOnly session cookie and the"
    " readable CSRF cookie. Repeated failures lock the user name and the client address for a"
    " growing time (429 with Retry-After, the password is then not checked).",
    response_model=LoginAnswer,
    responses={
        401: {"description": "Wrong user name or password"},
        403: {"description": "Account disabled"},
        429: {"description": "Locked after too many failures"},
    },
)
def login(credentials: Credentials, request: Request, store: auth.StoreDep) -> Response:
    client = _client(request)
    keys = auth.throttle_keys(credentials.username, client)
    now = time.time()
    wait = auth.locked_for(store, keys, now)
    if wait:
        store.audit(credentials.username, "login_locked", client=client, retry_after_s=wait)
        return _locked(wait)
    user = auth.check_password(store, credentials.username, credentials.password)
    if user is None:
        store.audit(credentials.username, "login_failed", client=client)
        wait = auth.record_failure(store, keys, now)
        if wait:
            store.audit(credentials.username, "login_locked", client=client, retry_after_s=wait)
            return _locked(wait)
        return JSONResponse({"detail": WRONG_PASSWORD}, status_code=status.HTTP_401_UNAUTHORIZED)
    if user.disabled:
        store.audit(user.username, "login_failed", client=client, reason="disabled")
        return JSONResponse({"detail": DISABLED}, status_code=status.HTTP_403_FORBIDDEN)
    store.clear_login_failures(f"user:{user.username}")
    token = auth.start_session(store, user)
    store.audit(user.username, "login", client=client)
    response = JSONResponse({"username": user.username, "role": user.role})
    secure = request.app.state.settings.secure_cookies
    response.set_cookie(
        auth.SESSION_COOKIE,
        token,
        max_age=auth.SESSION_TTL_S,
        httponly=True,
        samesite="strict",
        secure=secure,
    )
    response.set_cookie(
        auth.CSRF_COOKIE,
        auth.csrf_token(token),
        max_age=auth.SESSION_TTL_S,
        httponly=False,
        samesite="strict",
        secure=secure,
    )
    return response


@router.post(
    "/api/logout",
    summary="Log out",
    description="Ends the session (if any) and clears the session and CSRF cookies.",
)
def logout(request: Request, store: auth.StoreDep) -> Response:
    token = request.cookies.get(auth.SESSION_COOKIE)
    if token:
        user = auth.session_user(request, store)
        store.delete_session(auth.token_hash(token))
        if user is not None:
            store.audit(user.username, "logout", client=_client(request))
    response = JSONResponse({"ok": True})
    response.delete_cookie(auth.SESSION_COOKIE, samesite="strict")
    response.delete_cookie(auth.CSRF_COOKIE, samesite="strict")
    return response


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None
