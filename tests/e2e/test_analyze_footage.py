"""Acceptance: `hallwatch analyze` on real footage finds the gaps between the six visits."""

from __future__ import annotations

import csv
import itertools
import json
import subprocess
import sys

import pytest

from tests.footage import footage

TOLERANCE_S = 2.5
CLIP_END_S = 139.4


def presence_intervals() -> list[tuple[float, float]]:
    path = footage("intel_one_by_one", "one-by-one-person-detection.presence_DERIVED.csv")
    rows = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return [(float(r["start_s"]), float(r["end_s"])) for r in csv.DictReader(rows)]


def expected_vacancies(visits: list[tuple[float, float]]) -> list[tuple[float, float | None]]:
    """The empty stretches: before the first visit, between visits, after the last."""
    gaps: list[tuple[float, float | None]] = [(0.0, visits[0][0])]
    gaps += [(a_end, b_start) for (_, a_end), (b_start, _) in itertools.pairwise(visits)]
    gaps.append((visits[-1][1], None))
    return gaps


@pytest.mark.slow
def test_analyze_matches_presence_gaps() -> None:
    video = footage("intel_one_by_one", "one-by-one-person-detection.mp4")
    visits = presence_intervals()
    result = subprocess.run(
        [sys.executable, "-m", "hallwatch.cli", "analyze", str(video), "--fps", "2",
         "--staff-zone", "0.35,0.6 0.8,0.6 0.8,0.98 0.35,0.98",
         "--absence-delay", "2", "--return-delay", "1"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    samples = [line for line in lines if line["kind"] == "sample"]
    events = [line for line in lines if line["kind"] == "event"]
    assert len(samples) == pytest.approx(CLIP_END_S * 2, abs=4)
    assert all(s["window"] == "W01" and s["staff"] >= 0 for s in samples)
    expected = expected_vacancies(visits)
    found = [(e["start"], e["end"]) for e in events]
    assert len(found) == len(expected), found
    for (start, end), (want_start, want_end) in zip(found, expected, strict=True):
        assert abs(start - want_start) <= TOLERANCE_S, (found, expected)
        if want_end is None:
            assert end is None or end >= CLIP_END_S - TOLERANCE_S
        else:
            assert end is not None and abs(end - want_end) <= TOLERANCE_S, (found, expected)
    # no vacancy while someone is at the table (beyond the boundary tolerance)
    for start, end in found:
        stop = CLIP_END_S if end is None else end
        for visit_start, visit_end in visits:
            overlap = min(stop, visit_end) - max(start, visit_start)
            assert overlap <= TOLERANCE_S, ((start, end), (visit_start, visit_end))
    stats = json.loads(result.stderr.strip().splitlines()[-1])
    assert stats["kind"] == "stats" and stats["frames"] == len(samples)
