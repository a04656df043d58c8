"""Pure parts of the live view: which stream a camera's view sends, Annex-B helpers, ICE."""

from __future__ import annotations

import pytest

from console.live.ice import host_addresses
from console.live.plan import LivePlan, StreamFacts, choose_stream, reason_text
from ingest.annexb import has_parameter_sets, is_annexb, nal_types, with_parameter_sets

H264 = StreamFacts("h264", 1920, 1080, b_frames=False)
H264_B = StreamFacts("h264", 1920, 1080, b_frames=True)
HEVC = StreamFacts("hevc", 2560, 1440, b_frames=False)
SUB = StreamFacts("h264", 640, 360, b_frames=False)
SUB_HEVC = StreamFacts("hevc", 640, 360, b_frames=False)
SUB_B = StreamFacts("h264", 640, 360, b_frames=True)


@pytest.mark.parametrize(
    ("main", "sub", "configured", "stream", "reason"),
    [
        (H264, None, False, "main", None),
        (H264, SUB, True, "main", None),  # the main stream wins when it plays
        (H264_B, SUB, True, "sub", None),
        (HEVC, SUB, True, "sub", None),
        (None, SUB, True, "sub", None),  # main offline, sub plays
        (HEVC, None, False, "", "codec_no_sub"),
        (HEVC, SUB_HEVC, True, "", "codec_sub_unusable"),
        (HEVC, SUB_B, True, "", "codec_sub_unusable"),
        (HEVC, None, True, "", "sub_offline"),
        (H264_B, None, False, "", "b_frames_no_sub"),
        (H264_B, SUB_B, True, "", "b_frames_no_sub"),
        (None, None, False, "", "offline"),
        (None, None, True, "", "offline"),
    ],
)
def test_choose_stream(
    main: StreamFacts | None, sub: StreamFacts | None, configured: bool, stream: str,
    reason: str | None,
) -> None:  # fmt: skip
    plan = choose_stream(main, sub, sub_configured=configured)
    assert plan.stream == (stream or None)
    assert plan.reason == reason
    if stream:
        assert plan.facts == (main if stream == "main" else sub)


def test_reasons_are_given_in_both_languages_with_the_codec() -> None:
    plan = choose_stream(HEVC, None, sub_configured=False)
    assert reason_text(plan, "zh") == "主码流为 H.265，浏览器无法直接播放，且未配置 H.264 子码流"
    assert "H.265" in str(reason_text(plan, "en")) and "sub-stream" in str(reason_text(plan, "en"))
    answer = plan.to_json()
    assert answer["available"] is False and answer["codec"] == "hevc"
    assert set(answer["message"]) == {"zh", "en"}
    assert LivePlan("main", H264).to_json()["message"] is None
    assert reason_text(LivePlan("main", H264), "zh") is None


SPS = b"\x00\x00\x00\x01\x67\x4d\x40\x1e"
PPS = b"\x00\x00\x00\x01\x68\xee\x3c\x80"
IDR = b"\x00\x00\x01\x65\x88\x84"
P_SLICE = b"\x00\x00\x00\x01\x41\x9a"


@pytest.mark.parametrize(
    ("extradata", "annexb"),
    [(b"", True), (SPS + PPS, True), (b"\x00\x00\x01\x67", True), (b"\x01\x4d\x40\x1e", False)],
)
def test_is_annexb(extradata: bytes, annexb: bool) -> None:
    assert is_annexb(extradata) is annexb


@pytest.mark.parametrize(
    ("data", "keyframe", "extradata", "expected"),
    [
        (IDR, True, SPS + PPS, SPS + PPS + IDR),  # out-of-band parameter sets put in front
        (SPS + PPS + IDR, True, SPS + PPS, SPS + PPS + IDR),  # in-band already: unchanged
        (P_SLICE, False, SPS + PPS, P_SLICE),  # only keyframes need them
        (IDR, True, b"", IDR),  # nothing to add
    ],
)
def test_with_parameter_sets(
    data: bytes, keyframe: bool, extradata: bytes, expected: bytes
) -> None:
    assert with_parameter_sets(data, keyframe, extradata) == expected


def test_nal_types() -> None:
    assert list(nal_types(SPS + PPS + IDR + P_SLICE)) == [7, 8, 5, 1]
    assert has_parameter_sets(SPS + PPS + IDR) and not has_parameter_sets(SPS + IDR)
    assert list(nal_types(b"")) == []


@pytest.mark.parametrize(
    ("configured", "available", "chosen"),
    [
        ([], ["10.0.0.5", "127.0.0.1"], ["127.0.0.1"]),
        (["10.0.0.5"], ["10.0.0.5", "192.168.1.9"], ["127.0.0.1", "10.0.0.5"]),
        (["10.0.0.7"], ["10.0.0.5"], ["127.0.0.1"]),  # not on this host: skipped
        (["127.0.0.1", "10.0.0.5", "10.0.0.5"], ["10.0.0.5"], ["127.0.0.1", "10.0.0.5"]),
        (["fd00::5"], ["fd00::5"], ["127.0.0.1", "fd00::5"]),
    ],
)
def test_host_addresses(configured: list[str], available: list[str], chosen: list[str]) -> None:
    assert host_addresses(configured, available) == chosen
