"""The motion gate: skip the detector while zones hold still, but never for too long."""

from __future__ import annotations

import numpy as np
import pytest

from analyzers.crops import Region
from analyzers.motion import MotionGate, MotionSpec, changed_fraction, must_infer

SPEC = MotionSpec(enabled=True, pixel_delta=20, changed_fraction=0.01, max_skip_s=10.0)


@pytest.mark.parametrize(
    ("fractions", "since", "spec", "expected"),
    [
        (None, None, SPEC, True),  # no reference yet
        ([0.0], 1.0, SPEC, False),  # still
        ([0.0, 0.02], 1.0, SPEC, True),  # one region moved
        ([0.0099], 9.9, SPEC, False),
        ([0.0], 10.0, SPEC, True),  # max_skip_s reached
        ([0.0], -1.0, SPEC, True),  # clock went back: do not trust the reference
        ([0.0], 1.0, MotionSpec(enabled=False), True),
    ],
)
def test_decision(
    fractions: list[float] | None, since: float | None, spec: MotionSpec, expected: bool
) -> None:
    assert must_infer(fractions, since, spec) is expected


def test_changed_fraction_counts_pixels_beyond_the_delta() -> None:
    a = np.zeros((10, 10), np.uint8)
    b = a.copy()
    b[0, :5] = 21
    b[1, :5] = 20  # not beyond the delta
    assert changed_fraction(a, b, 20) == pytest.approx(0.05)
    assert changed_fraction(a, np.zeros((5, 5), np.uint8), 20) == 1.0


def frame(person_x: int | None, noise: int = 0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = np.full((360, 640, 3), 120, np.uint8)
    if noise:
        image = np.clip(image + rng.integers(-noise, noise + 1, image.shape), 0, 255).astype(
            np.uint8
        )
    if person_x is not None:
        image[150:330, person_x : person_x + 50] = 30
    return image


def test_gate_skips_still_frames_and_wakes_on_movement() -> None:
    gate = MotionGate([Region(0.0, 0.3, 0.5, 1.0)], SPEC)
    assert gate.check(frame(100), 0.0)
    gate.inferred(0.0)
    assert not gate.check(frame(100, noise=6, seed=1), 1.0)  # sensor noise is not motion
    assert not gate.check(frame(100, noise=6, seed=2), 2.0)
    assert gate.check(frame(130), 3.0)  # the person moved
    gate.inferred(3.0)
    assert not gate.check(frame(130), 4.0)
    assert gate.check(frame(130), 13.0)  # re-checked after max_skip_s anyway
    assert (gate.checked, gate.skipped) == (6, 3)


def test_movement_outside_the_regions_is_ignored() -> None:
    gate = MotionGate([Region(0.0, 0.0, 0.1, 0.1)], SPEC)
    gate.check(frame(None), 0.0)
    gate.inferred(0.0)
    assert not gate.check(frame(300), 1.0)
