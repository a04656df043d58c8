"""Annotated snapshots: zones coloured by their state, person boxes with track ids, as JPEG."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from analyzers.camera import FrameResult
from analyzers.rules import QueueSample, Rule, Sample, WindowSample, ZoneSample
from analyzers.vacancy import WindowState

STATE_COLOURS: dict[WindowState, tuple[int, int, int]] = {  # BGR
    WindowState.STAFFED: (80, 200, 60),
    WindowState.VACANT: (40, 40, 230),
    WindowState.OFF_DUTY: (160, 160, 160),
}
ALARM_COLOUR = (40, 40, 230)
PERSON_COLOUR = (0, 215, 255)
QUEUE_COLOUR = (230, 160, 40)
CUSTOMER_COLOUR = (200, 120, 200)
ZONE_COLOUR = (200, 200, 60)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def label_and_colour(key: str, sample: Sample | None) -> tuple[str, tuple[int, int, int]]:
    """What a rule's main zone says and its colour, from the rule's sample."""
    if isinstance(sample, WindowSample):
        queue = "" if sample.queue is None else f" queue {sample.queue}"
        return f"{key} staff {sample.staff}{queue}", STATE_COLOURS[sample.state]
    if isinstance(sample, QueueSample):
        return f"{key} queue {sample.length}", QUEUE_COLOUR
    if isinstance(sample, ZoneSample):
        colour = ALARM_COLOUR if sample.alarms else ZONE_COLOUR
        return f"{key} persons {sample.persons}", colour
    return f"{key} -", STATE_COLOURS[WindowState.OFF_DUTY]


def _sample_key(sample: Sample) -> str:
    if isinstance(sample, WindowSample):
        return sample.window
    return sample.queue if isinstance(sample, QueueSample) else sample.zone


ROLE_COLOURS = {"queue": QUEUE_COLOUR, "customer": CUSTOMER_COLOUR}


def annotate(
    image: npt.NDArray[np.uint8], result: FrameResult, rules: Sequence[Rule]
) -> npt.NDArray[np.uint8]:
    canvas = image.copy()
    height, width = canvas.shape[:2]
    samples = {_sample_key(s): s for s in result.outputs.samples}
    for rule in rules:
        label, colour = label_and_colour(rule.key, samples.get(rule.key))
        zones = rule.zones()
        for role, zone in zones.items():
            thickness = 2 if role in ("staff", "zone") or len(zones) == 1 else 1
            polygon = zone.pixels(width, height)
            cv2.polylines(
                canvas, [polygon], True, ROLE_COLOURS.get(role, colour), thickness, cv2.LINE_AA
            )
        main = next(iter(zones.values())).pixels(width, height)
        x, y = (int(v) for v in main.min(axis=0))
        cv2.putText(canvas, label, (x + 4, max(y - 6, 14)), FONT, 0.5, colour, 1, cv2.LINE_AA)
    tracks = result.tracks
    tracked = {tuple(b): int(i) for b, i in zip(tracks.boxes.tolist(), tracks.ids, strict=True)}
    for box, score in zip(result.detections.boxes.tolist(), result.detections.scores, strict=True):
        x1, y1, x2, y2 = (int(v) for v in box)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), PERSON_COLOUR, 2)
        ident = tracked.get(tuple(box))
        text = f"{score:.2f}" if ident is None else f"#{ident} {score:.2f}"
        cv2.putText(canvas, text, (x1 + 2, y1 + 14), FONT, 0.45, PERSON_COLOUR, 1, cv2.LINE_AA)
    return canvas


def to_jpeg(image: npt.NDArray[np.uint8], quality: int = 80) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return bytes(data.tobytes())
