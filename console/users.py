"""Admin: users, roles and the halls a user is limited to.

Admins only (the router's dependency). Answers never contain password hashes; a generated or
reset password is shown once, in the answer that set it. Every change is audited.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response, status
from pydantic import BaseModel, Field

from console.auth import (
    Role,
    StoreDep,
    UserDep,
    generate_password,
    hash_password,
    problem,
    require_role,
    site_of,
    unprocessable,
)
from hallwatch.store import User

router = APIRouter(prefix="/api", tags=["users"], dependencies=[Depends(require_role())])
log = logging.getLogger(__name__)

USERNAME_PATTERN = r"^[\w.@-]{1,64}$"
UsernamePath = Annotated[str, Path(pattern=USERNAME_PATTERN, description="User name")]
Halls = list[Annotated[str, Field(min_length=1, max_length=64)]]


class UserOut(BaseModel):
    username: str
    role: Role
    halls: list[str] = Field(description="Halls the user is limited to; empty = all halls")
    disabled: bool
    created_at: float = Field(description="UNIX time")


class NewUser(BaseModel):
    username: str = Field(pattern=USERNAME_PATTERN, description="User name")
    role: Role
    halls: Halls = Field(default=[], max_length=100, description="Empty = all halls")
    password: str | None = Field(
        default=None, min_length=8, max_length=256, description="Generated when not given"
    )


class CreatedUser(BaseModel):
    user: UserOut
    password: str | None = Field(description="The generated password, shown only this once")


class UserChange(BaseModel):
    role: Role | None = None
    halls: Halls | None = Field(default=None, max_length=100)
    disabled: bool | None = None


class NewPassword(BaseModel):
    password: str | None = Field(
        default=None, min_length=8, max_length=256, description="Generated when not given"
    )


class PasswordSet(BaseModel):
    password: str | None = Field(description="The generated password, shown only this once")


def user_json(user: User) -> UserOut:
    return UserOut(
        username=user.username,
        role=Role(user.role),
        halls=list(user.halls),
        disabled=user.disabled,
        created_at=user.created_at,
    )


def admin_change_refusal(
    actor: str,
    target: User,
    *,
    role: str | None = None,
    disabled: bool | None = None,
    deleting: bool = False,
    active_admins: int,
) -> str | None:
    """Why a change to `target` is refused: nobody locks themselves out, and the last active
    admin stays an active admin. None when the change is allowed."""
    loses_admin = deleting or disabled is True or (role is not None and role != Role.ADMIN.value)
    if target.username == actor and loses_admin:
        return "you cannot disable, demote or delete yourself"
    is_active_admin = target.role == Role.ADMIN.value and not target.disabled
    if is_active_admin and loses_admin and active_admins <= 1:
        return "the last active admin cannot be disabled, demoted or deleted"
    return None


def _check_halls(request: Request, halls: list[str] | None) -> None:
    known = {hall.id for hall in site_of(request).halls}
    unknown = sorted(set(halls or []) - known)
    if unknown:
        raise unprocessable([problem("body", "halls", f"unknown halls: {', '.join(unknown)}")])


def _existing(store: Any, username: str) -> User:
    user: User | None = store.user(username)
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no user '{username}'")
    return user


def _refuse_if(reason: str | None) -> None:
    if reason is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, reason)


@router.get(
    "/users",
    summary="List users",
    description="Every user with role, halls and disabled state (never a password hash).",
    response_model=list[UserOut],
)
def list_users(store: StoreDep) -> list[UserOut]:
    return [user_json(user) for user in store.users()]


@router.post(
    "/users",
    summary="Create a user",
    description="With the given password, or a generated one returned once in the answer.",
    status_code=status.HTTP_201_CREATED,
    response_model=CreatedUser,
    responses={409: {"description": "The user name is taken"}},
)
def create_user(body: NewUser, request: Request, store: StoreDep, actor: UserDep) -> CreatedUser:
    _check_halls(request, body.halls)
    if store.user(body.username) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"user '{body.username}' exists")
    password = body.password or generate_password()
    store.add_user(body.username, hash_password(password), body.role.value)
    user = store.update_user(body.username, halls=body.halls)
    assert user is not None
    store.audit(actor.username, "user_created", body.username, role=user.role, halls=body.halls)
    log.info("user %s created by %s (role %s)", body.username, actor.username, user.role)
    return CreatedUser(user=user_json(user), password=None if body.password else password)


@router.patch(
    "/users/{username}",
    summary="Change a user's role, halls or disabled state",
    description="Disabling ends the user's sessions. Nobody can disable or demote themselves,"
    " and the last active admin stays one (409).",
    response_model=UserOut,
    responses={404: {"description": "No such user"}, 409: {"description": "Refused"}},
)
def change_user(
    username: UsernamePath, body: UserChange, request: Request, store: StoreDep, actor: UserDep
) -> UserOut:
    target = _existing(store, username)
    _check_halls(request, body.halls)
    role = None if body.role is None else body.role.value
    _refuse_if(
        admin_change_refusal(
            actor.username,
            target,
            role=role,
            disabled=body.disabled,
            active_admins=store.count_active_admins(),
        )
    )
    user = store.update_user(username, role=role, halls=body.halls, disabled=body.disabled)
    assert user is not None
    changes = body.model_dump(mode="json", exclude_none=True)
    store.audit(actor.username, "user_changed", username, **changes)
    return user_json(user)


@router.post(
    "/users/{username}/password",
    summary="Reset a user's password",
    description="Sets the given password or a generated one (returned once); ends the user's"
    " sessions.",
    response_model=PasswordSet,
    responses={404: {"description": "No such user"}},
)
def reset_password(
    username: UsernamePath, body: NewPassword, store: StoreDep, actor: UserDep
) -> PasswordSet:
    _existing(store, username)
    password = body.password or generate_password()
    store.set_password(username, hash_password(password))
    store.end_sessions(username)
    store.audit(actor.username, "user_password_reset", username, generated=body.password is None)
    return PasswordSet(password=None if body.password else password)


@router.delete(
    "/users/{username}",
    summary="Delete a user",
    description="Ends the user's sessions; the audit log keeps the name in its entries.",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: {"description": "No such user"}, 409: {"description": "Refused"}},
)
def delete_user(username: UsernamePath, store: StoreDep, actor: UserDep) -> Response:
    target = _existing(store, username)
    _refuse_if(
        admin_change_refusal(
            actor.username, target, deleting=True, active_admins=store.count_active_admins()
        )
    )
    store.delete_user(username)
    store.audit(actor.username, "user_deleted", username, role=target.role)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
