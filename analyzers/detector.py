"""Person detectors: the names callers import, gathered from the modules that define them.

- analyzers/registry.py: DetectorSpec, DETECTORS, build_detector (the general way in);
- analyzers/nanodet.py: the embedded NanoDet-g model (NanoDetDetector, DEFAULT_MODEL_PATH);
- analyzers/yolo.py, analyzers/yolox.py: Ultralytics YOLO and YOLOX ONNX exports;
- analyzers/onnx_detector.py: the runtime they share (letterbox, batching, NMS);
- analyzers/onnx_session.py: ModelError and the onnxruntime session.
"""

from __future__ import annotations

from analyzers.detector_spec import Detector, DetectorSpec
from analyzers.nanodet import DEFAULT_MODEL_PATH, NanoDetDetector
from analyzers.onnx_session import ModelError
from analyzers.registry import DETECTORS, build_detector

__all__ = [
    "DEFAULT_MODEL_PATH",
    "DETECTORS",
    "Detector",
    "DetectorSpec",
    "ModelError",
    "NanoDetDetector",
    "build_detector",
]
