"""Cut a wall-clock range of one camera out of its segments into one MP4, by stream copy.

`cut()` remuxes (no decoding, no encoding) the packets of the segments that overlap the range:

* it begins at the last keyframe at or before `start` (the first keyframe after `start` when
  `start` falls in an outage or before the footage) and ends at the end of the GOP holding the
  last frame before `end` (or at the last packet there is), so the clip decodes from its first
  frame and keeps every frame of the range;
* output timestamps are continuous: each segment's packets follow the previous segment's last
  frame. Segments of one session abut, so there this is real time; an outage between segments
  (camera down, recorder restart) is closed up rather than shown as a frozen picture. The
  `pieces` of the result map clip time back to wall-clock time and `gaps` names what was closed;
* the clip is a regular (non-fragmented) MP4 with `faststart`: the index (moov) comes first,
  so a browser seeks in it over HTTP Range with one request for the index, and desktop players
  and evidence tools get the exact duration and a keyframe table. It is written to a hidden
  `.partial` file and renamed into place, so a crash never leaves a half clip under the name;
* a torn segment tail (a crash) or an open segment (being written) is read up to its last
  intact packet; a segment that cannot be opened is skipped; the cut ends before a segment
  whose stream parameters (codec, size, codec headers) differ from the first one used.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from recordings.index import Segment, SegmentIndex
from recordings.segments import DEFAULT_RATE, SNAP_TOLERANCE_S

log = logging.getLogger(__name__)

CLIP_MP4_OPTIONS = {"movflags": "+faststart"}
_OPEN_ERRORS = (av.error.FFmpegError, OSError)


class NoFootage(LookupError):
    """There is no recorded video of the camera in the requested range."""


@dataclass(frozen=True, slots=True)
class Piece:
    """The part of one source segment in a clip."""

    segment: str  # relpath of the segment, relative to the recordings root
    start: float  # wall clock (UNIX s) of its first frame
    end: float  # wall clock of the end of its last frame
    offset: float  # seconds into the clip where its first frame is shown

    def to_json(self) -> dict[str, Any]:
        return {"segment": self.segment, "start": self.start, "end": self.end,
                "offset": self.offset}  # fmt: skip


@dataclass(frozen=True, slots=True)
class CutResult:
    path: Path
    camera: str
    start: float  # wall clock of the first frame (a keyframe at or before the requested start)
    end: float  # wall clock of the end of the last frame
    frames: int
    pieces: tuple[Piece, ...]

    @property
    def segments(self) -> list[str]:
        """Relpaths of the source segments, in order."""
        return [piece.segment for piece in self.pieces]

    @property
    def duration(self) -> float:
        """Seconds of video in the clip (outages closed up)."""
        last = self.pieces[-1]
        return last.offset + last.end - last.start

    @property
    def gaps(self) -> list[tuple[float, float]]:
        return gaps_between(self.pieces)


def gaps_between(pieces: Sequence[Piece]) -> list[tuple[float, float]]:
    """Wall-clock intervals between pieces that a clip closes up (longer than clock jitter)."""
    return [(a.end, b.start) for a, b in itertools.pairwise(pieces)
            if b.start - a.end > SNAP_TOLERANCE_S]  # fmt: skip


@dataclass(slots=True)
class _Timed:
    packet: Any  # av.Packet of the segment's video stream
    wall: float  # wall-clock time it is shown
    seconds: Fraction  # how long it is shown

    @property
    def keyframe(self) -> bool:
        return bool(self.packet.is_keyframe)

    @property
    def wall_end(self) -> float:
        return self.wall + float(self.seconds)


def _intact_packets(container: Any, stream: Any, wall_start: float) -> Iterator[_Timed]:
    """The packets of `stream` up to a torn tail, timed on the wall clock from `wall_start`."""
    time_base = stream.time_base
    step = 1 / (DEFAULT_RATE * time_base)
    first: int | None = None
    last_dts: int | None = None
    try:
        for packet in container.demux(stream):
            if packet.is_corrupt:
                log.info("recordings: %s readable up to a corrupt packet", container.name)
                return
            if not packet.size or packet.pts is None or packet.dts is None:
                continue
            first = packet.pts if first is None else first
            if packet.duration:
                step = packet.duration
            elif last_dts is not None and packet.dts > last_dts:
                step = packet.dts - last_dts
            last_dts = packet.dts
            wall = wall_start + float((packet.pts - first) * time_base)
            yield _Timed(packet, wall, Fraction(step) * time_base)
    except av.error.FFmpegError as error:  # torn tail (crash) or a fragment still being written
        log.info("recordings: %s readable up to a damaged tail: %s", container.name, error)


def _stream_params(stream: Any) -> tuple[str, int, int, bytes]:
    ctx = stream.codec_context
    return ctx.name, ctx.width, ctx.height, bytes(ctx.extradata or b"")


@dataclass(slots=True)
class _Source:
    """The segment being read and what of it went into the clip."""

    segment: Segment
    stream: Any
    shift: int | None = None  # added to its timestamps (its time base) once a packet is written
    start: float = 0.0
    end: float = 0.0
    offset: Fraction = Fraction(0)


@dataclass(slots=True)
class _Cutter:
    """Selects the packets of [start, end) from consecutive segments and writes them."""

    start: float
    end: float
    partial: Path
    output: Any = None
    out_stream: Any = None
    params: tuple[str, int, int, bytes] | None = None
    gop: list[_Timed] = field(default_factory=list)  # the GOP before `start`, not yet written
    next_s: Fraction = Fraction(0)  # clip time after the last packet written
    frames: int = 0
    pieces: list[Piece] = field(default_factory=list)
    done: bool = False

    def feed(self, segment: Segment, path: Path) -> None:
        """Take what `segment` contributes; sets `done` once the range is complete."""
        try:
            container = av.open(str(path))
        except _OPEN_ERRORS as error:
            log.warning("recordings: cannot read segment %s: %s", segment.path, error)
            return
        with container:
            if not container.streams.video:
                log.warning("recordings: segment %s has no video stream", segment.path)
                return
            stream = container.streams.video[0]
            if self.params is not None and _stream_params(stream) != self.params:
                log.warning("recordings: cut ends before %s: stream parameters change",
                            segment.path)  # fmt: skip
                self.done = True
                return
            source = _Source(segment, stream)
            for timed in _intact_packets(container, stream, segment.start):
                self._take(source, timed)
                if self.done:
                    break
            self._segment_ended(source)

    def _take(self, source: _Source, timed: _Timed) -> None:
        if self.output is None:
            self._before_start(source, timed)
        elif timed.keyframe and timed.wall >= self.end:
            self.done = True  # the GOP holding the last frame of the range is complete
        else:
            self._write(source, timed)

    def _before_start(self, source: _Source, timed: _Timed) -> None:
        if timed.wall <= self.start:
            if timed.keyframe:
                self.gop = [timed]
            elif self.gop:
                self.gop.append(timed)
            return
        pending, self.gop = self.gop, []
        if pending:  # the GOP before holds `start`: begin at its keyframe
            self._begin(source, pending)
            self._take(source, timed)
        elif timed.keyframe and timed.wall < self.end:  # `start` is before the footage
            self._begin(source, [timed])
        elif timed.keyframe:
            self.done = True  # the footage resumes only after the range

    def _segment_ended(self, source: _Source) -> None:
        pending, self.gop = self.gop, []
        if self.output is None and pending and pending[-1].wall_end > self.start:
            self._begin(source, pending)  # the segment's last GOP holds `start`
        if source.shift is not None:
            self.pieces.append(Piece(source.segment.path, source.start, source.end,
                                     float(source.offset)))  # fmt: skip

    def _begin(self, source: _Source, packets: Sequence[_Timed]) -> None:
        self.partial.parent.mkdir(parents=True, exist_ok=True)
        self.output = av.open(str(self.partial), "w", format="mp4",
                              options=dict(CLIP_MP4_OPTIONS))  # fmt: skip
        self.out_stream = self.output.add_stream_from_template(source.stream)
        self.params = _stream_params(source.stream)
        for timed in packets:
            self._write(source, timed)

    def _write(self, source: _Source, timed: _Timed) -> None:
        packet = timed.packet
        time_base = source.stream.time_base
        if source.shift is None:  # the first packet of this segment in the clip
            source.shift = round(self.next_s / time_base) - int(packet.dts)
            source.start, source.offset = timed.wall, self.next_s
        packet.dts += source.shift
        packet.pts += source.shift
        self.next_s = max(self.next_s, packet.dts * time_base + timed.seconds)
        source.end = max(source.end, timed.wall_end)
        packet.stream = self.out_stream
        self.output.mux(packet)
        self.frames += 1

    def finish(self, camera: str, target: Path) -> CutResult:
        if self.output is None or not self.pieces:
            raise NoFootage(f"no recorded video of {camera} in that range")
        self.output.close()
        self.output = None
        os.replace(self.partial, target)
        return CutResult(target, camera, self.pieces[0].start, self.pieces[-1].end, self.frames,
                         tuple(self.pieces))  # fmt: skip

    def abort(self) -> None:
        if self.output is not None:
            with contextlib.suppress(av.error.FFmpegError, OSError):
                self.output.close()
        self.partial.unlink(missing_ok=True)


def cut(index: SegmentIndex, camera: str, start: float, end: float, target: Path) -> CutResult:
    """Write the video of `camera` in [start, end) (UNIX s) to `target` as MP4, by stream copy.

    Raises NoFootage when no segment has video in the range, ValueError when end <= start;
    write errors (OSError, av.error.FFmpegError) propagate and leave no file at `target`.
    """
    if not end > start:
        raise ValueError("the end of a cut must be after its start")
    segments = index.overlapping(camera, start, end)
    if not segments:
        raise NoFootage(f"no recording of {camera} in that range")
    target.parent.mkdir(parents=True, exist_ok=True)
    cutter = _Cutter(start, end, target.with_name(f".{target.name}.partial"))
    try:
        for segment in segments:
            cutter.feed(segment, index.path_of(segment))
            if cutter.done:
                break
        result = cutter.finish(camera, target)
    except BaseException:
        cutter.abort()
        raise
    log.info("recordings: cut %s of %s: %d frames from %d segment(s)", target.name, camera,
             result.frames, len(result.pieces))  # fmt: skip
    return result
