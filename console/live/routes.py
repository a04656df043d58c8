"""Live view signalling: WebRTC offers/answers for the wall (one upstream per camera).

    GET    /api/live/{camera}          what the camera's live view sends, or why it cannot
    POST   /api/live/{camera}/offer    {sdp, type: "offer"} -> {sdp, type, session_id, plan}
    GET    /api/live/sessions          the caller's live sessions (admin: everyone's)
    DELETE /api/live/sessions/{id}     end a session

Operators (and admins) only. Every viewer is audited: `live_view` when it starts,
`live_view_end` with from/to/seconds however it ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from aiortc import RTCSessionDescription
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from console.auth import Role, current_user, problem, require_role, unprocessable
from console.live.hub import BadOffer, LiveHub, LiveUnavailable, TooManyViewers, ViewerSession
from console.live.ice import restrict_ice
from hallwatch.config import Site
from hallwatch.store import User


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    hub: LiveHub | None = getattr(app.state, "live_hub", None)
    if hub is not None:  # peer connections end with the app, each audited
        await hub.close_all("shutdown")


router = APIRouter(prefix="/api", dependencies=[Depends(current_user)], lifespan=_lifespan)

CameraId = Annotated[str, Path(max_length=64)]
Viewer = Annotated[User, Depends(require_role(Role.OPERATOR))]


def _hub(request: Request) -> LiveHub:
    """The app's live hub, made on first use (it belongs to the running event loop)."""
    state = request.app.state
    hub: LiveHub | None = getattr(state, "live_hub", None)
    if hub is None:
        site: Site = state.site
        restrict_ice([str(address) for address in site.live.ice_addresses])
        hub = LiveHub(site, state.store, state.live.live_fanout)
        state.live_hub = hub
    hub.site = state.site  # an admin's edit replaces the site
    return hub


HubDep = Annotated[LiveHub, Depends(_hub)]


class Offer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sdp: str = Field(min_length=1, max_length=100_000, description="The browser's SDP offer")
    type: Literal["offer"] = Field(description='Always "offer"')


def _camera(hub: LiveHub, user: User, camera_id: str) -> None:
    """404 for an unknown camera, 403 for one outside the user's halls."""
    try:
        camera = hub.site.camera(camera_id)
    except KeyError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown camera '{camera_id}'") from None
    if user.halls and camera.hall not in user.halls:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this camera is not in your halls")


def _session_json(session: ViewerSession) -> dict[str, Any]:
    return {
        "session_id": session.id,
        "camera": session.camera,
        "stream": session.stream,
        "username": session.username,
        "started_at": session.started_at,
        "state": session.pc.connectionState,
        "packets_sent": session.viewer.delivered,
        "dropped": session.viewer.dropped,
        "first_frame_ms": session.first_frame_ms(),
    }


@router.get("/live/sessions")
def sessions(hub: HubDep, user: Viewer) -> list[dict[str, Any]]:
    mine = [
        s for s in hub.sessions.values() if user.role == Role.ADMIN or s.username == user.username
    ]
    return [_session_json(session) for session in mine]


@router.delete("/live/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT)
async def end_session(
    session_id: Annotated[str, Path(max_length=64)], hub: HubDep, user: Viewer
) -> Response:
    session = hub.sessions.get(session_id)
    if session is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such live session")
    if session.username != user.username and user.role != Role.ADMIN:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "another user's live session")
    await hub.close(session_id, "ended by viewer")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/live/{camera_id}")
async def plan(camera_id: CameraId, hub: HubDep, user: Viewer) -> dict[str, Any]:
    _camera(hub, user, camera_id)
    answer = (await hub.plan(camera_id)).to_json()
    return {"camera": camera_id, **answer, "viewers": hub.viewers_of(camera_id)}


@router.post("/live/{camera_id}/offer")
async def offer(camera_id: CameraId, body: Offer, hub: HubDep, user: Viewer) -> dict[str, Any]:
    _camera(hub, user, camera_id)
    if "m=video" not in body.sdp:
        raise unprocessable([problem("body", "sdp", "the offer must receive video (m=video)")])
    description = RTCSessionDescription(sdp=body.sdp, type=body.type)
    try:
        session, answer, chosen = await hub.open(camera_id, description, user.username)
    except LiveUnavailable as error:
        detail = {"reason": error.plan.reason, "plan": error.plan.to_json()}
        raise HTTPException(status.HTTP_409_CONFLICT, detail) from None
    except TooManyViewers:
        limit = hub.site.live.max_viewers_per_camera
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS, f"this camera already has {limit} live viewers"
        ) from None
    except BadOffer as error:
        raise unprocessable([problem("body", "sdp", f"unusable offer: {error}")]) from None
    return {
        "sdp": answer.sdp,
        "type": answer.type,
        "session_id": session.id,
        "plan": chosen.to_json(),
    }
