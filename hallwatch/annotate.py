"""Annotated snapshots: zones coloured by window state, person boxes, as JPEG."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from analyzers.camera import FrameResult, WindowAnalyzer
from analyzers.vacancy import WindowState

STATE_COLOURS: dict[WindowState, tuple[int, int, int]] = {  # BGR
    WindowState.STAFFED: (80, 200, 60),
    WindowState.VACANT: (40, 40, 230),
    WindowState.OFF_DUTY: (160, 160, 160),
}
PERSON_COLOUR = (0, 215, 255)
QUEUE_COLOUR = (230, 160, 40)


def annotate(
    image: npt.NDArray[np.uint8], result: FrameResult, windows: Sequence[WindowAnalyzer]
) -> npt.NDArray[np.uint8]:
    canvas = image.copy()
    height, width = canvas.shape[:2]
    states = {sample.window: sample for sample in result.windows}
    for window in windows:
        sample = states.get(window.window_id)
        colour = STATE_COLOURS[sample.state] if sample else STATE_COLOURS[WindowState.OFF_DUTY]
        polygon = window.staff_zone.pixels(width, height)
        cv2.polylines(canvas, [polygon], True, colour, 2, cv2.LINE_AA)
        if window.queue_zone is not None:
            cv2.polylines(canvas, [window.queue_zone.pixels(width, height)], True, QUEUE_COLOUR, 1)
        label = f"{window.window_id} staff {sample.staff if sample else '-'}"
        x, y = (int(v) for v in polygon.min(axis=0))
        cv2.putText(canvas, label, (x + 4, max(y - 6, 14)), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    colour, 1, cv2.LINE_AA)  # fmt: skip
    for (x1, y1, x2, y2), score in zip(
        result.detections.boxes.astype(int), result.detections.scores, strict=True
    ):
        cv2.rectangle(canvas, (x1, y1), (x2, y2), PERSON_COLOUR, 2)
        cv2.putText(canvas, f"{score:.2f}", (x1 + 2, y1 + 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    PERSON_COLOUR, 1, cv2.LINE_AA)  # fmt: skip
    return canvas


def to_jpeg(image: npt.NDArray[np.uint8], quality: int = 80) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return bytes(data.tobytes())
