"""`hallwatch analyze`: usage errors, config mode, schedule, and the JSON-lines contract."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.clips import make_clip

ZONE = "0.1,0.5 0.9,0.5 0.9,0.95 0.1,0.95"


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hallwatch.cli", "analyze", *args],
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


@pytest.fixture(scope="module")
def empty_room(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic clip with nobody in it: the staff zone is empty from the first frame."""
    return make_clip(tmp_path_factory.mktemp("clips") / "empty.mp4", seconds=6, fps=10,
                     size=(320, 180))  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.mp4", "--staff-zone", ZONE], "no such file"),
        (["{clip}"], "give --config FILE --camera CAM, or --staff-zone POLYGON"),
        (
            ["{clip}", "--staff-zone", "0.1,0.1 0.2,0.2"],
            "--staff-zone: a polygon needs at least 3 points",
        ),
        (
            ["{clip}", "--staff-zone", "0.1,0.1 0.2 0.3,0.3"],
            "--staff-zone: '0.2' is not an x,y point",
        ),
        (["{clip}", "--staff-zone", "0.1,0.1 0.2,1.5 0.3,0.3"], "outside the frame"),
        (["{clip}", "--staff-zone", ZONE, "--fps", "0"], "--fps must be above 0"),
        (["{clip}", "--config", "{config}", "--camera", "nope"], "--camera nope: unknown camera"),
        (["{clip}", "--config", "{config}"], "--camera is required"),
    ],
)
def test_usage_errors_exit_2_with_reason(
    empty_room: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    config = tmp_path / "site.yaml"
    config.write_text(SITE.format(clip=empty_room), encoding="utf-8")
    result = analyze(*(a.format(clip=empty_room, config=config) for a in args))
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""


SITE = """\
name: t
cameras:
  - {{id: cam01, name: a, url: "{clip}"}}
  - {{id: cam02, name: b, url: "{clip}"}}
windows:
  - {{id: W01, name: w1, department: d, camera: cam01,
      staff_zone: [[0.1, 0.5], [0.9, 0.5], [0.9, 0.95]],
      queue_zone: [[0.1, 0.0], [0.9, 0.0], [0.9, 0.4]]}}
  - {{id: W02, name: w2, department: d, camera: cam01, staff_on_duty: 2,
      staff_zone: [[0.1, 0.5], [0.5, 0.5], [0.5, 0.95]]}}
  - {{id: W03, name: w3, department: d, camera: cam02,
      staff_zone: [[0.1, 0.5], [0.5, 0.5], [0.5, 0.95]]}}
thresholds: {{absence_delay_s: 2, return_delay_s: 1}}
"""


def lines_of(result: subprocess.CompletedProcess[str]) -> list[dict[str, object]]:
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_config_mode_analyses_the_cameras_windows(empty_room: Path, tmp_path: Path) -> None:
    config = tmp_path / "site.yaml"
    config.write_text(SITE.format(clip=empty_room), encoding="utf-8")
    lines = lines_of(analyze(str(empty_room), "--config", str(config), "--camera", "cam01"))
    samples = [line for line in lines if line["kind"] == "sample"]
    assert {line["window"] for line in samples} == {"W01", "W02"}
    assert len(samples) == 2 * 6  # 1 frame/s over 6 s, two windows
    assert samples[0] == {
        "kind": "sample",
        "t": 0.0,
        "window": "W01",
        "staff": 0,
        "queue": 0,
        "state": "staffed",  # no counter_vacant event yet: the absence delay is running
        "service": "vacant",  # but this sample shows nobody at the counter
    }
    assert "queue" not in samples[1]  # W02 has no queue zone
    events = [line for line in lines if line["kind"] == "event"]
    assert events == [
        {
            "kind": "event",
            "type": "counter_vacant",
            "key": "W01",
            "window": "W01",
            "start": 0.0,
            "end": None,
            "staff_on_duty": 1,
        },
        {
            "kind": "event",
            "type": "counter_vacant",
            "key": "W02",
            "window": "W02",
            "start": 0.0,
            "end": None,
            "staff_on_duty": 2,
        },
    ]


def test_respect_schedule_suppresses_events_outside_hours(empty_room: Path) -> None:
    common = [str(empty_room), "--staff-zone", ZONE, "--absence-delay", "1"]
    night = lines_of(analyze(*common, "--respect-schedule", "--start-time", "2026-11-23T22:00"))
    assert [line for line in night if line["kind"] == "event"] == []
    open_hours = lines_of(
        analyze(*common, "--respect-schedule", "--start-time", "2026-11-23T10:00")
    )
    assert [line["start"] for line in open_hours if line["kind"] == "event"] == [0.0]
    holiday = lines_of(analyze(*common, "--respect-schedule", "--start-time", "2026-10-01T10:00"))
    assert [line for line in holiday if line["kind"] == "event"] == []


def test_offline_sampling_starts_at_the_first_second_of_a_long_gop(tmp_path: Path) -> None:
    from hallwatch.analyze import Timings, samples_of
    from tests.support.clips import make_clip

    clip = make_clip(tmp_path / "gop6.mp4", seconds=8, fps=10, size=(320, 180), gop=60)
    times = [round(sample.t - 0.0, 1) for sample in samples_of(clip, 1.0, Timings())]
    assert times[:3] == pytest.approx([0.0, 0.8, 1.8], abs=0.25)  # not 0, 6, ...
    assert len(times) >= 7


def test_a_missing_model_file_is_named_at_start(empty_room: Path, tmp_path: Path) -> None:
    config = tmp_path / "site.yaml"
    config.write_text(
        SITE.format(clip=empty_room) + "detector: {type: yolo, model: absent.onnx}\n",
        encoding="utf-8",
    )
    result = analyze(str(empty_room), "--config", str(config), "--camera", "cam01")
    assert result.returncode == 2
    assert f"{tmp_path / 'absent.onnx'}: no such file" in result.stderr
    assert "[batch, 4 + C, N]" in result.stderr  # the layout it expects


def test_every_offline_sample_shows_the_frame_of_its_time(tmp_path: Path) -> None:
    """After the first GOPs (every frame decoded) the sampler moves to keyframes only; a
    frame-threaded decoder must not hand back a picture from an earlier GOP as this one."""
    from hallwatch.analyze import Timings, samples_of
    from tests.support.clips import make_clip, read_frame_counter

    clip = make_clip(tmp_path / "gop1.mp4", seconds=12, fps=10, size=(320, 180), gop=10)
    samples = list(samples_of(clip, 1.0, Timings()))
    assert len(samples) >= 11
    shown = [read_frame_counter(sample.image[:, :, ::-1]) for sample in samples]
    assert shown == [round(sample.t * 10) for sample in samples]
