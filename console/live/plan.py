"""What a camera's live view sends: a pure decision from the facts of its streams.

Browsers decode H.264 without B-frames from aiortc's passthrough (B-frame streams fail in
Chromium: frames arrive out of order). The main stream is preferred; the sub-stream is the
fallback when it is H.264 without B-frames; otherwise the view is unavailable, with a reason
an operator can act on, in Chinese and English.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PASSTHROUGH_CODEC = "h264"


@dataclass(frozen=True, slots=True)
class StreamFacts:
    """What one stream of a camera carries (learnt from its packets' stream parameters)."""

    codec: str  # "h264", "hevc", ...
    width: int
    height: int
    b_frames: bool

    @property
    def playable(self) -> bool:
        return self.codec == PASSTHROUGH_CODEC and not self.b_frames


@dataclass(frozen=True, slots=True)
class LivePlan:
    """The stream a live view sends ("main" or "sub"), or None with the reason why not."""

    stream: str | None
    facts: StreamFacts | None = None
    reason: str | None = None  # a key of REASONS when stream is None

    def to_json(self) -> dict[str, Any]:
        facts = self.facts
        return {
            "available": self.stream is not None,
            "stream": self.stream,
            "codec": None if facts is None else facts.codec,
            "width": None if facts is None else facts.width,
            "height": None if facts is None else facts.height,
            "reason": self.reason,
            "message": None
            if self.reason is None
            else {lang: reason_text(self, lang) for lang in ("zh", "en")},
        }


REASONS: dict[str, dict[str, str]] = {
    "offline": {
        "zh": "摄像机暂无视频（离线或正在重连）",
        "en": "No video from the camera yet (offline or reconnecting)",
    },
    "codec_no_sub": {
        "zh": "主码流为 {codec}，浏览器无法直接播放，且未配置 H.264 子码流",
        "en": "The main stream is {codec}, which browsers cannot play, and no H.264"
        " sub-stream is configured",
    },
    "codec_sub_unusable": {
        "zh": "主码流为 {codec}，浏览器无法直接播放，子码流也不是不含 B 帧的 H.264",
        "en": "The main stream is {codec}, which browsers cannot play, and the sub-stream is"
        " not H.264 without B-frames either",
    },
    "b_frames_no_sub": {
        "zh": "主码流含 B 帧，浏览器无法无转码播放，且未配置可用的 H.264 子码流；"
        "请在摄像机上关闭 B 帧",
        "en": "The main stream has B-frames, which browsers cannot play without re-encoding,"
        " and there is no usable H.264 sub-stream; turn B-frames off on the camera",
    },
    "sub_offline": {
        "zh": "主码流无法在浏览器播放，子码流暂无视频（离线或正在重连）",
        "en": "The main stream cannot be played in a browser and the sub-stream has no video"
        " yet (offline or reconnecting)",
    },
}


def _codec_name(codec: str) -> str:
    return {"hevc": "H.265", "h264": "H.264"}.get(codec, codec.upper())


def choose_stream(
    main: StreamFacts | None, sub: StreamFacts | None, *, sub_configured: bool
) -> LivePlan:
    """Main if playable, else the sub-stream if playable, else why live view is unavailable.

    `main` / `sub` are None while that stream has no video (or, for sub, none is configured).
    """
    if main is not None and main.playable:
        return LivePlan("main", main)
    if sub is not None and sub.playable:
        return LivePlan("sub", sub)
    if main is None:
        return LivePlan(None, None, "offline")
    if sub_configured and sub is None:
        return LivePlan(None, main, "sub_offline")
    if main.codec != PASSTHROUGH_CODEC:
        return LivePlan(None, main, "codec_sub_unusable" if sub_configured else "codec_no_sub")
    return LivePlan(None, main, "b_frames_no_sub")


def reason_text(plan: LivePlan, lang: str) -> str | None:
    """The plan's reason in `lang` ("zh" or "en"), with the codec filled in."""
    if plan.reason is None:
        return None
    codec = _codec_name(plan.facts.codec) if plan.facts is not None else "?"
    return REASONS[plan.reason][lang].format(codec=codec)
