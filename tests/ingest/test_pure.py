"""Pure parts of ingest: redaction, source parsing, backoff, decode plan, media clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.backoff import BackoffPolicy, backoff_delay, failures_after
from ingest.clock import MediaClock
from ingest.sampler import DecodePlan, choose_plan, output_size
from ingest.source import SourceKind, parse_source, redact_text, redact_url


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("rtsp://admin:S3cret!@10.0.0.5:554/Streaming/Channels/101",
         "rtsp://***@10.0.0.5:554/Streaming/Channels/101"),
        ("rtsp://admin@10.0.0.5/live", "rtsp://***@10.0.0.5/live"),
        ("rtsp://10.0.0.5/live?user=a&password=b", "rtsp://10.0.0.5/live?user=a&password=***"),
        ("rtsp://10.0.0.5/live", "rtsp://10.0.0.5/live"),
        ("/data/clip.mp4", "/data/clip.mp4"),
    ],
)  # fmt: skip
def test_redact_url(url: str, safe: str) -> None:
    assert redact_url(url) == safe


def test_redact_text_hides_credentials_in_error_messages() -> None:
    url = "rtsp://admin:S3cret@10.0.0.5/a"
    text = f"Connection refused: '{url}' (token=abc)"
    redacted = redact_text(text, url)
    assert "S3cret" not in redacted and "admin" not in redacted and "abc" not in redacted
    assert "10.0.0.5" in redacted


@pytest.mark.parametrize(
    ("url", "kind", "location"),
    [
        ("rtsp://u:p@h/x", SourceKind.RTSP, "rtsp://u:p@h/x"),
        ("file:clip.mp4", SourceKind.FILE, "/base/clip.mp4"),
        ("file:///abs/clip.mp4", SourceKind.FILE, "/abs/clip.mp4"),
        ("clip.mp4", SourceKind.FILE, "/base/clip.mp4"),
        ("/abs/clip.mp4", SourceKind.FILE, "/abs/clip.mp4"),
    ],
)
def test_parse_source(url: str, kind: SourceKind, location: str) -> None:
    source = parse_source(url, Path("/base"))
    assert (source.kind, source.location) == (kind, location)
    assert "p@" not in repr(source)


def test_backoff_is_capped_exponential_with_jitter() -> None:
    policy = BackoffPolicy(initial_s=1, max_s=30, factor=2, jitter=0.5)
    assert [backoff_delay(policy, n, 0.0) for n in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert backoff_delay(policy, 3, 0.999) == pytest.approx(8 * 0.5005)
    assert backoff_delay(policy, 10_000, 0.0) == 30


def test_failures_reset_after_a_healthy_period() -> None:
    policy = BackoffPolicy(healthy_reset_s=30)
    assert failures_after(policy, 5, healthy_for_s=2) == 6
    assert failures_after(policy, 5, healthy_for_s=31) == 1


@pytest.mark.parametrize(
    ("gop_s", "interval_s", "slack", "plan"),
    [
        (None, 1.0, 2.0, DecodePlan.KEYFRAMES),
        (1.0, 1.0, 2.0, DecodePlan.KEYFRAMES),
        (2.0, 1.0, 2.0, DecodePlan.KEYFRAMES),
        (4.0, 1.0, 2.0, DecodePlan.ALL),
        (1.0, 0.5, 1.0, DecodePlan.ALL),  # offline --fps 2 on a 1 s GOP needs every frame
        (0.5, 0.5, 1.0, DecodePlan.KEYFRAMES),
    ],
)
def test_choose_plan(
    gop_s: float | None, interval_s: float, slack: float, plan: DecodePlan
) -> None:
    assert choose_plan(gop_s, interval_s, slack) is plan


def test_output_size() -> None:
    assert output_size(768, 432, 1280) == (768, 432)
    assert output_size(1920, 1080, 1280) == (1280, 720)
    assert output_size(2560, 1441, 1280)[1] % 2 == 0


def test_media_clock_continues_across_restarts_and_jumps() -> None:
    clock = MediaClock()
    assert [clock.time_of(t) for t in (10.0, 10.5, 11.0)] == [0.0, 0.5, 1.0]
    clock.restart()  # a file loop or reconnect: timestamps start again from 0
    # one learned frame step (0.5 s) after the last packet
    assert clock.time_of(0.0) == pytest.approx(1.5)
    assert clock.time_of(0.5) == pytest.approx(2.0)
    assert clock.time_of(None) == pytest.approx(2.5)  # missing timestamp: one step on
    jumped = clock.time_of(-100.0)  # camera reset its clock
    assert jumped == pytest.approx(3.0)


@pytest.mark.parametrize("start", range(0, 40))
def test_a_packet_without_pts_and_its_stamped_successor_never_read_as_time_going_back(
    start: int,
) -> None:
    # RTSP delivers a packet without pts (stamped one learned step on) right before the
    # frame whose own pts is that same instant; float noise (4.240000000000001 then 4.24)
    # once made the media clock appear to run backwards across a camera restart (CI).
    clock = MediaClock()
    times = []
    for i in range(60):
        if i == 41:
            times.append(clock.time_of(None))
        times.append(clock.time_of((start + i) * 9000 / 90000))
    assert times == sorted(times)
    assert all(t == round(t, 6) for t in times)


def test_rate_meter_and_recent_count() -> None:
    from ingest.meter import RateMeter, RecentCount

    meter = RateMeter(window_s=5)
    assert meter.rates(0.0) == (0.0, 0.0)
    for i in range(30):  # 10 packets/s of 1000 bytes for 3 s
        meter.add(i / 10, 1000)
    bits, fps = meter.rates(3.0)
    assert fps == pytest.approx(10, rel=0.05) and bits == pytest.approx(80_000, rel=0.05)
    assert meter.rates(100.0) == (0.0, 0.0)  # nothing in the window any more
    recent = RecentCount(window_s=3600)
    for t in (0.0, 1000.0, 4000.0):
        recent.add(t)
    assert recent.count(4000.0) == 2


def test_redact_text_hides_literal_secrets() -> None:
    text = "401 for user 34020000002000000002 with password gbS3cret; see file:clip.mp4"
    redacted = redact_text(text, "file:clip.mp4", hidden=("gbS3cret", ""))
    assert redacted == "401 for user 34020000002000000002 with password ***; see file:clip.mp4"
