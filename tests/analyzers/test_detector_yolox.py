"""YOLOX decoding (raw grid outputs and decoded ones), end to end through synthetic ONNX models."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from analyzers.detector_spec import DetectorSpec
from analyzers.letterbox import letterbox_batch
from analyzers.onnx_session import ModelError
from analyzers.registry import build_detector
from analyzers.yolox import Grid, Yolox, looks_decoded
from tests.support.onnx_models import FakeOutput, constant_model, yolox_grid, yolox_values

PERSON, CAR = 0, 2
SIZE = 320  # grids 40×40, 20×20, 10×10: rows 0..1599, 1600..1999, 2000..2099

# row: (raw x, y, log w, log h in cells, objectness, class, class score)
RAW = {
    10 * 40 + 15: (0.5, 0.5, math.log(10), math.log(20), 0.9, PERSON, 0.8),  # centre (124, 84)
    10 * 40 + 16: (-0.5, 0.5, math.log(10), math.log(20), 0.9, PERSON, 0.7),  # same box: NMS
    2000 + 5 * 10 + 7: (0.0, 0.0, math.log(2), math.log(3), 0.6, PERSON, 0.9),  # (224, 160)
    1600 + 3 * 20 + 3: (0.0, 0.0, 0.0, 0.0, 0.99, CAR, 0.99),  # not a person
    1600 + 9 * 20 + 9: (0.0, 0.0, 0.0, 0.0, 0.9, PERSON, 0.3),  # 0.27: below the threshold
}
# the same candidates as a decoded export writes them: centre and size in input pixels
DECODED = {
    10 * 40 + 15: (124.0, 84.0, 80.0, 160.0, 0.9, PERSON, 0.8),
    10 * 40 + 16: (124.0, 84.0, 80.0, 160.0, 0.9, PERSON, 0.7),
    2000 + 5 * 10 + 7: (224.0, 160.0, 64.0, 96.0, 0.6, PERSON, 0.9),
    1600 + 3 * 20 + 3: (48.0, 48.0, 16.0, 16.0, 0.99, CAR, 0.99),
    1600 + 9 * 20 + 9: (144.0, 144.0, 16.0, 16.0, 0.9, PERSON, 0.3),
}
# in a 640×480 frame (scale 0.5, top-left: no offset), best first
EXPECTED_BOXES = [(168, 8, 328, 328), (384, 224, 512, 416)]
EXPECTED_SCORES = [0.72, 0.54]

Image = npt.NDArray[np.uint8]


def build(path: Path, **settings: object) -> Yolox:
    detector = build_detector(DetectorSpec("yolox", path, **settings))  # type: ignore[arg-type]
    assert isinstance(detector, Yolox)
    return detector


def frame(width: int = 640, height: int = 480, value: int = 0) -> Image:
    return np.full((height, width, 3), value, dtype=np.uint8)


@pytest.mark.parametrize(("form", "candidates"), [("raw", RAW), ("decoded", DECODED)])
def test_person_boxes_are_decoded_suppressed_and_mapped_to_the_image(
    tmp_path: Path,
    form: str,
    candidates: dict[int, tuple[float, float, float, float, float, int, float]],
) -> None:
    values = yolox_values(SIZE, SIZE, candidates, decoded=form == "decoded")
    model = constant_model(tmp_path / f"{form}.onnx", (1, 3, SIZE, SIZE), [FakeOutput("o", values)])
    detector = build(model)
    assert detector.name == f"yolox:{form}.onnx"
    assert detector.input_size == (SIZE, SIZE) and detector.max_batch == 1
    found = detector.detect(frame())
    np.testing.assert_allclose(found.boxes, EXPECTED_BOXES, atol=1e-3)
    np.testing.assert_allclose(found.scores, EXPECTED_SCORES, atol=1e-6)


def test_cells_are_numbered_row_by_row_on_a_non_square_input(tmp_path: Path) -> None:
    width, height = 320, 256  # stride 8: 40 cells across, 32 down
    candidates = {
        39: (0.0, 0.0, 0.0, 0.0, 1.0, PERSON, 0.9),  # cell (39, 0): last of the first row
        40: (0.0, 0.0, 0.0, 0.0, 1.0, PERSON, 0.8),  # cell (0, 1): first of the second
    }
    values = yolox_values(width, height, candidates, decoded=False)
    model = constant_model(tmp_path / "wide.onnx", (1, 3, height, width), [FakeOutput("o", values)])
    detector = build(model)
    assert detector.input_size == (width, height)
    found = detector.detect(frame(width, height))
    np.testing.assert_allclose(found.boxes, [(308, 0, 316, 4), (0, 4, 4, 12)], atol=1e-4)


def test_pixels_reach_the_network_as_bgr_0_to_255_in_the_top_left(tmp_path: Path) -> None:
    values = yolox_values(SIZE, SIZE, RAW, decoded=False)
    detector = build(
        constant_model(tmp_path / "x.onnx", (1, 3, SIZE, SIZE), [FakeOutput("o", values)])
    )
    blue = frame(640, 320)
    blue[..., 0] = 255
    canvas, (placement,) = letterbox_batch([blue], detector.input_size, detector.style)
    assert (placement.left, placement.top) == (0, 0)
    tensor = detector.tensor(canvas)
    assert tensor.shape == (1, 3, SIZE, SIZE) and tensor.dtype == np.float32
    np.testing.assert_array_equal(tensor[0, :, 0, 0], [255, 0, 0])  # BGR, unnormalised
    np.testing.assert_array_equal(tensor[0, :, SIZE - 1, 0], [114, 114, 114])  # pad below


def test_dynamic_batch_reads_each_row(tmp_path: Path) -> None:
    values = yolox_values(SIZE, SIZE, {415: (0.5, 0.5, 0.0, 0.0, 0.0, PERSON, 1.0)}, decoded=False)
    gain = np.zeros_like(values)
    gain[415, 4] = 0.8 / 255  # objectness = 0.8 × mean input / 255: 0.8 on white, 0 on black
    model = constant_model(
        tmp_path / "dyn.onnx", ("batch", 3, SIZE, SIZE), [FakeOutput("o", values, gain)]
    )
    detector = build(model)
    assert detector.max_batch is None
    white, black = frame(SIZE, SIZE, 255), frame(SIZE, SIZE, 0)
    found = detector.detect_batch([black, white, black])
    assert [len(one) for one in found] == [0, 1, 0]
    np.testing.assert_allclose(found[1].scores, [0.8], atol=1e-5)
    np.testing.assert_allclose(found[1].boxes, [(120, 80, 128, 88)], atol=1e-4)


# --- raw or decoded -----------------------------------------------------------------------------


@given(
    size=st.sampled_from([(128, 128), (320, 256), (416, 416), (640, 640)]),
    seed=st.integers(0, 2**32 - 1),
    spread=st.floats(0.1, 2.0),
)
def test_looks_decoded_tells_the_two_forms_apart(
    size: tuple[int, int], seed: int, spread: float
) -> None:
    grid = Grid.of(*size)
    offsets = np.random.default_rng(seed).normal(0.5, spread, (len(grid), 2)).astype(np.float32)
    decoded = (grid.cells + offsets) * grid.strides[:, np.newaxis]
    assert not looks_decoded(offsets, grid)
    assert looks_decoded(decoded.astype(np.float32), grid)


def test_grid_matches_the_row_order_of_the_outputs() -> None:
    grid = Grid.of(320, 256)
    expected = yolox_grid(320, 256)
    assert len(grid) == len(expected) == 40 * 32 + 20 * 16 + 10 * 8
    np.testing.assert_array_equal(grid.cells, [(gx, gy) for gx, gy, _ in expected])
    np.testing.assert_array_equal(grid.strides, [stride for _, _, stride in expected])


# --- wrong models -------------------------------------------------------------------------------


def test_output_for_another_input_size_is_a_model_error(tmp_path: Path) -> None:
    values = yolox_values(640, 640, {}, decoded=False)
    model = constant_model(tmp_path / "m.onnx", ("batch", 3, "h", "w"), [FakeOutput("o", values)])
    with pytest.raises(
        ModelError,
        match=r"m\.onnx: output o is \[batch, 8400, 85\], not \[batch, 2100, 85\] for a 320×320 "
        r"input and 80 classes \(the default COCO labels\); expected one float32 input "
        r"\[batch, 3, 320, 320\] \(BGR, 0\.\.255\)",
    ):
        build(model, input_size=320)
    assert build(model).input_size == (640, 640)  # the default size fits


def test_labels_that_do_not_match_the_model_are_a_model_error(tmp_path: Path) -> None:
    values = yolox_values(SIZE, SIZE, RAW, decoded=False)
    model = constant_model(tmp_path / "x.onnx", (1, 3, SIZE, SIZE), [FakeOutput("o", values)])
    with pytest.raises(ModelError, match=r"not \[batch, 2100, 6\] .*\(labels from the settings\)"):
        build(model, labels=("person",))
