"""Multi-object tracking on sparse frames: people keep their ids from one sampled frame to the next.

Frames arrive about once per second (sometimes 2–5 per second), so the boxes of a walking person
in two frames often do not overlap and pure IoU association fails. Association is therefore done
in two passes: boxes are paired by IoU first, then what is left is paired by the distance between
box centres measured in box heights. That distance is gated by `max_centre_distance` box heights
per second since the track was last matched (never less than one second's worth): a person covers
about one box height per second, and a 1.2 s frame interval or a dropout must not split a walker's
track. Each track is compared both where its recent velocity predicts it now and where it was last
seen, whichever fits better, so a walking person is followed and a person who stopped while unseen
is still found. Pairs are chosen greedily, best first (no scipy: it is not a declared dependency).

As in ByteTrack, detections are split by score: high-score ones are associated first and may start
new tracks; low-score ones (often half-hidden people) only extend tracks left unmatched. A new track
is confirmed after `min_hits` matches; a track unmatched for more than `max_age_s` is dropped.
Ids are ints counting up from 1 and are never reused.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analyzers.detections import Detections

Boxes = npt.NDArray[np.float64]  # [N, 4] x1, y1, x2, y2
Matrix = npt.NDArray[np.float64]  # [tracks, detections]
Mask = npt.NDArray[np.bool_]
Pair = tuple[int, int]  # (track index, detection index)

MIN_HEIGHT = 1e-6  # guards the distance normalisation against degenerate boxes
VELOCITY_SMOOTHING = 0.5  # weight of the newest velocity estimate


@dataclass(frozen=True, slots=True)
class TrackerSettings:
    match_iou: float = 0.2  # least IoU for an overlap match
    max_centre_distance: float = 1.0  # box heights per second unseen (≥ 1 s), when IoU fails
    high_score: float = 0.5  # detections at or above may start tracks
    min_hits: int = 2  # matches before a track is confirmed
    max_age_s: float = 3.0  # a track unmatched for longer is dropped
    max_size_ratio: float = 2.0  # box heights of a pair may differ at most by this factor

    def __post_init__(self) -> None:
        if not 0 < self.match_iou <= 1:
            raise ValueError(f"match_iou must be in (0, 1], got {self.match_iou}")
        if self.max_centre_distance < 0:
            raise ValueError(f"max_centre_distance must be ≥ 0, got {self.max_centre_distance}")
        if not 0 <= self.high_score < 1:
            raise ValueError(f"high_score must be in [0, 1), got {self.high_score}")
        if self.min_hits < 1:
            raise ValueError(f"min_hits must be at least 1, got {self.min_hits}")
        if self.max_age_s < 0:
            raise ValueError(f"max_age_s must not be negative, got {self.max_age_s}")
        if self.max_size_ratio < 1:
            raise ValueError(f"max_size_ratio must be at least 1, got {self.max_size_ratio}")


@dataclass(frozen=True, slots=True)
class Tracks:
    """The tracks matched in one frame, ordered by id.

    ids int64 [N]; boxes float32 [N, 4] (x1, y1, x2, y2, pixels of the analysed image); scores
    float32 [N] (of this frame's detection); confirmed bool [N]; first_seen float64 [N] (time of
    the track's first detection).
    """

    ids: npt.NDArray[np.int64]
    boxes: npt.NDArray[np.float32]
    scores: npt.NDArray[np.float32]
    confirmed: npt.NDArray[np.bool_]
    first_seen: npt.NDArray[np.float64]

    def __post_init__(self) -> None:
        if self.boxes.ndim != 2 or self.boxes.shape[1] != 4:
            raise ValueError(f"boxes must be [N, 4], got {self.boxes.shape}")
        n = self.boxes.shape[0]
        for name in ("ids", "scores", "confirmed", "first_seen"):
            shape = getattr(self, name).shape
            if shape != (n,):
                raise ValueError(f"{name} must be [{n}], got {shape}")

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @classmethod
    def empty(cls) -> Tracks:
        return cls(
            np.zeros((0,), dtype=np.int64),
            np.zeros((0, 4), dtype=np.float32),
            np.zeros((0,), dtype=np.float32),
            np.zeros((0,), dtype=np.bool_),
            np.zeros((0,), dtype=np.float64),
        )

    def feet(self) -> npt.NDArray[np.float32]:
        """[N, 2] points (x centre, y2): where each person stands."""
        return Detections(self.boxes, self.scores).bottom_centres()

    def filter(self, mask: Mask) -> Tracks:
        keep = np.asarray(mask, dtype=bool)
        return Tracks(
            self.ids[keep],
            self.boxes[keep],
            self.scores[keep],
            self.confirmed[keep],
            self.first_seen[keep],
        )

    def only_confirmed(self) -> Tracks:
        return self.filter(self.confirmed)


def iou_matrix(a: Boxes, b: Boxes) -> Matrix:
    """Intersection over union of every box of `a` [T, 4] with every box of `b` [D, 4]."""
    a = a.reshape(-1, 1, 4)
    b = b.reshape(1, -1, 4)
    width = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    height = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = width * height
    union = _area(a) + _area(b) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou: Matrix = np.where(union > 0, inter / union, 0.0)
    return iou


def centre_distance_matrix(a: Boxes, b: Boxes) -> Matrix:
    """Distance between box centres, in units of the mean height of the two boxes ([T, D])."""
    a = a.reshape(-1, 1, 4)
    b = b.reshape(1, -1, 4)
    dx = (a[..., 0] + a[..., 2] - b[..., 0] - b[..., 2]) * 0.5
    dy = (a[..., 1] + a[..., 3] - b[..., 1] - b[..., 3]) * 0.5
    mean_height = np.maximum((_height(a) + _height(b)) * 0.5, MIN_HEIGHT)
    distance: Matrix = np.hypot(dx, dy) / mean_height
    return distance


def size_ratio_matrix(a: Boxes, b: Boxes) -> Matrix:
    """How many times taller the taller box of each pair is (≥ 1, [T, D])."""
    ha = np.maximum(_height(a), MIN_HEIGHT).reshape(-1, 1)
    hb = np.maximum(_height(b), MIN_HEIGHT).reshape(1, -1)
    ratio: Matrix = np.maximum(ha / hb, hb / ha)
    return ratio


def greedy_pairs(affinity: Matrix, allowed: Mask) -> list[Pair]:
    """Allowed (row, column) pairs, best affinity first, each row and column used at most once."""
    rows, cols = np.nonzero(allowed)
    order = np.argsort(-affinity[rows, cols], kind="stable")
    used_rows: set[int] = set()
    used_cols: set[int] = set()
    pairs: list[Pair] = []
    for row, col in zip(rows[order].tolist(), cols[order].tolist(), strict=True):
        if row in used_rows or col in used_cols:
            continue
        used_rows.add(row)
        used_cols.add(col)
        pairs.append((row, col))
    return pairs


def distance_gate(
    settings: TrackerSettings, elapsed_s: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Largest centre distance (box heights) per track, from the seconds since its last match."""
    gate: npt.NDArray[np.float64] = settings.max_centre_distance * np.maximum(elapsed_s, 1.0)
    return gate


def associate(
    predicted: Boxes,
    last: Boxes,
    elapsed_s: npt.NDArray[np.float64],
    detections: Boxes,
    settings: TrackerSettings,
) -> list[Pair]:
    """Pair tracks with detections: IoU first, then centre distance for what is left.

    Each track [T] is given by its predicted box, its last box and the seconds since that last box.
    """
    if len(predicted) == 0 or len(detections) == 0:
        return []
    similar_size = size_ratio_matrix(last, detections) <= settings.max_size_ratio
    iou = np.maximum(iou_matrix(predicted, detections), iou_matrix(last, detections))
    pairs = greedy_pairs(iou, similar_size & (iou >= settings.match_iou))
    free = similar_size.copy()
    for row, col in pairs:
        free[row, :] = False
        free[:, col] = False
    distance = np.minimum(
        centre_distance_matrix(predicted, detections), centre_distance_matrix(last, detections)
    )
    near = distance <= distance_gate(settings, elapsed_s).reshape(-1, 1)
    return pairs + greedy_pairs(-distance, free & near)


def _height(boxes: Boxes) -> npt.NDArray[np.float64]:
    height: npt.NDArray[np.float64] = boxes[..., 3] - boxes[..., 1]
    return height


def _area(boxes: Boxes) -> npt.NDArray[np.float64]:
    area: npt.NDArray[np.float64] = np.clip(boxes[..., 2] - boxes[..., 0], 0, None) * np.clip(
        _height(boxes), 0, None
    )
    return area


def _centre(box: Boxes) -> npt.NDArray[np.float64]:
    centre: npt.NDArray[np.float64] = (box[0:2] + box[2:4]) * 0.5
    return centre


class _Track:
    """One person's track: last box, velocity of its centre (pixels per second), hits."""

    __slots__ = ("box", "first_seen", "hits", "id", "last_t", "score", "velocity")

    def __init__(self, track_id: int, t: float, box: Boxes, score: float) -> None:
        self.id = track_id
        self.first_seen = t
        self.last_t = t
        self.box = box
        self.score = score
        self.hits = 1
        self.velocity = np.zeros(2, dtype=np.float64)

    def predicted(self, t: float) -> Boxes:
        shift = self.velocity * (t - self.last_t)
        predicted: Boxes = self.box + np.concatenate([shift, shift])
        return predicted

    def observe(self, t: float, box: Boxes, score: float) -> None:
        dt = t - self.last_t
        if dt > 0:
            newest = (_centre(box) - _centre(self.box)) / dt
            weight = 1.0 if self.hits == 1 else VELOCITY_SMOOTHING
            self.velocity = weight * newest + (1.0 - weight) * self.velocity
        self.box = box
        self.score = score
        self.last_t = t
        self.hits += 1


class Tracker:
    """Feed one frame's detections at a time, in time order; returns the tracks matched in it."""

    def __init__(self, settings: TrackerSettings | None = None) -> None:
        self.settings = settings or TrackerSettings()
        self._tracks: list[_Track] = []
        self._next_id = 1
        self._last_t: float | None = None

    @property
    def active_ids(self) -> tuple[int, ...]:
        """Ids of all kept tracks, matched in the last frame or lost for at most max_age_s."""
        return tuple(track.id for track in self._tracks)

    def update(self, t: float, detections: Detections) -> Tracks:
        if self._last_t is not None and t < self._last_t:
            raise ValueError(f"frame at {t} is older than the previous one at {self._last_t}")
        self._last_t = t
        self._tracks = [tr for tr in self._tracks if t - tr.last_t <= self.settings.max_age_s]
        boxes = detections.boxes.astype(np.float64)
        high = detections.scores >= self.settings.high_score
        matched = self._match(t, boxes, high)
        for track, index in matched:
            track.observe(t, boxes[index], float(detections.scores[index]))
        used = {index for _, index in matched}
        born = [
            self._start(t, boxes[i], float(detections.scores[i]))
            for i in np.flatnonzero(high).tolist()
            if i not in used
        ]
        return self._bundle([track for track, _ in matched] + born)

    def _match(self, t: float, boxes: Boxes, high: Mask) -> list[tuple[_Track, int]]:
        """High-score detections against all tracks, then low-score ones against the rest."""
        matched: list[tuple[_Track, int]] = []
        free = list(self._tracks)
        for group in (np.flatnonzero(high), np.flatnonzero(~high)):
            pairs = associate(
                np.array([tr.predicted(t) for tr in free]).reshape(-1, 4),
                np.array([tr.box for tr in free]).reshape(-1, 4),
                np.array([t - tr.last_t for tr in free], dtype=np.float64),
                boxes[group],
                self.settings,
            )
            matched += [(free[row], int(group[col])) for row, col in pairs]
            taken = {row for row, _ in pairs}
            free = [tr for i, tr in enumerate(free) if i not in taken]
        return matched

    def _start(self, t: float, box: Boxes, score: float) -> _Track:
        track = _Track(self._next_id, t, box, score)
        self._next_id += 1
        self._tracks.append(track)
        return track

    def _bundle(self, tracks: list[_Track]) -> Tracks:
        if not tracks:
            return Tracks.empty()
        seen = sorted(tracks, key=lambda tr: tr.id)
        return Tracks(
            np.array([tr.id for tr in seen], dtype=np.int64),
            np.array([tr.box for tr in seen], dtype=np.float32),
            np.array([tr.score for tr in seen], dtype=np.float32),
            np.array([tr.hits >= self.settings.min_hits for tr in seen], dtype=np.bool_),
            np.array([tr.first_seen for tr in seen], dtype=np.float64),
        )
