"""Per-camera analysis: motion gate → detector on zone crops → tracker → rules.

The work per sampled frame is split in two so that a worker can batch the detector across
cameras: `prepare` decides whether the detector must run (the motion gate) and returns the
crops to run it on; `finish` takes the detections found in those crops (or none, when the gate
skipped the frame and the previous detections carry forward) and runs the tracker and rules.
`analyze` does both for one frame with the camera's own detector.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from analyzers.crops import Region, combine, crop, plan_regions, to_frame
from analyzers.detections import Detections
from analyzers.motion import MotionGate, MotionSpec
from analyzers.rules import Context, Outputs, People, Rule
from analyzers.tracker import Tracker, TrackerSettings, Tracks
from analyzers.zones import relative_points

Image = npt.NDArray[np.uint8]


class PersonDetector(Protocol):
    def detect(self, image_bgr: Image) -> Detections: ...

    def detect_batch(self, images: Sequence[Image]) -> list[Detections]: ...


def detect_all(
    detector: PersonDetector, images: Sequence[Image], max_batch: int
) -> list[Detections]:
    """Detections for every image, in order, in inferences of at most `max_batch` images."""
    if max_batch < 1:
        raise ValueError(f"max_batch must be at least 1, got {max_batch}")
    found: list[Detections] = []
    for start in range(0, len(images), max_batch):
        found.extend(detector.detect_batch(images[start : start + max_batch]))
    if len(found) != len(images):
        raise ValueError(f"the detector gave {len(found)} results for {len(images)} images")
    return found


@dataclass(frozen=True, slots=True)
class FrameResult:
    camera: str
    t: float
    detections: Detections
    tracks: Tracks
    outputs: Outputs
    inferred: bool = True  # False: the motion gate skipped the detector for this frame


@dataclass
class AnalysisCounters:
    frames: int = 0
    inferences: int = 0  # frames the detector ran on
    skipped: int = 0  # frames the motion gate let through without the detector
    crops: int = 0  # images given to the detector (one per region per inference)
    stale: int = 0  # frames older than one already analysed (a clock step back): dropped


@dataclass(frozen=True, slots=True)
class Prepared:
    """What `prepare` decided for one frame: the crops to detect on, or none (skipped)."""

    t: float
    width: int
    height: int
    crops: tuple[Image, ...] = ()
    regions: tuple[Region, ...] = ()

    @property
    def skipped(self) -> bool:
        return not self.crops


class CameraAnalyzer:
    def __init__(
        self,
        camera_id: str,
        rules: Sequence[Rule],
        detector: PersonDetector,
        *,
        crops: str = "auto",
        motion: MotionSpec | None = None,
        tracking: TrackerSettings | None = None,
    ) -> None:
        self.camera_id = camera_id
        self.rules = list(rules)
        self.detector = detector
        zones = [zone for rule in self.rules for zone in rule.zones().values()]
        self.regions = plan_regions(zones, crops)
        self.gate = MotionGate(self.regions, motion or MotionSpec(enabled=False))
        self.tracker = Tracker(tracking or TrackerSettings())
        self.counters = AnalysisCounters()
        self._carried = Detections.empty()  # the last inference's, reused while skipped
        self._last_t: float | None = None

    def accepts(self, t: float) -> bool:
        """False (and counted) for a frame older than the last one analysed: the tracker and
        the rules need time to move forward, so such a frame is dropped."""
        if self._last_t is not None and t < self._last_t:
            self.counters.stale += 1
            return False
        return True

    # --- the two halves ---------------------------------------------------------------------

    def prepare(self, image: Image, t: float) -> Prepared:
        if not self.accepts(t):
            raise ValueError(f"camera {self.camera_id}: frame at {t} is older than {self._last_t}")
        self._last_t = t
        height, width = image.shape[:2]
        self.counters.frames += 1
        if not self.gate.check(image, t):
            self.counters.skipped += 1
            return Prepared(t, width, height)
        self.gate.inferred(t)
        self.counters.inferences += 1
        self.counters.crops += len(self.regions)
        crops = tuple(crop(image, region) for region in self.regions)
        return Prepared(t, width, height, crops, tuple(self.regions))

    def finish(self, prepared: Prepared, found: Sequence[Detections], ctx: Context) -> FrameResult:
        """Run tracker and rules on the detections found in `prepared.crops` (in order)."""
        if prepared.skipped:
            detections = self._carried
        else:
            if len(found) != len(prepared.regions):
                raise ValueError(f"{len(found)} results for {len(prepared.regions)} crops")
            detections = combine(
                [
                    to_frame(part, region, prepared.width, prepared.height)
                    for part, region in zip(found, prepared.regions, strict=True)
                ]
            )
            self._carried = detections
        return self._decide(prepared.width, prepared.height, detections, ctx, not prepared.skipped)

    def analyze(self, image: Image, ctx: Context) -> FrameResult:
        """Both halves for one frame with this camera's detector."""
        prepared = self.prepare(image, ctx.t)
        found = detect_all(self.detector, prepared.crops, len(prepared.crops) or 1)
        return self.finish(prepared, found, ctx)

    def flush(self, t: float) -> FrameResult:
        """End of file or shutdown: every rule closes its episodes and hands over its records."""
        outputs = Outputs.of([rule.flush(t) for rule in self.rules])
        return FrameResult(self.camera_id, t, Detections.empty(), Tracks.empty(), outputs, False)

    # --- decisions --------------------------------------------------------------------------

    def _decide(
        self, width: int, height: int, detections: Detections, ctx: Context, inferred: bool
    ) -> FrameResult:
        tracks = self.tracker.update(ctx.t, detections)
        people = People(
            relative_points(detections.bottom_centres(), width, height),
            tracks,
            relative_points(tracks.feet(), width, height),
        )
        outputs = Outputs.of([rule.update(ctx, people) for rule in self.rules])
        return FrameResult(self.camera_id, ctx.t, detections, tracks, outputs, inferred)


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One camera's sampled frame waiting for analysis."""

    analyzer: CameraAnalyzer
    image: Image
    ctx: Context


def analyze_batch(
    items: Sequence[BatchItem],
    detector: PersonDetector,
    max_batch: int,
    on_error: Callable[[str], None],
) -> list[tuple[BatchItem, FrameResult]]:
    """Analyse several cameras' frames with one detector pass over all their crops.

    A camera whose own step fails is reported to `on_error` (called inside the `except`, so it
    can log the traceback) and left out; the others go on. A detector failure fails them all.
    """
    prepared: list[tuple[BatchItem, Prepared]] = []
    for item in items:
        if not item.analyzer.accepts(item.ctx.t):
            continue
        try:
            prepared.append((item, item.analyzer.prepare(item.image, item.ctx.t)))
        except Exception:  # the other cameras go on; the caller logs it
            on_error(item.analyzer.camera_id)
    crops = [image for _, ready in prepared for image in ready.crops]
    try:
        found = detect_all(detector, crops, max_batch)
    except Exception:
        for item, _ in prepared:
            on_error(item.analyzer.camera_id)
        return []
    results: list[tuple[BatchItem, FrameResult]] = []
    for item, ready in prepared:
        mine, found = found[: len(ready.crops)], found[len(ready.crops) :]
        try:
            results.append((item, item.analyzer.finish(ready, mine, item.ctx)))
        except Exception:
            on_error(item.analyzer.camera_id)
    return results
