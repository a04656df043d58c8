"""Arguments of `hallwatch analyze` and the glue from them to an AnalyzeRun."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from analyzers.camera import CameraAnalyzer, WindowAnalyzer
from analyzers.vacancy import VacancyRule
from analyzers.zones import Zone, parse_polygon
from hallwatch.analyze import AnalyzeRun, ScheduleClock, file_start_time
from hallwatch.config import Schedule, Site, load_site
from hallwatch.config_base import check_polygon
from hallwatch.windows import vacancy_rule, window_analyzer

ADHOC_WINDOW = "W01"


class UsageError(Exception):
    """Bad command-line input; the message says what and why."""


def _polygon(text: str, flag: str) -> Zone:
    try:
        return Zone.of(check_polygon(parse_polygon(text)))
    except ValueError as error:
        raise UsageError(f"{flag}: {error}") from error


def _rule(args: argparse.Namespace, base: VacancyRule) -> VacancyRule:
    return VacancyRule(
        args.staff_on_duty if args.staff_on_duty is not None else base.staff_on_duty,
        args.absence_delay if args.absence_delay is not None else base.absence_delay_s,
        args.return_delay if args.return_delay is not None else base.return_delay_s,
    )


def _camera_id(site: Site, wanted: str | None) -> str:
    known = [camera.id for camera in site.cameras]
    if wanted is None:
        if len(known) == 1:
            return known[0]
        raise UsageError(f"--camera is required: the config has cameras {', '.join(known)}")
    if wanted not in known:
        raise UsageError(f"--camera {wanted}: unknown camera (known: {', '.join(known)})")
    return wanted


def windows_from_args(args: argparse.Namespace, site: Site | None) -> list[WindowAnalyzer]:
    if site is None:
        if not args.staff_zone:
            raise UsageError("give --config FILE --camera CAM, or --staff-zone POLYGON")
        queue = None if args.queue_zone is None else _polygon(args.queue_zone, "--queue-zone")
        rule = _rule(args, VacancyRule(1, 60.0, 5.0))
        return [
            WindowAnalyzer(ADHOC_WINDOW, _polygon(args.staff_zone, "--staff-zone"), rule, queue)
        ]
    camera_id = _camera_id(site, args.camera)
    windows = [
        window_analyzer(window, _rule(args, vacancy_rule(site, window)))
        for window in site.windows_of(camera_id)
    ]
    if not windows:
        raise UsageError(f"camera {camera_id} has no windows in the config")
    return windows


def _schedule_clock(args: argparse.Namespace, site: Site | None) -> ScheduleClock | None:
    if not args.respect_schedule:
        return None
    schedule = site.schedule if site is not None else Schedule()
    if args.start_time:
        try:
            start = dt.datetime.fromisoformat(args.start_time)
        except ValueError as error:
            raise UsageError(f"--start-time: {error}") from error
        if start.tzinfo is None:
            from zoneinfo import ZoneInfo

            start = start.replace(tzinfo=ZoneInfo(schedule.timezone))
    else:
        start = file_start_time(args.video)
    return ScheduleClock(schedule, start)


def run_analyze(args: argparse.Namespace) -> int:
    from analyzers.detector import ModelError, NanoDetDetector

    try:
        if not args.video.is_file():
            raise UsageError(f"{args.video}: no such file")
        if not 0 < args.fps <= 30:
            raise UsageError("--fps must be above 0 and at most 30")
        site = load_site(args.config) if args.config else None
        windows = windows_from_args(args, site)
        clock = _schedule_clock(args, site)
        settings = site.detector if site is not None else None
        detector = NanoDetDetector(
            score_threshold=args.score or (settings.score_threshold if settings else 0.3),
            threads=args.threads or (settings.threads if settings else 1),
        )
    except (UsageError, ModelError) as error:
        print(f"hallwatch analyze: {error}", file=sys.stderr)
        return 2
    analyzer = CameraAnalyzer(args.camera or "file", windows, detector)
    run = AnalyzeRun(analyzer, args.fps, clock)
    run.run(args.video, sys.stdout, lambda stats: print(json.dumps(stats), file=sys.stderr))
    return 0
