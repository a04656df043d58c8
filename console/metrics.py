"""Prometheus metrics at /metrics: camera status and per-consumer counters.

Access needs a logged-in user, or `Authorization: Bearer <token>` when the console was started
with a metrics token (for a Prometheus scraper, which cannot log in).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import PlainTextResponse

from console.auth import Role, StoreDep, session_user
from hallwatch.config import Site

router = APIRouter()
METRICS_ROLES = frozenset({Role.ADMIN.value, Role.OPERATOR.value})  # camera health: operators

GAUGES: tuple[tuple[str, str, str], ...] = (
    # (metric, status key, help)
    ("hallwatch_camera_up", "online", "1 when the camera is connected and sending video"),
    ("hallwatch_camera_bitrate_bits_per_second", "bitrate_bps", "video bitrate"),
    ("hallwatch_camera_fps", "fps", "video packets per second"),
    ("hallwatch_camera_reconnects_last_hour", "reconnects_last_hour", "reconnects, last hour"),
    ("hallwatch_camera_last_packet_timestamp_seconds", "last_packet_at", "UNIX time"),
)
COUNTERS: tuple[tuple[str, str, str], ...] = (
    ("hallwatch_camera_reconnects_total", "reconnects", "reconnects since start"),
    ("hallwatch_camera_packets_total", "packets", "video packets received"),
)
ANALYSIS_COUNTERS: tuple[tuple[str, str, str], ...] = (
    ("hallwatch_analysis_frames_sampled_total", "frames_sampled", "frames given to analysis"),
    ("hallwatch_analysis_frames_decoded_total", "frames_decoded", "frames decoded for it"),
    ("hallwatch_analysis_decode_errors_total", "decode_errors", "decode errors"),
    ("hallwatch_analysis_frames_analysed_total", "frames_analysed", "frames the rules saw"),
    ("hallwatch_analysis_inferences_total", "inferences", "frames the detector ran on"),
    (
        "hallwatch_analysis_inferences_skipped_total",
        "inferences_skipped",
        "frames the motion gate passed without the detector",
    ),
    ("hallwatch_analysis_detector_images_total", "detector_images", "crops given to the detector"),
    ("hallwatch_analysis_errors_total", "errors", "frames whose analysis or storing failed"),
)


def metrics_access(request: Request, store: StoreDep) -> None:
    header = request.headers.get("authorization", "")
    token = request.app.state.settings.metrics_token
    presented = header.removeprefix("Bearer ").encode() if header.startswith("Bearer ") else b""
    if token and presented and hmac.compare_digest(presented, token.encode()):
        return
    user = session_user(request, store)
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "login or metrics token required")
    if user.role not in METRICS_ROLES:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "your role may not do this")


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: Any) -> str:
    if value is None:
        return "NaN"
    if isinstance(value, bool):
        return "1" if value else "0"
    return repr(float(value))


def render(statuses: dict[str, dict[str, Any]]) -> Iterator[str]:
    """Prometheus text exposition of the cameras' status dicts."""
    for kind, table, section in (
        ("gauge", GAUGES, None),
        ("counter", COUNTERS, None),
        ("counter", ANALYSIS_COUNTERS, "analysis"),
    ):
        for metric, key, text in table:
            yield f"# HELP {metric} {text}"
            yield f"# TYPE {metric} {kind}"
            for camera, camera_status in statuses.items():
                values = camera_status.get(section, {}) if section else camera_status
                yield f'{metric}{{camera="{_label(camera)}"}} {_number(values.get(key))}'
    metric = "hallwatch_consumer_dropped_total"
    yield f"# HELP {metric} items a slow consumer dropped (it never stalls the reader)"
    yield f"# TYPE {metric} counter"
    for camera, camera_status in statuses.items():
        for consumer, dropped in sorted(camera_status.get("dropped", {}).items()):
            labels = f'camera="{_label(camera)}",consumer="{_label(consumer)}"'
            yield f"{metric}{{{labels}}} {_number(dropped)}"


@router.get(
    "/metrics",
    dependencies=[Depends(metrics_access)],
    summary="Prometheus metrics",
    description="Camera status and per-consumer counters in the Prometheus text format; for"
    " operators, or a scraper with the metrics bearer token.",
    response_class=PlainTextResponse,
)
def metrics(request: Request) -> PlainTextResponse:
    site: Site = request.app.state.site
    live = request.app.state.live
    statuses = {camera.id: live.camera_status(camera.id) for camera in site.cameras}
    body = "\n".join(render(statuses)) + "\n"
    return PlainTextResponse(body, media_type="text/plain; version=0.0.4; charset=utf-8")
