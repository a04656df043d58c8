"""Users, password hashes (argon2), sessions in the store, and the role dependencies."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Coroutine
from enum import StrEnum
from typing import Annotated, Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, HTTPException, Request, status

from hallwatch.store import Store, User

SESSION_COOKIE = "hw_session"
SESSION_TTL_S = 12 * 3600
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


def login(store: Store, username: str, password: str) -> tuple[User, str] | None:
    """Check the password; on success a new session token (to be set as cookie)."""
    user = store.user(username)
    if user is None:
        hash_password(password)  # spend the same time as a real check: no user enumeration
        return None
    if not verify_password(user.password_hash, password):
        return None
    token = secrets.token_urlsafe(32)
    store.add_session(token_hash(token), user.id, time.time() + SESSION_TTL_S)
    return user, token


def get_store(request: Request) -> Store:
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


def current_user(request: Request, store: StoreDep) -> User:
    user = session_user(request, store)
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "login required")
    return user


UserDep = Annotated[User, Depends(current_user)]


def require_role(*roles: Role) -> Callable[..., Coroutine[Any, Any, User]]:
    allowed = {role.value for role in roles}

    async def dependency(user: UserDep) -> User:
        if user.role not in allowed and user.role != Role.ADMIN.value:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "your role may not do this")
        return user

    return dependency
