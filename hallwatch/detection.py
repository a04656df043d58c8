"""The site's person detector, built from the config's `detector:` section via the registry."""

from __future__ import annotations

from pathlib import Path

from analyzers.detector import ModelError
from analyzers.detector_spec import Detector, DetectorSpec
from analyzers.registry import build_detector
from hallwatch.config_analysis import DetectorSettings


def detector_spec(
    settings: DetectorSettings,
    config_dir: Path,
    *,
    score_threshold: float | None = None,
    threads: int | None = None,
) -> DetectorSpec:
    """The registry's spec for these settings; a relative model path is the config's."""
    model = None if settings.model is None else config_dir / settings.model
    return DetectorSpec(
        type=settings.type,
        model_path=model,
        input_size=settings.input_size,
        labels=None if settings.labels is None else tuple(settings.labels),
        person_label=settings.person_label,
        score_threshold=score_threshold or settings.score_threshold,
        nms_iou=settings.nms_iou,
        providers=tuple(settings.providers),
        threads=threads or settings.threads,
    )


def site_detector(
    settings: DetectorSettings,
    config_dir: Path,
    *,
    score_threshold: float | None = None,
    threads: int | None = None,
) -> Detector:
    """Load the detector; any problem is a ModelError that says what and why."""
    try:
        spec = detector_spec(settings, config_dir, score_threshold=score_threshold, threads=threads)
    except ValueError as error:  # settings the config accepts but the model family does not
        raise ModelError(str(error)) from error
    return build_detector(spec)
