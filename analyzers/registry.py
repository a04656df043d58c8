"""The detector registry: a config's `detector:` section, as a DetectorSpec, to a Detector.

An explicit dict keyed by the spec's `type`, no discovery: a model family is available when it
is listed here. Each value builds a detector from a spec; every one raises ModelError (naming
the model file, what was found and the expected layout) for a model it cannot use, and
ValueError for settings that make no sense.
"""

from __future__ import annotations

from collections.abc import Callable

from analyzers.detector_spec import COCO_LABELS, Detector, DetectorSpec
from analyzers.nanodet import NanoDet
from analyzers.onnx_session import ModelError
from analyzers.yolo import Yolo
from analyzers.yolox import Yolox

__all__ = [
    "COCO_LABELS",
    "DETECTORS",
    "Detector",
    "DetectorSpec",
    "ModelError",
    "build_detector",
]

DETECTORS: dict[str, Callable[[DetectorSpec], Detector]] = {
    "nanodet": NanoDet,
    "yolo": Yolo,
    "yolox": Yolox,
}


def build_detector(spec: DetectorSpec) -> Detector:
    """The detector of `spec.type`, loaded and checked."""
    factory = DETECTORS.get(spec.type)
    if factory is None:
        known = ", ".join(sorted(DETECTORS))
        raise ValueError(f"detector settings: unknown type {spec.type!r} (known: {known})")
    return factory(spec)
