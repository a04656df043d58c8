"""Accuracy harness: `hallwatch analyze` over hand-labelled clips, scored against the labels.

Each clip has two files in bench/labels/: NAME.yaml, a site config whose zones the labels were
made with, and NAME.csv, the labels: `t,count` rows (the count in one zone at media second t)
under a header of `# key: value` lines:

  clip     the video, relative to the data folder (default ../shared/data)
  sha256   the video's checksum, so labels are never scored against a changed clip
  select   which sample lines are this zone's, e.g. `window=W01` (space-separated key=value)
  field    the sample field holding the count (default `staff`)
  events   event types derived from the labels and scored (e.g. `counter_vacant`), or empty

Printed per clip and overall: presence precision/recall per sampled frame (present = count
>= 1; each sample is scored against the label row nearest in time), count MAE and mean signed
error (detected - labelled), event boundary errors (labelled events matched one-to-one to
detected events by overlap; unmatched ones are missed / false), and analyze's frames/s.

usage: python bench/accuracy.py [--clips NAME ...] [--score 0.4] [--set analysis.crops=zones]
                                [--fps 1] [--json]
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import itertools
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from analyzers.episodes import Closed, DelayedCondition, Delays
from hallwatch.config import ConfigError, Site, load_site

REPO = Path(__file__).resolve().parents[1]
LABELS = REPO / "bench" / "labels"
DATA = REPO.parent / "shared" / "data"
HEADER_KEYS = ("clip", "sha256", "select", "field", "events")

Select = Sequence[tuple[str, str]]  # key=value pairs a sample or event line must have


class HarnessError(Exception):
    """A label file, override or analyze run the harness cannot use; the text says why."""


# --- labels ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Observation:
    """A count in the labelled zone at media time t (seconds from the file start)."""

    t: float
    count: int


@dataclass(frozen=True, slots=True)
class ClipLabels:
    name: str
    clip: str  # relative to the data folder
    sha256: str
    select: tuple[tuple[str, str], ...]
    field: str
    events: tuple[str, ...]
    counts: tuple[Observation, ...]


def parse_select(text: str) -> tuple[tuple[str, str], ...]:
    """'window=W01 camera=cam01' → (('window', 'W01'), ('camera', 'cam01'))."""
    pairs = []
    for token in text.split():
        key, sep, value = token.partition("=")
        if not sep or not key or not value:
            raise HarnessError(f"select: '{token}' is not key=value")
        pairs.append((key, value))
    return tuple(pairs)


def _header(lines: Iterable[str]) -> dict[str, str]:
    header: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.lstrip("#").partition(":")
        if line.startswith("#") and sep and key.strip() in HEADER_KEYS:
            header[key.strip()] = value.strip()
    return header


def _observation(line: str, number: int) -> Observation:
    parts = [part.strip() for part in line.split(",")]
    try:
        t, count = float(parts[0]), int(parts[1])
    except (ValueError, IndexError) as error:
        raise HarnessError(f"line {number}: expected t,count, got '{line}'") from error
    if len(parts) != 2 or count < 0:
        raise HarnessError(f"line {number}: expected t,count with count >= 0, got '{line}'")
    return Observation(t, count)


def parse_labels(name: str, text: str) -> ClipLabels:
    """A label file's text → ClipLabels; raises HarnessError naming the line at fault."""
    lines = text.splitlines()
    header = _header(lines)
    missing = [key for key in ("clip", "sha256", "select") if not header.get(key)]
    if missing:
        raise HarnessError(f"{name}: header lacks {', '.join(missing)}")
    rows = [
        (number, line)
        for number, line in enumerate(lines, 1)
        if line.strip() and not line.startswith("#") and line.strip() != "t,count"
    ]
    counts = tuple(_observation(line, number) for number, line in rows)
    if not counts or any(b.t <= a.t for a, b in itertools.pairwise(counts)):
        raise HarnessError(f"{name}: needs t,count rows in increasing t")
    return ClipLabels(
        name=name,
        clip=header["clip"],
        sha256=header["sha256"].lower(),
        select=parse_select(header["select"]),
        field=header.get("field") or "staff",
        events=tuple(header.get("events", "").split()),
        counts=counts,
    )


def load_labels(path: Path) -> ClipLabels:
    return parse_labels(path.stem, path.read_text(encoding="utf-8"))


# --- analyze output --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Interval:
    start: float
    end: float | None  # None: still open at the end of the clip


@dataclass(frozen=True, slots=True)
class AnalyzeOutput:
    samples: tuple[Mapping[str, Any], ...]
    events: tuple[Mapping[str, Any], ...]
    stats: Mapping[str, Any] | None


def json_lines(text: str) -> Iterator[dict[str, Any]]:
    """The JSON objects among `text`'s lines; log lines and other text are skipped."""
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(item, dict):
            yield item


def parse_output(stdout: str, stderr: str) -> AnalyzeOutput:
    """Sample, event and stats lines of an analyze run; unknown kinds and fields are ignored."""
    lines = list(json_lines(stdout))
    stats = [item for item in [*lines, *json_lines(stderr)] if item.get("kind") == "stats"]
    return AnalyzeOutput(
        samples=tuple(item for item in lines if item.get("kind") == "sample"),
        events=tuple(item for item in lines if item.get("kind") == "event"),
        stats=stats[-1] if stats else None,
    )


def selected(line: Mapping[str, Any], select: Select) -> bool:
    return all(str(line.get(key)) == value for key, value in select)


def sample_counts(
    samples: Iterable[Mapping[str, Any]], select: Select, field_name: str
) -> tuple[Observation, ...]:
    """The counts in `field_name` of the selected samples (samples without it are skipped)."""
    found = []
    for line in samples:
        value, t = line.get(field_name), line.get("t")
        if isinstance(value, bool) or not selected(line, select):
            continue
        if isinstance(value, int) and isinstance(t, int | float):
            found.append(Observation(float(t), value))
    return tuple(found)


def event_intervals(
    events: Iterable[Mapping[str, Any]], kind: str, select: Select
) -> tuple[Interval, ...]:
    """Detected events of type `kind` that belong to the selected zone."""
    return tuple(
        Interval(float(line["start"]), None if line.get("end") is None else float(line["end"]))
        for line in events
        if line.get("type") == kind and selected(line, select) and line.get("start") is not None
    )


# --- scoring: small pure functions -----------------------------------------------------------


def nearest_label(t: float, labels: Sequence[Observation]) -> Observation | None:
    """The label row nearest to t; None before the first or after the last row's half step."""
    times = [label.t for label in labels]
    index = bisect.bisect_left(times, t)
    candidates = [labels[i] for i in (index - 1, index) if 0 <= i < len(labels)]
    if not candidates:
        return None
    best = min(candidates, key=lambda label: abs(label.t - t))
    if len(labels) > 1:
        first_half = (times[1] - times[0]) / 2
        last_half = (times[-1] - times[-2]) / 2
        if t < times[0] - first_half or t > times[-1] + last_half:
            return None
    elif abs(best.t - t) > 0.5:
        return None
    return best


def pair_samples(
    detected: Iterable[Observation], labels: Sequence[Observation]
) -> tuple[tuple[int, int], ...]:
    """(detected count, labelled count) for every sample that has a label."""
    pairs = []
    for sample in detected:
        label = nearest_label(sample.t, labels)
        if label is not None:
            pairs.append((sample.count, label.count))
    return tuple(pairs)


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True, slots=True)
class PresenceScore:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @property
    def precision(self) -> float | None:
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float | None:
        return _ratio(self.tp, self.tp + self.fn)

    def __add__(self, other: PresenceScore) -> PresenceScore:
        return PresenceScore(
            self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn
        )


def presence_score(pairs: Iterable[tuple[int, int]]) -> PresenceScore:
    """Per sampled frame: present means a count of at least one."""
    tp = fp = fn = tn = 0
    for detected, labelled in pairs:
        seen, there = detected >= 1, labelled >= 1
        tp += seen and there
        fp += seen and not there
        fn += there and not seen
        tn += not seen and not there
    return PresenceScore(tp, fp, fn, tn)


@dataclass(frozen=True, slots=True)
class CountScore:
    n: int = 0
    abs_sum: int = 0
    signed_sum: int = 0

    @property
    def mae(self) -> float | None:
        return self.abs_sum / self.n if self.n else None

    @property
    def bias(self) -> float | None:
        """Mean signed error, detected - labelled: above 0 counts too many."""
        return self.signed_sum / self.n if self.n else None

    def __add__(self, other: CountScore) -> CountScore:
        return CountScore(
            self.n + other.n, self.abs_sum + other.abs_sum, self.signed_sum + other.signed_sum
        )


def count_score(pairs: Iterable[tuple[int, int]]) -> CountScore:
    errors = [detected - labelled for detected, labelled in pairs]
    return CountScore(len(errors), sum(abs(e) for e in errors), sum(errors))


def episodes(
    labels: Iterable[Observation], condition: Callable[[int], bool], delays: Delays
) -> tuple[Interval, ...]:
    """Episodes of `condition` on the label counts, with the product's delay semantics."""
    machine = DelayedCondition(delays)
    found = []
    for label in labels:
        change = machine.feed(label.t, condition(label.count))
        if isinstance(change, Closed):
            found.append(Interval(change.start, change.end))
    if machine.open_since is not None:
        found.append(Interval(machine.open_since, None))
    return tuple(found)


def overlap(a: Interval, b: Interval, clip_end: float) -> float:
    end_a = clip_end if a.end is None else a.end
    end_b = clip_end if b.end is None else b.end
    return min(end_a, end_b) - max(a.start, b.start)


@dataclass(frozen=True, slots=True)
class EventScore:
    labelled: int = 0
    detected: int = 0
    start_errors: tuple[float, ...] = ()  # |start difference| per matched pair, seconds
    end_errors: tuple[float, ...] = ()
    missed: int = 0
    false: int = 0

    @property
    def mean_start_error(self) -> float | None:
        return sum(self.start_errors) / len(self.start_errors) if self.start_errors else None

    @property
    def mean_end_error(self) -> float | None:
        return sum(self.end_errors) / len(self.end_errors) if self.end_errors else None

    def __add__(self, other: EventScore) -> EventScore:
        return EventScore(
            self.labelled + other.labelled,
            self.detected + other.detected,
            self.start_errors + other.start_errors,
            self.end_errors + other.end_errors,
            self.missed + other.missed,
            self.false + other.false,
        )


def match_events(
    labelled: Sequence[Interval], detected: Sequence[Interval], clip_end: float
) -> tuple[tuple[int, int], ...]:
    """One-to-one (labelled index, detected index) pairs, greatest overlap first."""
    candidates = sorted(
        (
            (overlap(want, got, clip_end), i, j)
            for i, want in enumerate(labelled)
            for j, got in enumerate(detected)
        ),
        key=lambda item: (-item[0], item[1], item[2]),
    )
    used_labelled: set[int] = set()
    used_detected: set[int] = set()
    pairs = []
    for amount, i, j in candidates:
        if amount > 0 and i not in used_labelled and j not in used_detected:
            used_labelled.add(i)
            used_detected.add(j)
            pairs.append((i, j))
    return tuple(sorted(pairs))


def event_score(
    labelled: Sequence[Interval], detected: Sequence[Interval], clip_end: float
) -> EventScore:
    """Boundary errors of matched events (an open end counts as `clip_end`), missed, false."""
    pairs = match_events(labelled, detected, clip_end)

    def end(interval: Interval) -> float:
        return clip_end if interval.end is None else interval.end

    return EventScore(
        labelled=len(labelled),
        detected=len(detected),
        start_errors=tuple(abs(labelled[i].start - detected[j].start) for i, j in pairs),
        end_errors=tuple(abs(end(labelled[i]) - end(detected[j])) for i, j in pairs),
        missed=len(labelled) - len(pairs),
        false=len(detected) - len(pairs),
    )


# --- labelled events: one function per event type (explicit registry) -----------------------


def vacancies(labels: Sequence[Observation], site: Site, select: Select) -> tuple[Interval, ...]:
    """counter_vacant: fewer than staff_on_duty in the zone, with the site's delays."""
    wanted = dict(select).get("window")
    window = next((w for w in site.windows if w.id == wanted), None)
    if window is None:
        raise HarnessError(f"select {' '.join(f'{k}={v}' for k, v in select)}: no such window")
    delays = Delays(site.thresholds.absence_delay_s, site.thresholds.return_delay_s)
    return episodes(labels, lambda count: count < window.staff_on_duty, delays)


EventLabeler = Callable[[Sequence[Observation], Site, Select], tuple[Interval, ...]]
EVENT_LABELERS: dict[str, EventLabeler] = {"counter_vacant": vacancies}


# --- site overrides --------------------------------------------------------------------------


def parse_override(text: str) -> tuple[tuple[str, ...], Any]:
    """'thresholds.absence_delay_s=5' → (('thresholds', 'absence_delay_s'), 5) (YAML value)."""
    key, sep, value = text.partition("=")
    if not sep or not key or any(not part for part in key.split(".")):
        raise HarnessError(f"--set {text}: expected dotted.key=value")
    return tuple(key.split(".")), YAML(typ="safe").load(value) if value else ""


def with_override(data: Any, path: Sequence[str], value: Any) -> Any:
    """A copy of the YAML data with `path` set to `value` (list items by index)."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(data, list):
        if not head.isdigit() or int(head) >= len(data):
            raise HarnessError(f"--set: '{head}' is not an index of a {len(data)}-item list")
        index = int(head)
        return [
            with_override(item, rest, value) if i == index else item for i, item in enumerate(data)
        ]
    mapping = dict(data) if isinstance(data, Mapping) else {}
    mapping[head] = with_override(mapping.get(head, {}), rest, value)
    return mapping


def anchored(data: Mapping[str, Any], base: Path) -> dict[str, Any]:
    """Relative paths in the site (detector.model) made absolute, for a copy stored elsewhere."""
    detector = data.get("detector")
    model = detector.get("model") if isinstance(detector, Mapping) else None
    if isinstance(model, str) and not Path(model).is_absolute():
        return dict(with_override(data, ("detector", "model"), str((base / model).resolve())))
    return dict(data)


def effective_site(site_path: Path, overrides: Sequence[str], folder: Path) -> Path:
    """The site file to analyse with: itself, or a copy in `folder` with the overrides."""
    if not overrides:
        return site_path
    yaml = YAML(typ="safe")
    data = anchored(yaml.load(site_path.read_text(encoding="utf-8")), site_path.parent)
    for text in overrides:
        path, value = parse_override(text)
        data = with_override(data, path, value)
    out = folder / site_path.name
    buffer = StringIO()
    yaml.dump(data, buffer)
    out.write_text(buffer.getvalue(), encoding="utf-8")
    return out


# --- one clip ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Settings:
    hallwatch: Path
    data: Path
    fps: float
    score: float | None = None
    overrides: tuple[str, ...] = ()
    timeout_s: float = 900.0


@dataclass(frozen=True, slots=True)
class ClipResult:
    name: str
    frames: int = 0
    wall_s: float = 0.0
    presence: PresenceScore = field(default_factory=PresenceScore)
    counts: CountScore = field(default_factory=CountScore)
    events: EventScore = field(default_factory=EventScore)
    error: str | None = None

    @property
    def frames_per_s(self) -> float | None:
        return self.frames / self.wall_s if self.wall_s else None

    def __add__(self, other: ClipResult) -> ClipResult:
        return ClipResult(
            "overall",
            self.frames + other.frames,
            self.wall_s + other.wall_s,
            self.presence + other.presence,
            self.counts + other.counts,
            self.events + other.events,
        )


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def analyze_command(video: Path, site: Path, settings: Settings) -> list[str]:
    command = [str(settings.hallwatch), "analyze", str(video), "--config", str(site)]
    command += ["--fps", str(settings.fps)]
    if settings.score is not None:
        command += ["--score", str(settings.score)]
    return command


def run_analyze(video: Path, site: Path, settings: Settings) -> AnalyzeOutput:
    command = analyze_command(video, site, settings)
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=settings.timeout_s, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise HarnessError(f"{' '.join(command)}: {error}") from error
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        raise HarnessError(f"analyze exited with {done.returncode}: {tail}")
    return parse_output(done.stdout, done.stderr)


def score_clip(labels: ClipLabels, site: Site, output: AnalyzeOutput) -> ClipResult:
    """Scores of one analyze run against the clip's labels (pure)."""
    detected = sample_counts(output.samples, labels.select, labels.field)
    if output.samples and not detected:
        wanted = " ".join(f"{key}={value}" for key, value in labels.select)
        raise HarnessError(f"no sample line has {wanted} and a count in '{labels.field}'")
    pairs = pair_samples(detected, labels.counts)
    clip_end = max([labels.counts[-1].t, *(sample.t for sample in detected)])
    events = EventScore()
    for kind in labels.events:
        if kind not in EVENT_LABELERS:
            raise HarnessError(f"{labels.name}: no labelled events for type '{kind}'")
        want = EVENT_LABELERS[kind](labels.counts, site, labels.select)
        got = event_intervals(output.events, kind, labels.select)
        events = events + event_score(want, got, clip_end)
    stats = output.stats or {}
    return ClipResult(
        labels.name,
        frames=int(stats.get("frames") or 0),
        wall_s=float(stats.get("wall_s") or 0.0),
        presence=presence_score(pairs),
        counts=count_score(pairs),
        events=events,
    )


def evaluate(label_path: Path, settings: Settings, folder: Path) -> ClipResult:
    """Runs analyze on one labelled clip and scores it; a problem becomes the result's error."""
    name = label_path.stem
    try:
        labels = load_labels(label_path)
        video = settings.data / labels.clip
        if not video.is_file():
            raise HarnessError(f"{video}: no such file")
        if sha256_of(video) != labels.sha256:
            raise HarnessError(f"{video}: sha256 differs from the labels' (clip changed?)")
        site_path = effective_site(label_path.with_suffix(".yaml"), settings.overrides, folder)
        site = load_site(site_path)
        return score_clip(labels, site, run_analyze(video, site_path, settings))
    except (HarnessError, ConfigError, OSError, ValueError) as error:
        return ClipResult(name, error=str(error))


def run(names: Sequence[str] | None, labels_dir: Path, settings: Settings) -> list[ClipResult]:
    paths = sorted(labels_dir.glob("*.csv"))
    if names:
        known = {path.stem: path for path in paths}
        unknown = [name for name in names if name not in known]
        if unknown:
            raise HarnessError(f"unknown clips {', '.join(unknown)} (known: {', '.join(known)})")
        paths = [known[name] for name in names]
    with tempfile.TemporaryDirectory(prefix="hallwatch-accuracy-") as folder:
        return [evaluate(path, settings, Path(folder)) for path in paths]


def overall(results: Sequence[ClipResult]) -> ClipResult:
    total = ClipResult("overall")
    for result in results:
        if result.error is None:
            total = total + result
    return total


# --- output -----------------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


COLUMNS = (
    ("clip", 18),
    ("frames", 6),
    ("P", 5),
    ("R", 5),
    ("MAE", 5),
    ("bias", 6),
    ("events", 7),
    ("miss", 4),
    ("false", 5),
    ("|dstart|", 8),
    ("|dend|", 7),
    ("fps", 6),
)


def table_row(result: ClipResult) -> str:
    if result.error is not None:
        return f"{result.name:<18} ERROR {result.error}"
    ev = result.events
    cells = (
        result.name,
        str(result.frames),
        _fmt(result.presence.precision),
        _fmt(result.presence.recall),
        _fmt(result.counts.mae),
        _fmt(result.counts.bias, 2),
        f"{ev.labelled}/{ev.detected}" if ev.labelled or ev.detected else "-",
        str(ev.missed) if ev.labelled else "-",
        str(ev.false) if ev.labelled or ev.detected else "-",
        _fmt(ev.mean_start_error, 1),
        _fmt(ev.mean_end_error, 1),
        _fmt(result.frames_per_s, 1),
    )
    return " ".join(
        cell.ljust(width) if index == 0 else cell.rjust(width)
        for index, (cell, (_, width)) in enumerate(zip(cells, COLUMNS, strict=True))
    )


def table(results: Sequence[ClipResult]) -> str:
    header = " ".join(
        name.ljust(width) if index == 0 else name.rjust(width)
        for index, (name, width) in enumerate(COLUMNS)
    )
    lines = [header, *(table_row(result) for result in results)]
    lines += ["-" * len(header), table_row(overall(results))]
    return "\n".join(lines)


def result_json(result: ClipResult) -> dict[str, Any]:
    if result.error is not None:
        return {"clip": result.name, "error": result.error}
    ev = result.events
    return {
        "clip": result.name,
        "frames": result.frames,
        "frames_per_s": result.frames_per_s,
        "presence": {
            "tp": result.presence.tp,
            "fp": result.presence.fp,
            "fn": result.presence.fn,
            "tn": result.presence.tn,
            "precision": result.presence.precision,
            "recall": result.presence.recall,
        },
        "counts": {"n": result.counts.n, "mae": result.counts.mae, "bias": result.counts.bias},
        "events": {
            "labelled": ev.labelled,
            "detected": ev.detected,
            "missed": ev.missed,
            "false": ev.false,
            "start_errors_s": list(ev.start_errors),
            "end_errors_s": list(ev.end_errors),
            "mean_start_error_s": ev.mean_start_error,
            "mean_end_error_s": ev.mean_end_error,
        },
    }


def report_json(results: Sequence[ClipResult], settings: Settings) -> dict[str, Any]:
    return {
        "settings": {
            "fps": settings.fps,
            "score": settings.score,
            "set": list(settings.overrides),
            "hallwatch": str(settings.hallwatch),
        },
        "clips": [result_json(result) for result in results],
        "overall": result_json(overall(results)),
    }


def arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clips", nargs="+", metavar="NAME", help="label files to score (stems)")
    parser.add_argument("--labels", type=Path, default=LABELS, help="folder of NAME.csv/.yaml")
    parser.add_argument("--data", type=Path, default=DATA, help="folder the clips are under")
    parser.add_argument(
        "--hallwatch",
        type=Path,
        default=Path(sys.executable).parent / "hallwatch",
        help="the hallwatch executable (default: next to this Python)",
    )
    parser.add_argument("--fps", type=float, default=1.0, help="analyze --fps")
    parser.add_argument("--score", type=float, default=None, help="analyze --score")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="site override in a temporary copy, e.g. analysis.crops=zones (repeatable)",
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per analyze run")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(argv)
    settings = Settings(
        hallwatch=args.hallwatch,
        data=args.data,
        fps=args.fps,
        score=args.score,
        overrides=tuple(args.overrides),
        timeout_s=args.timeout,
    )
    try:
        for text in settings.overrides:
            parse_override(text)
        results = run(args.clips, args.labels, settings)
    except HarnessError as error:
        print(f"accuracy: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report_json(results, settings), indent=2))
    else:
        print(table(results))
    return 1 if any(result.error for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
