"""Configuration of the analyzers: detector model, crops and motion gate, tracking, queue
zones and tender-site zones (sections `detector:`, `analysis:`, `queues:` and cameras' `zones:`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field, field_validator, model_validator

from hallwatch.config_base import DailyRange, Ident, Model, Polygon, check_polygon

# Keys of analyzers.registry.DETECTORS (a test keeps the two lists equal; the config may not
# import the analyzers, which must not depend on the app).
DetectorType = Literal["nanodet", "yolo", "yolox"]

# analyzers.detector_spec.MAX_STRIDE (a test keeps them equal): every supported network
# downsamples by 32 at most, so an input side must be a multiple of it.
MAX_STRIDE = 32


class DetectorSettings(Model):
    type: DetectorType = Field(
        default="nanodet",
        description="Model family: nanodet (embedded NanoDet-g), yolo (Ultralytics ONNX export"
        " [1, 4+C, N]) or yolox (YOLOX ONNX export)",
    )
    model: str | None = Field(
        default=None,
        description="ONNX file, relative to the config file; null for the embedded NanoDet-g",
    )
    input_size: int | None = Field(
        default=None,
        ge=32,
        le=4096,
        description="Network input side in pixels when the model does not fix it (e.g. 640);"
        f" a multiple of {MAX_STRIDE}",
    )
    labels: list[str] | None = Field(
        default=None,
        description="Class names in model order, each once and none empty; null for the names"
        " the model file records, else the 80 COCO names",
    )
    person_label: str = Field(default="person", description="The label that means a person")
    score_threshold: float = Field(
        default=0.3, gt=0, lt=1, description="Minimum person score of the detector"
    )
    nms_iou: float = Field(
        default=0.45, gt=0, le=1, description="Boxes overlapping more than this are merged"
    )
    providers: list[str] = Field(
        default=["CPUExecutionProvider"],
        min_length=1,
        description="onnxruntime execution providers in order of preference, e.g."
        " [CUDAExecutionProvider, CPUExecutionProvider]",
    )
    threads: int = Field(
        default=2,
        ge=1,
        le=64,
        description="onnxruntime intra-op threads of the analysis process (2 on a 2-core box:"
        " with 1, 32 cameras were not analysed in real time; bench/ingest_scale.py)",
    )

    @field_validator("input_size")
    @classmethod
    def _stride_multiple(cls, size: int | None) -> int | None:
        if size is not None and size % MAX_STRIDE:
            lower = max(MAX_STRIDE, size // MAX_STRIDE * MAX_STRIDE)
            raise ValueError(
                f"input_size {size} is not a multiple of {MAX_STRIDE} (the networks' largest"
                f" stride); use {lower} or {lower + MAX_STRIDE}"
            )
        return size

    @field_validator("labels")
    @classmethod
    def _usable_labels(cls, labels: list[str] | None) -> list[str] | None:
        if labels is None:
            return None
        if not labels:
            raise ValueError("labels is empty: list the model's class names, or leave it out")
        blank = [index for index, label in enumerate(labels) if not label.strip()]
        if blank:
            raise ValueError(f"labels has an empty name at position {blank[0]} (counted from 0)")
        seen: dict[str, int] = {}
        for index, label in enumerate(labels):
            if label in seen:
                raise ValueError(
                    f"labels names '{label}' twice (positions {seen[label]} and {index}, counted"
                    " from 0): each class has one name"
                )
            seen[label] = index
        return labels

    @model_validator(mode="after")
    def _consistent(self) -> DetectorSettings:
        if self.type != "nanodet" and self.model is None:
            raise ValueError(f"a {self.type} detector needs `model`: the path of its ONNX file")
        if self.labels is not None and self.person_label not in self.labels:
            raise ValueError(f"person_label '{self.person_label}' is not one of the labels")
        return self


class CropMode(StrEnum):
    AUTO = "auto"  # zone crops when they cover less of the frame than whole-frame inference
    FRAME = "frame"  # always the whole frame
    ZONES = "zones"  # always crops around the zones


class MotionGateSettings(Model):
    enabled: bool = Field(
        default=True, description="Skip inference while a camera's zones hold still"
    )
    pixel_delta: int = Field(
        default=20, ge=1, le=255, description="Grey-level change that counts a pixel as changed"
    )
    changed_fraction: float = Field(
        default=0.005,
        gt=0,
        lt=1,
        description="Fraction of a zone's pixels that must change to run the detector again",
    )
    max_skip_s: float = Field(
        default=10.0, ge=0, le=600, description="Run the detector at least this often anyway"
    )


class TrackingSettings(Model):
    match_iou: float = Field(
        default=0.2, gt=0, lt=1, description="Boxes overlapping this much are the same person"
    )
    max_age_s: float = Field(
        default=3.0, gt=0, le=60, description="A person unseen this long gets a new id"
    )
    min_hits: int = Field(
        default=2, ge=1, le=10, description="Detections before a new person is confirmed"
    )
    max_centre_distance: float = Field(
        default=1.0,
        ge=0,
        le=10,
        description="When boxes do not overlap, how far (in box heights per second unseen, at"
        " least one second's worth) a person may have moved and keep the id; 0: IoU only",
    )
    high_score: float = Field(
        default=0.5,
        ge=0,
        lt=1,
        description="Detections scoring at least this may start a new person; lower ones only"
        " continue people already tracked (0: every detection may start one)",
    )
    max_size_ratio: float = Field(
        default=2.0,
        ge=1,
        le=10,
        description="Box heights of the same person in two frames differ at most by this factor",
    )


class AnalysisSettings(Model):
    crops: CropMode = Field(
        default=CropMode.AUTO,
        description="Run the detector on crops around the zones (zones), the whole frame"
        " (frame), or whichever needs fewer network pixels (auto)",
    )
    max_batch: int = Field(
        default=8, ge=1, le=64, description="Most crops in one inference when the model allows"
    )
    motion_gate: MotionGateSettings = Field(
        default=MotionGateSettings(), description="Skip inference on unchanged zones"
    )
    tracking: TrackingSettings = Field(default=TrackingSettings(), description="Person tracking")


class QueueZone(Model):
    """A hall queue (排队区) not tied to one window, e.g. in front of the ticket machine."""

    id: Ident = Field(description="Queue id, unique among queues and windows")
    name: str = Field(description="Queue name shown to operators")
    camera: str = Field(description="Id of the camera that sees the queue")
    zone: Polygon = Field(description="Where people queue, relative 0–1 polygon")
    max_length: int | None = Field(
        default=None, ge=1, le=200, description="Override of thresholds.queue_max_length"
    )
    max_wait_s: float | None = Field(
        default=None, gt=0, le=86400, description="Override of thresholds.queue_max_wait_s"
    )

    _polygon = field_validator("zone")(check_polygon)


class SiteZone(Model):
    """A zone of a tender site (招投标现场) camera: a sealed room, a bidders' area."""

    id: Ident = Field(description="Zone id, unique within its camera")
    name: str = Field(description="Zone name shown to operators, e.g. 评标室")
    zone: Polygon = Field(description="The zone, relative 0–1 polygon")
    restricted_hours: list[DailyRange] = Field(
        default=[],
        description="Daily ranges (may cross midnight) when anyone in the zone is an intrusion",
    )
    max_persons: int | None = Field(
        default=None, ge=0, le=500, description="More people than this ⇒ overcrowded"
    )

    _polygon = field_validator("zone")(check_polygon)

    @model_validator(mode="after")
    def _has_rule(self) -> SiteZone:
        if not self.restricted_hours and self.max_persons is None:
            raise ValueError("a zone needs restricted_hours, max_persons or both")
        return self
