"""Each camera's analyzers, built from the site config (shared by the runtime and `analyze`).

Rule kinds are an explicit registry: `RULE_KINDS` maps a kind to the function that builds that
kind's rules for a camera. A camera's analyzer is every kind's rules together, with the crop
mode, motion gate and tracker settings of `analysis:`.
"""

from __future__ import annotations

from collections.abc import Callable

from analyzers.camera import CameraAnalyzer, PersonDetector
from analyzers.motion import MotionSpec
from analyzers.queue import QueueAnalyzer, QueueRule
from analyzers.rules import HallQueueRule, Rule, TenderZoneRule, WindowRule
from analyzers.site_rules import ZoneRuleSpec
from analyzers.tracker import TrackerSettings
from analyzers.vacancy import VacancyRule
from analyzers.zones import Zone
from hallwatch.config import Camera, CameraKind, Site, Window
from hallwatch.config_analysis import AnalysisSettings

RuleBuilder = Callable[[Site, Camera], list[Rule]]


def vacancy_rule(site: Site, window: Window) -> VacancyRule:
    limits = site.thresholds
    return VacancyRule(window.staff_on_duty, limits.absence_delay_s, limits.return_delay_s)


def queue_rule(
    site: Site, max_length: int | None = None, max_wait_s: float | None = None
) -> QueueRule:
    limits = site.thresholds
    return QueueRule(
        max_length=max_length or limits.queue_max_length,
        min_duration_s=limits.queue_min_duration_s,
        max_wait_s=max_wait_s or limits.queue_max_wait_s,
        confirm_s=limits.queue_confirm_s,
        exit_grace_s=limits.queue_exit_grace_s,
        clear_delay_s=limits.queue_clear_delay_s,
    )


def window_rule(site: Site, window: Window) -> WindowRule:
    queue = None
    if window.queue_zone is not None:
        queue = QueueAnalyzer(window.id, Zone.of(window.queue_zone), queue_rule(site), window.id)
    customer = None if window.customer_zone is None else Zone.of(window.customer_zone)
    return WindowRule(
        window.id, Zone.of(window.staff_zone), vacancy_rule(site, window), queue, customer
    )


def window_rules(site: Site, camera: Camera) -> list[Rule]:
    return [window_rule(site, window) for window in site.windows_of(camera.id)]


def hall_queue_rules(site: Site, camera: Camera) -> list[Rule]:
    return [
        HallQueueRule(
            QueueAnalyzer(q.id, Zone.of(q.zone), queue_rule(site, q.max_length, q.max_wait_s))
        )
        for q in site.queues_of(camera.id)
    ]


def tender_zone_rules(site: Site, camera: Camera) -> list[Rule]:
    if camera.kind != CameraKind.TENDER_SITE:
        return []
    limits = site.thresholds
    return [
        TenderZoneRule(
            ZoneRuleSpec(
                zone.id,
                Zone.of(zone.zone),
                tuple((r.start, r.end) for r in zone.restricted_hours),
                zone.max_persons,
                limits.intrusion_delay_s,
                limits.overcrowd_delay_s,
                limits.site_clear_delay_s,
            )
        )
        for zone in camera.zones
    ]


RULE_KINDS: dict[str, RuleBuilder] = {
    "window": window_rules,
    "queue": hall_queue_rules,
    "tender_zone": tender_zone_rules,
}


def camera_rules(site: Site, camera: Camera) -> list[Rule]:
    return [rule for build in RULE_KINDS.values() for rule in build(site, camera)]


def motion_spec(settings: AnalysisSettings) -> MotionSpec:
    gate = settings.motion_gate
    return MotionSpec(gate.enabled, gate.pixel_delta, gate.changed_fraction, gate.max_skip_s)


def tracker_settings(settings: AnalysisSettings) -> TrackerSettings:
    tracking = settings.tracking
    return TrackerSettings(
        match_iou=tracking.match_iou,
        max_centre_distance=tracking.max_centre_distance,
        high_score=tracking.high_score,
        min_hits=tracking.min_hits,
        max_age_s=tracking.max_age_s,
        max_size_ratio=tracking.max_size_ratio,
    )


def camera_analyzer(
    site: Site, camera: Camera, detector: PersonDetector, rules: list[Rule] | None = None
) -> CameraAnalyzer:
    settings = site.analysis
    return CameraAnalyzer(
        camera.id,
        camera_rules(site, camera) if rules is None else rules,
        detector,
        crops=settings.crops.value,
        motion=motion_spec(settings),
        tracking=tracker_settings(settings),
    )
