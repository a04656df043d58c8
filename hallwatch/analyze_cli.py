"""Arguments of `hallwatch analyze` and the glue from them to an AnalyzeRun."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from analyzers.camera import CameraAnalyzer, PersonDetector
from analyzers.queue import QueueAnalyzer
from analyzers.rules import Rule, WindowRule
from analyzers.vacancy import VacancyRule
from analyzers.zones import Zone, parse_polygon
from hallwatch.analyze import AnalyzeRun, ScheduleClock, TimedDetector, Timings, file_start_time
from hallwatch.config import Camera, Schedule, Site, load_site
from hallwatch.config_analysis import CropMode
from hallwatch.config_base import check_polygon
from hallwatch.rules import camera_analyzer, camera_rules, queue_rule

ADHOC_WINDOW = "W01"


class UsageError(Exception):
    """Bad command-line input; the message says what and why."""


def _polygon(text: str, flag: str) -> Zone:
    try:
        return Zone.of(check_polygon(parse_polygon(text)))
    except ValueError as error:
        raise UsageError(f"{flag}: {error}") from error


def _overrides(args: argparse.Namespace, site: Site) -> Site:
    """The site with the command line's thresholds, crop mode and motion gate applied."""
    limits: dict[str, float] = {}
    if args.absence_delay is not None:
        limits["absence_delay_s"] = args.absence_delay
    if args.return_delay is not None:
        limits["return_delay_s"] = args.return_delay
    windows = site.windows
    if args.staff_on_duty is not None:
        windows = [w.model_copy(update={"staff_on_duty": args.staff_on_duty}) for w in windows]
    analysis = site.analysis
    if args.crops is not None:
        analysis = analysis.model_copy(update={"crops": CropMode(args.crops)})
    if args.no_motion_gate:
        gate = analysis.motion_gate.model_copy(update={"enabled": False})
        analysis = analysis.model_copy(update={"motion_gate": gate})
    return site.model_copy(
        update={
            "thresholds": site.thresholds.model_copy(update=limits),
            "windows": windows,
            "analysis": analysis,
        }
    )


ADHOC_SITE = Site(name="ad hoc", cameras=[Camera(id="file", name="file", url="file.mp4")])


def _camera_id(site: Site, wanted: str | None) -> str:
    known = [camera.id for camera in site.cameras]
    if wanted is None:
        if len(known) == 1:
            return known[0]
        raise UsageError(f"--camera is required: the config has cameras {', '.join(known)}")
    if wanted not in known:
        raise UsageError(f"--camera {wanted}: unknown camera (known: {', '.join(known)})")
    return wanted


def analyzer_from_args(
    args: argparse.Namespace, site: Site | None, detector: PersonDetector
) -> CameraAnalyzer:
    if site is None:
        if not args.staff_zone:
            raise UsageError("give --config FILE --camera CAM, or --staff-zone POLYGON")
        adhoc = _overrides(args, ADHOC_SITE)
        limits = adhoc.thresholds
        queue = None
        if args.queue_zone is not None:
            zone = _polygon(args.queue_zone, "--queue-zone")
            queue = QueueAnalyzer(ADHOC_WINDOW, zone, queue_rule(adhoc), ADHOC_WINDOW)
        vacancy = VacancyRule(
            args.staff_on_duty or 1, limits.absence_delay_s, limits.return_delay_s
        )
        staff = _polygon(args.staff_zone, "--staff-zone")
        rules: list[Rule] = [WindowRule(ADHOC_WINDOW, staff, vacancy, queue)]
        return camera_analyzer(adhoc, adhoc.cameras[0], detector, rules)
    camera = site.camera(_camera_id(site, args.camera))
    site = _overrides(args, site)
    rules = camera_rules(site, camera)
    if not rules:
        raise UsageError(f"camera {camera.id} has no windows, queues or zones in the config")
    return camera_analyzer(site, camera, detector, rules)


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
    from analyzers.detector import ModelError
    from hallwatch.detection import site_detector

    try:
        if not args.video.is_file():
            raise UsageError(f"{args.video}: no such file")
        if not 0 < args.fps <= 30:
            raise UsageError("--fps must be above 0 and at most 30")
        site = load_site(args.config) if args.config else None
        clock = _schedule_clock(args, site)
        chosen = site or ADHOC_SITE
        config_dir = args.config.parent if args.config else Path.cwd()
        detector = site_detector(
            chosen.detector, config_dir, score_threshold=args.score, threads=args.threads
        )
        timings = Timings()
        analyzer = analyzer_from_args(args, site, TimedDetector(detector, timings))
    except (UsageError, ModelError, ValueError) as error:
        print(f"hallwatch analyze: {error}", file=sys.stderr)
        return 2
    run = AnalyzeRun(analyzer, args.fps, clock, timings)
    run.run(args.video, sys.stdout, lambda stats: print(json.dumps(stats), file=sys.stderr))
    return 0
