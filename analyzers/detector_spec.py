"""What a person detector is asked to be (DetectorSpec) and what every detector offers (Detector).

The registry (analyzers/registry.py) turns a DetectorSpec into a Detector by its `type`; the
concrete detectors (analyzers/nanodet.py, yolo.py, yolox.py) read their settings from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from analyzers.detections import Detections

# The 80 COCO class names in the order every COCO-trained detector numbers them.
COCO_LABELS: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip

MAX_STRIDE = 32  # every supported network downsamples by 32 at most: sizes are multiples of it

Image = npt.NDArray[np.uint8]


class Detector(Protocol):
    """Finds people in BGR images.

    `input_size` is the network input (width, height) that images are letterboxed into;
    `max_batch` is None when one inference takes any number of images, else the number of
    images one inference takes (1 for a fixed-batch model).
    """

    name: str
    input_size: tuple[int, int]
    max_batch: int | None

    def detect(self, image_bgr: Image) -> Detections:
        """The people in one H×W×3 uint8 BGR image, best first, boxes in its pixels."""
        ...

    def detect_batch(self, images: Sequence[Image]) -> list[Detections]:
        """detect() for each image, in order; batched into as few inferences as the model allows."""
        ...


@dataclass(frozen=True, slots=True)
class DetectorSpec:
    """Which detector to build and how (the config's `detector:` section maps onto it).

    - type: a key of analyzers.registry.DETECTORS ("nanodet", "yolo", "yolox").
    - model_path: the ONNX file; None means the embedded model (only "nanodet" has one).
    - input_size: the square network input for models whose input size is dynamic; for a model
      with a fixed input it must be None or equal to it.
    - labels: the model's class names in index order; None means the model's own names when
      its file records them (Ultralytics exports do), else the 80 COCO names.
    - person_label: the class kept; every other class is dropped.
    - score_threshold: the least score kept, in (0, 1); nms_iou: boxes overlapping a better one
      by more than this intersection over union are dropped, in (0, 1].
    - providers: onnxruntime execution providers in order of preference; each must be available.
    - threads: onnxruntime intra-op threads.
    """

    type: str = "nanodet"
    model_path: Path | None = None
    input_size: int | None = None
    labels: tuple[str, ...] | None = None
    person_label: str = "person"
    score_threshold: float = 0.3
    nms_iou: float = 0.45
    providers: tuple[str, ...] = ("CPUExecutionProvider",)
    threads: int = 1

    def __post_init__(self) -> None:
        problem = spec_problem(self)
        if problem is not None:
            raise ValueError(f"detector settings: {problem}")


def spec_problem(spec: DetectorSpec) -> str | None:
    """What is wrong with a spec's settings on their own (before any model is read), if anything."""
    if not 0.0 < spec.score_threshold < 1.0:
        return f"score_threshold must be between 0 and 1, got {spec.score_threshold}"
    if not 0.0 < spec.nms_iou <= 1.0:
        return f"nms_iou must be above 0 and at most 1, got {spec.nms_iou}"
    if spec.threads < 1:
        return f"threads must be at least 1, got {spec.threads}"
    if not spec.providers:
        return "providers must name at least one onnxruntime execution provider"
    if spec.input_size is not None and (spec.input_size <= 0 or spec.input_size % MAX_STRIDE):
        return f"input_size must be a positive multiple of {MAX_STRIDE}, got {spec.input_size}"
    if spec.labels is not None:
        return labels_problem(spec.labels, spec.person_label)
    return None


def labels_problem(labels: Sequence[str], person_label: str) -> str | None:
    """What is wrong with a list of class names and the person class picked from it, if anything."""
    if not labels:
        return "labels must name at least one class"
    if len(set(labels)) != len(labels):
        repeated = sorted({label for label in labels if labels.count(label) > 1})
        return f"labels must be unique, repeated: {', '.join(repeated)}"
    if person_label not in labels:
        return f"person_label {person_label!r} is not one of the labels ({len(labels)} classes)"
    return None
