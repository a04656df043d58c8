"""Per-camera analysis: detect people once per sampled frame, then decide per window."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from analyzers.detections import Detections
from analyzers.vacancy import Transition, VacancyMachine, VacancyRule, WindowState
from analyzers.zones import Zone, relative_points


class PersonDetector(Protocol):
    def detect(self, image_bgr: npt.NDArray[np.uint8]) -> Detections: ...


@dataclass(frozen=True, slots=True)
class WindowSample:
    window: str
    staff: int
    state: WindowState
    queue: int | None = None  # people in the queue zone, when the window has one


@dataclass(frozen=True, slots=True)
class WindowTransition:
    window: str
    transition: Transition


@dataclass(frozen=True, slots=True)
class FrameResult:
    camera: str
    t: float
    detections: Detections
    windows: tuple[WindowSample, ...]
    transitions: tuple[WindowTransition, ...]


class WindowAnalyzer:
    """One service window: counts people whose feet are in the staff zone."""

    def __init__(
        self, window_id: str, staff_zone: Zone, rule: VacancyRule, queue_zone: Zone | None = None
    ) -> None:
        self.window_id = window_id
        self.staff_zone = staff_zone
        self.queue_zone = queue_zone
        self.machine = VacancyMachine(rule)

    @staticmethod
    def _count(zone: Zone, feet: npt.NDArray[np.float64]) -> int:
        return int(zone.contains(feet).sum()) if len(feet) else 0

    def update(
        self, t: float, feet: npt.NDArray[np.float64], in_service: bool
    ) -> tuple[WindowSample, list[Transition]]:
        staff = self._count(self.staff_zone, feet)
        queue = None if self.queue_zone is None else self._count(self.queue_zone, feet)
        transitions = self.machine.feed(t, staff, in_service)
        return WindowSample(self.window_id, staff, self.machine.state, queue), transitions


class CameraAnalyzer:
    def __init__(
        self, camera_id: str, windows: Sequence[WindowAnalyzer], detector: PersonDetector
    ) -> None:
        self.camera_id = camera_id
        self.windows = list(windows)
        self.detector = detector

    def analyze(
        self, image: npt.NDArray[np.uint8], t: float, in_service: bool = True
    ) -> FrameResult:
        detections = self.detector.detect(image)
        return self.decide(image.shape[1], image.shape[0], detections, t, in_service)

    def decide(
        self, width: int, height: int, detections: Detections, t: float, in_service: bool
    ) -> FrameResult:
        feet = relative_points(detections.bottom_centres(), width, height)
        samples: list[WindowSample] = []
        transitions: list[WindowTransition] = []
        for window in self.windows:
            sample, changed = window.update(t, feet, in_service)
            samples.append(sample)
            transitions.extend(WindowTransition(window.window_id, item) for item in changed)
        return FrameResult(self.camera_id, t, detections, tuple(samples), tuple(transitions))
