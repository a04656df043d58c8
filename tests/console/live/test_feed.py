"""The shared per-camera feed: one subscription for all viewers, keyframe starts, slow viewers
drop alone, Annex-B conversion of AVCC (MP4) packets, the feed gone after the last viewer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import av
import pytest

from console.live.feed import CameraFeed, LivePacket, ViewerQueue
from console.live.hub import LiveHub
from hallwatch.config import Site
from hallwatch.store import Store
from ingest.annexb import nal_types
from ingest.packets import FanOut, PacketItem, SessionEnded, StreamInfo, detached_template
from tests.support.clips import make_clip, read_frame_counter

GOP = 10


@pytest.fixture(scope="module")
def items(tmp_path_factory: pytest.TempPathFactory) -> list[PacketItem]:
    """Three GOPs of an MP4 clip (AVCC packets), as the camera reader fans them out."""
    clip = make_clip(tmp_path_factory.mktemp("clip") / "c.mp4", seconds=3, fps=10, gop=GOP)
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        time_base = stream.time_base
        assert time_base is not None
        info = StreamInfo("cam01", 1, "h264", stream.width, stream.height, time_base,
                          detached_template(stream), bytes(stream.codec_context.extradata or b""))  # fmt: skip
        return [
            PacketItem(
                info, packet, float((packet.pts or 0) * time_base), time.time(), packet.is_keyframe
            )
            for packet in container.demux(stream)
            if packet.size
        ]


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 20))


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def take(viewer: ViewerQueue, count: int) -> list[LivePacket]:
    return [await asyncio.wait_for(viewer.get(), 5) for _ in range(count)]


def decode(packets: list[LivePacket]) -> list[int]:
    """Frame numbers of the pictures, decoded by a decoder that never saw the stream's
    extradata: only Annex-B with in-band parameter sets decodes like this."""
    codec = av.CodecContext.create("h264", "r")
    numbers = []
    for item in packets:
        for frame in codec.decode(av.Packet(bytes(item.packet))):
            numbers.append(read_frame_counter(frame.to_ndarray(format="rgb24")))
    return numbers


def live_queues(fanout: FanOut) -> list[str]:
    return [q.name for q in fanout.queues if q.name.startswith("live")]


def test_two_viewers_share_one_subscription_and_start_at_a_keyframe(
    items: list[PacketItem],
) -> None:
    async def scenario() -> None:
        fanout = FanOut()
        feed = CameraFeed("cam01", "main", fanout)
        first = feed.add_viewer()
        second = feed.add_viewer()
        assert live_queues(fanout) == ["live:main"]  # one upstream however many viewers
        for item in items[3 : 3 + 2 * GOP]:  # starts mid-GOP
            fanout.publish(item)
        got = await take(first, GOP)
        assert got[0].keyframe and all(not p.keyframe for p in got[1:])
        assert first.skipped == GOP - 3  # the partial GOP before the keyframe was not sent
        assert decode(got) == list(range(GOP, 2 * GOP))
        assert decode(await take(second, GOP)) == list(range(GOP, 2 * GOP))
        assert feed.facts is not None and feed.facts.playable
        feed.stop()
        assert live_queues(fanout) == []

    run(scenario)


def test_annexb_packets_carry_parameter_sets_and_rtp_timestamps(items: list[PacketItem]) -> None:
    async def scenario() -> None:
        fanout = FanOut()
        feed = CameraFeed("cam01", "main", fanout)
        viewer = feed.add_viewer()
        for item in items[:GOP]:
            fanout.publish(item)
        got = await take(viewer, GOP)
        assert bytes(items[0].packet)[:4] != b"\x00\x00\x00\x01"  # the source is AVCC
        assert {7, 8, 5} <= set(nal_types(bytes(got[0].packet)))  # SPS, PPS, IDR
        assert set(nal_types(bytes(got[1].packet))) == {1}  # a P-slice
        assert [p.packet.pts for p in got[:3]] == [0, 9000, 18000]  # 10 fps on 90 kHz
        assert decode(got) == list(range(GOP))
        feed.stop()

    run(scenario)


def test_new_viewer_starts_at_once_with_the_kept_gop(items: list[PacketItem]) -> None:
    async def scenario() -> None:
        fanout = FanOut()
        feed = CameraFeed("cam01", "main", fanout)
        for item in items[: GOP + 4]:
            fanout.publish(item)
        await until(lambda: feed.packets == GOP + 4)
        late = feed.add_viewer()  # joins mid-GOP: gets that GOP from its keyframe at once
        assert len(late) == 4 and decode(await take(late, 4)) == [10, 11, 12, 13]
        fanout.publish(SessionEnded(items[0].info, time.time(), "camera dropped"))
        await until(lambda: feed.packets == GOP + 4 and not feed._gop)
        after_gap = feed.add_viewer()
        assert len(after_gap) == 0  # nothing kept across a broken stream
        feed.stop()

    run(scenario)


def test_slow_viewer_drops_to_the_next_keyframe_and_never_slows_the_other(
    items: list[PacketItem],
) -> None:
    async def scenario() -> None:
        fanout = FanOut()
        feed = CameraFeed("cam01", "main", fanout, viewer_queue=12)
        slow = feed.add_viewer()  # never reads while the stream runs
        fast = feed.add_viewer()
        received: list[LivePacket] = []
        for item in items:
            fanout.publish(item)
            received.extend(await take(fast, 1))  # the fast viewer keeps up, packet by packet
        assert decode(received) == list(range(len(items)))
        assert fast.dropped == 0 and slow.dropped > 0
        assert len(slow) <= 12
        rest = [await slow.get() for _ in range(len(slow))]
        assert rest[0].keyframe  # resumed at a keyframe, so what it shows decodes
        assert decode(rest) == list(range(2 * GOP, 2 * GOP + len(rest)))
        assert len(fanout.queues[0]) == 0 and fanout.queues[0].dropped == 0  # reader unharmed
        feed.stop()

    run(scenario)


class Fanouts:
    def __init__(self) -> None:
        self.main = FanOut()

    def __call__(self, camera: str, stream: str) -> FanOut | None:
        return self.main if (camera, stream) == ("cam01", "main") else None


SITE = Site.model_validate({"name": "t", "cameras": [{"id": "cam01", "name": "c", "url": "x.mp4"}]})


def test_feed_made_for_a_probe_is_dropped_when_no_viewer_comes(
    items: list[PacketItem], tmp_path: Path
) -> None:
    async def scenario() -> None:
        fanouts = Fanouts()
        hub = LiveHub(SITE, Store(tmp_path / "s.db"), fanouts, linger_s=0.05, facts_timeout_s=2)
        publish = asyncio.get_running_loop().call_later(0.1, fanouts.main.publish, items[0])
        plan = await hub.plan("cam01")
        assert plan.stream == "main" and plan.facts is not None and plan.facts.width == 640
        assert live_queues(fanouts.main) == ["live:main"]
        await until(lambda: not live_queues(fanouts.main))  # dropped after the linger
        assert hub.feeds == {}
        publish.cancel()
        offline = await LiveHub(SITE, Store(tmp_path / "t.db"), fanouts, facts_timeout_s=0.1).plan(
            "cam01"
        )
        assert offline.reason == "offline"

    run(scenario)
