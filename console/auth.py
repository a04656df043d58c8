"""Users, password hashes (argon2), sessions in the store, and the role dependencies.

Also the console's request guards: the CSRF check (a double-submit token derived from the
session token), login throttling (per user name and per client address) and hall limits.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import secrets
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from enum import StrEnum
from http.cookies import SimpleCookie
from typing import Annotated, Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, HTTPException, Path, Query, Request, status
from starlette.types import ASGIApp, Receive, Scope, Send

from hallwatch.config import Site
from hallwatch.store import LoginFailures, Store, User

SESSION_COOKIE = "hw_session"
SESSION_TTL_S = 12 * 3600
MAX_ID = 2**63 - 1  # the largest integer both databases store: larger ids answer 422, not 500

# a row id in a path, and a paging offset: bounded so no database overflows on them
RowId = Annotated[int, Path(ge=1, le=MAX_ID, description="Row id")]
Offset = Annotated[int, Query(ge=0, le=MAX_ID, description="Rows to skip")]
CSRF_COOKIE = "hw_csrf"
CSRF_HEADER = "x-csrf-token"
_hasher = PasswordHasher()


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    INSPECTOR = "inspector"
    AUDITOR = "auditor"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def generate_password() -> str:
    return secrets.token_urlsafe(12)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def ensure_user(store: Store, username: str, role: Role, password: str | None = None) -> str:
    """Create `username` (or reset its password); returns the password, generated if not given."""
    password = password or generate_password()
    if store.user(username) is None:
        store.add_user(username, hash_password(password), role.value)
    else:
        store.set_password(username, hash_password(password))
    return password


def check_password(store: Store, username: str, password: str) -> User | None:
    """The user when the password is right (disabled or not); None otherwise."""
    user = store.user(username)
    if user is None:
        hash_password(password)  # spend the same time as a real check: no user enumeration
        return None
    return user if verify_password(user.password_hash, password) else None


def start_session(store: Store, user: User) -> str:
    """A new session token for `user` (to be set as cookie)."""
    token = secrets.token_urlsafe(32)
    store.add_session(token_hash(token), user.id, time.time() + SESSION_TTL_S)
    return token


def login(store: Store, username: str, password: str) -> tuple[User, str] | None:
    """Check the password; on success (and not disabled) a new session token."""
    user = check_password(store, username, password)
    if user is None or user.disabled:
        return None
    return user, start_session(store, user)


# --- CSRF: double submit, the token derived from the session token ---------------------------

CSRF_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# routes that do not authenticate by the session cookie: login (no session yet) and the
# source systems' case intake (an API key in the Authorization header)
CSRF_EXEMPT_PATHS = frozenset({"/api/login"})
CSRF_EXEMPT_PREFIXES = ("/api/intake/",)


def csrf_token(session_token: str) -> str:
    """The CSRF token that belongs to a session: checkable without storing anything."""
    return hmac.new(session_token.encode(), b"hallwatch csrf v1", hashlib.sha256).hexdigest()


def csrf_refusal(method: str, path: str, session_token: str | None, presented: str) -> str | None:
    """Why a request fails the CSRF check, or None when it passes (or is not subject to it)."""
    if method.upper() not in CSRF_METHODS or not session_token:
        return None
    if path in CSRF_EXEMPT_PATHS or path.startswith(CSRF_EXEMPT_PREFIXES):
        return None
    if not presented:
        return "CSRF token missing: send the hw_csrf cookie's value in X-CSRF-Token"
    if not hmac.compare_digest(presented.encode(), csrf_token(session_token).encode()):
        return "CSRF token does not match this session"
    return None


def _cookie(headers: Iterable[tuple[bytes, bytes]], name: str) -> str | None:
    for key, value in headers:
        if key == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # a malformed cookie header carries no session
                continue
            if name in jar:
                return jar[name].value
    return None


def _header(headers: Iterable[tuple[bytes, bytes]], name: str) -> str:
    wanted = name.encode()
    return next((value.decode("latin-1") for key, value in headers if key == wanted), "")


class CsrfMiddleware:
    """Refuses state-changing requests made with the session cookie but without its token."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = scope.get("headers", [])
            refusal = csrf_refusal(
                scope["method"],
                scope["path"],
                _cookie(headers, SESSION_COOKIE),
                _header(headers, CSRF_HEADER),
            )
            if refusal is not None:
                await _send_json(send, status.HTTP_403_FORBIDDEN, {"detail": refusal})
                return
        await self.app(scope, receive, send)


async def _send_json(send: Send, code: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": code, "headers": headers})
    await send({"type": "http.response.body", "body": data})


# --- login throttling ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ThrottleRule:
    """After `threshold` failures, each further failure locks for twice as long (to a cap);
    the count starts again after `quiet_s` without failures (counted from the lock's end)."""

    threshold: int
    quiet_s: float = 15 * 60
    base_lock_s: float = 60
    max_lock_s: float = 3600


USER_RULE = ThrottleRule(threshold=5)  # per user name
ADDRESS_RULE = ThrottleRule(threshold=20)  # per client address (a hall may share one)
# a key quiet for longer starts from zero anyway: its row is dropped (tried names stay few)
FORGET_AFTER_S = max(USER_RULE.quiet_s, ADDRESS_RULE.quiet_s)


def lock_seconds(failures: int, rule: ThrottleRule) -> float:
    """How long the `failures`-th failure in a row locks the key out."""
    if failures < rule.threshold:
        return 0.0
    return float(min(rule.base_lock_s * 2 ** (failures - rule.threshold), rule.max_lock_s))


def after_failure(prev: LoginFailures | None, now: float, rule: ThrottleRule) -> LoginFailures:
    """The key's counts after one more failed login at `now`."""
    if prev is None or now - max(prev.last_at, prev.locked_until) > rule.quiet_s:
        failures, first_at = 1, now
    else:
        failures, first_at = prev.failures + 1, prev.first_at
    lock = lock_seconds(failures, rule)
    return LoginFailures(failures, first_at, now, now + lock if lock else 0.0)


def retry_after(states: Iterable[LoginFailures], now: float) -> float:
    """Seconds until every given key is unlocked (0 when none is locked)."""
    return max((state.locked_until - now for state in states), default=0.0)


def throttle_keys(username: str, client: str | None) -> dict[str, ThrottleRule]:
    keys = {f"user:{username}": USER_RULE}
    if client:
        keys[f"addr:{client}"] = ADDRESS_RULE
    return keys


def locked_for(store: Store, keys: dict[str, ThrottleRule], now: float) -> int:
    """Whole seconds the login must wait (0: not locked)."""
    wait = retry_after(store.login_failures(list(keys)).values(), now)
    return math.ceil(wait) if wait > 0 else 0


def record_failure(store: Store, keys: dict[str, ThrottleRule], now: float) -> int:
    """Count one failure under every key; whole seconds of the lock it starts (0: none)."""
    store.prune_login_failures(now - FORGET_AFTER_S)
    known = store.login_failures(list(keys))
    states = []
    for key, rule in keys.items():
        state = after_failure(known.get(key), now, rule)
        store.put_login_failures(key, state)
        states.append(state)
    wait = retry_after(states, now)
    return math.ceil(wait) if wait > 0 else 0


async def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


StoreDep = Annotated[Store, Depends(get_store)]


def session_user(request: Request, store: Store) -> User | None:
    """The user whose valid session cookie came with `request`, if any."""
    token = request.cookies.get(SESSION_COOKIE)
    return store.session_user(token_hash(token), time.time()) if token else None


def unprocessable(problems: list[dict[str, Any]]) -> HTTPException:
    """A 422 in FastAPI's own shape, for checks that span several fields."""
    return HTTPException(422, problems)


def problem(where: str, field: str, msg: str, kind: str = "value_error") -> dict[str, Any]:
    """One field-level problem: `where` is "query" or "body"."""
    return {"loc": [where, field], "msg": msg, "type": kind}


async def current_user(request: Request, store: StoreDep) -> User:
    user = session_user(request, store)
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "login required")
    return user


UserDep = Annotated[User, Depends(current_user)]


def visible_halls(user: User) -> frozenset[str] | None:
    """The halls whose cameras, windows and events the user may see; None means all halls."""
    if user.role == Role.ADMIN.value or not user.halls:
        return None
    return frozenset(user.halls)


def sees_hall(user: User, hall: str | None) -> bool:
    """Whether the user may see something in `hall` (a camera with no hall: unlimited users)."""
    halls = visible_halls(user)
    return halls is None or (hall is not None and hall in halls)


def require_role(*roles: Role) -> Callable[..., Coroutine[Any, Any, User]]:
    allowed = {role.value for role in roles}

    async def dependency(user: UserDep) -> User:
        if user.role not in allowed and user.role != Role.ADMIN.value:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "your role may not do this")
        return user

    return dependency


OperatorDep = Annotated[User, Depends(require_role(Role.OPERATOR))]
InspectorDep = Annotated[User, Depends(require_role(Role.INSPECTOR))]


def site_of(request: Request) -> Site:
    """The site the console runs (replaced when the admin view applies an edit)."""
    site: Site = request.app.state.site
    return site


async def _site(request: Request) -> Site:
    return site_of(request)


# Trivial dependencies are coroutines: FastAPI runs a plain function in a worker thread, and
# those hops were a third of a small request's CPU time (bench/console.py)
SiteDep = Annotated[Site, Depends(_site)]
