"""Window analyzers built from the site config (shared by the live runtime and `analyze`)."""

from __future__ import annotations

from analyzers.camera import WindowAnalyzer
from analyzers.vacancy import VacancyRule
from analyzers.zones import Zone
from hallwatch.config import Site, Window


def window_analyzer(window: Window, rule: VacancyRule) -> WindowAnalyzer:
    queue = None if window.queue_zone is None else Zone.of(window.queue_zone)
    return WindowAnalyzer(window.id, Zone.of(window.staff_zone), rule, queue)


def vacancy_rule(site: Site, window: Window) -> VacancyRule:
    limits = site.thresholds
    return VacancyRule(window.staff_on_duty, limits.absence_delay_s, limits.return_delay_s)


def window_analyzers(site: Site, camera_id: str) -> list[WindowAnalyzer]:
    return [window_analyzer(w, vacancy_rule(site, w)) for w in site.windows_of(camera_id)]
