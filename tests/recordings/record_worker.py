"""Records camera "cam" from a clip (at real-time pace) or an RTSP URL until it is killed.

The crash-safety tests run it in a subprocess and SIGKILL it in the middle of a segment::

    python -m tests.recordings.record_worker --db store.db --root rec --source clip.mp4
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from hallwatch.store import Store
from ingest.packets import PacketQueue
from recordings.index import SegmentIndex
from recordings.segments import SegmentWriter
from tests.recordings.feed import demux_items


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--source", required=True, help="clip path or rtsp:// URL")
    parser.add_argument("--segment-s", type=float, default=3.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG, format="%(asctime)s %(name)s %(message)s")
    index = SegmentIndex(Store(args.db), args.root)
    queue = PacketQueue("recorder", 1000)
    writer = SegmentWriter("cam", queue, index, args.root, segment_s=args.segment_s)
    writer.start()
    live = args.source.startswith("rtsp://")
    for item in demux_items(args.source, wall_base=None, realtime=not live):
        queue.offer(item)
    writer.stop()  # only if the source ends
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
