"""Person detector: the embedded NanoDet-g model on real photos and footage, and its helpers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from skimage import data

from analyzers.detections import Detections
from analyzers.detector import (
    DEFAULT_MODEL_PATH,
    INPUT_SIZE,
    MEAN_BGR,
    REG_BINS,
    STD_BGR,
    ModelError,
    NanoDetDetector,
    decode_level,
    letterbox,
    nms,
)

REPO = Path(__file__).resolve().parents[2]
FOOTAGE = REPO / ".." / "shared" / "data" / "intel_one_by_one" / "one-by-one-person-detection.mp4"

Image = npt.NDArray[np.uint8]


@pytest.fixture(scope="module")
def detector() -> NanoDetDetector:
    return NanoDetDetector()


def photo(name: str) -> Image:
    """One of the photos that ship inside scikit-image (no download)."""
    image: Image = np.asarray(getattr(data, name)(), dtype=np.uint8)
    return image


def bgr(rgb: Image) -> Image:
    return np.ascontiguousarray(rgb[..., ::-1])


def gray_to_bgr(gray: Image) -> Image:
    return np.ascontiguousarray(np.stack([gray, gray, gray], axis=-1))


def covers(box: npt.NDArray[np.float32], inner: tuple[float, float, float, float]) -> bool:
    x1, y1, x2, y2 = (float(v) for v in box)
    return x1 <= inner[0] and y1 <= inner[1] and x2 >= inner[2] and y2 >= inner[3]


# --- real photos shipped with scikit-image ---------------------------------------------------


def test_default_model_ships_with_the_package() -> None:
    assert DEFAULT_MODEL_PATH.is_file()
    assert DEFAULT_MODEL_PATH.name == "nanodet-g.onnx"


def test_astronaut_is_found_with_a_box_that_covers_her(detector: NanoDetDetector) -> None:
    image = bgr(photo("astronaut"))  # 512×512; she fills most of the left two thirds
    found = detector.detect(image)
    assert len(found) == 1
    assert found.scores[0] > 0.5
    assert covers(found.boxes[0], (60, 80, 300, 480))
    assert found.boxes.dtype == np.float32 and found.scores.dtype == np.float32


def test_cameraman_is_found(detector: NanoDetDetector) -> None:
    image = gray_to_bgr(photo("camera"))  # 512×512 grayscale, the cameraman on the left half
    found = detector.detect(image)
    assert len(found) >= 1
    best = int(np.argmax(found.scores))
    assert found.scores[best] > 0.5
    assert covers(found.boxes[best], (60, 120, 280, 480))


@pytest.mark.parametrize("name", ["coffee", "chelsea"])  # a cup of coffee; a cat
def test_person_free_photos_yield_nobody(detector: NanoDetDetector, name: str) -> None:
    image = bgr(photo(name))
    assert len(detector.detect(image)) == 0


@pytest.mark.parametrize(("height", "width"), [(1, 1), (5, 2000), (2000, 7), (416, 416)])
def test_any_image_size_gives_boxes_inside_it(
    detector: NanoDetDetector, height: int, width: int
) -> None:
    image = np.random.default_rng(1).integers(0, 256, (height, width, 3), dtype=np.uint8)
    found = detector.detect(image)
    assert found.boxes.shape == (len(found), 4)
    assert np.all(found.boxes[:, [0, 2]] >= 0) and np.all(found.boxes[:, [0, 2]] <= width)
    assert np.all(found.boxes[:, [1, 3]] >= 0) and np.all(found.boxes[:, [1, 3]] <= height)


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((10, 10), dtype=np.uint8),
        np.zeros((10, 10, 4), dtype=np.uint8),
        np.zeros((10, 10, 3), dtype=np.float32),
        np.zeros((0, 10, 3), dtype=np.uint8),
    ],
)
def test_detect_rejects_what_is_not_a_bgr_image(
    detector: NanoDetDetector, image: npt.NDArray[np.generic]
) -> None:
    with pytest.raises(ValueError):
        detector.detect(image)  # type: ignore[arg-type]


# --- real footage (shared/, skipped when absent) -----------------------------------------------


def footage_frame(index: int) -> Image:
    if not FOOTAGE.is_file():
        pytest.skip(f"shared footage not present: {FOOTAGE}")
    import av

    with av.open(str(FOOTAGE)) as container:
        frames: Iterator[av.VideoFrame] = container.decode(video=0)
        for number, frame in enumerate(frames):
            if number == index:
                return np.asarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8)
    raise AssertionError(f"{FOOTAGE} has fewer than {index + 1} frames")


def test_footage_person_at_the_table_is_found(detector: NanoDetDetector) -> None:
    found = detector.detect(footage_frame(100))  # 10 s in: someone reads at the table
    assert len(found) >= 1
    assert covers(found.boxes[int(np.argmax(found.scores))], (420, 60, 480, 350))


def test_footage_empty_room_has_nobody(detector: NanoDetDetector) -> None:
    assert len(detector.detect(footage_frame(10))) == 0  # 1 s in: the room is empty


# --- letterbox ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("height", "width", "scale", "pad"),
    [
        (416, 416, 1.0, (0, 0)),
        (512, 512, 416 / 512, (0, 0)),
        (432, 768, 416 / 768, (0, 91)),  # 768×432 → 416×234, 182 rows of padding split 91/91
        (300, 100, 416 / 300, (138, 0)),  # 100×300 → 139×416
        (100, 1000, 416 / 1000, (0, 187)),  # 1000×100 → 416×42
        (208, 208, 2.0, (0, 0)),  # upscaled
    ],
)
def test_letterbox_scale_and_padding(
    height: int, width: int, scale: float, pad: tuple[int, int]
) -> None:
    image = np.full((height, width, 3), 200, dtype=np.uint8)
    tensor, got_scale, got_pad = letterbox(image, INPUT_SIZE)
    assert tensor.shape == (1, 3, INPUT_SIZE, INPUT_SIZE)
    assert tensor.dtype == np.float32 and tensor.flags.c_contiguous
    assert got_scale == pytest.approx(scale)
    assert got_pad == pad
    left, top = pad
    zero = (-MEAN_BGR / STD_BGR).reshape(3)
    filled = (200 - MEAN_BGR) / STD_BGR
    if left:  # padding columns hold normalised zero pixels, the image normalised 200s
        np.testing.assert_allclose(tensor[0, :, 200, left - 1], zero, rtol=1e-6)
        np.testing.assert_allclose(tensor[0, :, 200, INPUT_SIZE - left], zero, rtol=1e-6)
    if top:
        np.testing.assert_allclose(tensor[0, :, top - 1, 200], zero, rtol=1e-6)
        np.testing.assert_allclose(tensor[0, :, INPUT_SIZE - top, 200], zero, rtol=1e-6)
    np.testing.assert_allclose(tensor[0, :, top, left], filled, rtol=1e-6)
    new_w, new_h = round(width * scale), round(height * scale)
    np.testing.assert_allclose(tensor[0, :, top + new_h - 1, left + new_w - 1], filled, rtol=1e-6)
    image_columns = np.flatnonzero(np.abs(tensor[0, 0, top] - zero[0]) > 1e-3)
    assert (image_columns[0], image_columns[-1] + 1) == (left, left + new_w)


def test_letterbox_keeps_bgr_channel_order() -> None:
    image = np.zeros((50, 50, 3), dtype=np.uint8)
    image[..., 0] = 255  # pure blue in BGR
    tensor, _, _ = letterbox(image, INPUT_SIZE)
    centre = tensor[0, :, 208, 208]
    np.testing.assert_allclose(centre, (np.array([255, 0, 0]) - MEAN_BGR) / STD_BGR, rtol=1e-6)


@pytest.mark.parametrize(
    ("height", "width", "square"),
    [(432, 768, (300, 100, 420, 260)), (300, 100, (20, 40, 80, 200)), (600, 600, (0, 0, 90, 30))],
)
def test_letterbox_inverse_maps_back_to_image_pixels(
    height: int, width: int, square: tuple[int, int, int, int]
) -> None:
    x1, y1, x2, y2 = square
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[y1:y2, x1:x2] = 255
    tensor, scale, (left, top) = letterbox(image, INPUT_SIZE)
    bright = tensor[0, 0] > 0.0  # blue channel above its mean
    rows = np.flatnonzero(bright.any(axis=1))
    cols = np.flatnonzero(bright.any(axis=0))
    back = (
        (cols[0] - left) / scale,
        (rows[0] - top) / scale,
        (cols[-1] + 1 - left) / scale,
        (rows[-1] + 1 - top) / scale,
    )
    np.testing.assert_allclose(back, square, atol=2 / scale + 1)


# --- decode_level ------------------------------------------------------------------------------


def one_hot_regression(cells: int, sides: tuple[int, int, int, int]) -> npt.NDArray[np.float32]:
    """Bin logits that put (almost) all weight on the given bin of each side."""
    regression = np.full((cells, 4, REG_BINS), -50.0, dtype=np.float32)
    for side, bin_index in enumerate(sides):
        regression[:, side, bin_index] = 50.0
    return regression.reshape(cells, 4 * REG_BINS)


@pytest.mark.parametrize(
    ("stride", "cell_xy", "sides", "box"),
    [
        (8, (0, 0), (0, 0, 0, 0), (4, 4, 4, 4)),
        (8, (3, 2), (1, 2, 3, 4), (28 - 8, 20 - 16, 28 + 24, 20 + 32)),
        (16, (25, 1), (10, 0, 10, 5), (408 - 160, 24, 408 + 160, 24 + 80)),
        (32, (12, 12), (2, 2, 2, 2), (400 - 64, 400 - 64, 400 + 64, 400 + 64)),
    ],
)
def test_decode_level_places_cells_and_sides(
    stride: int,
    cell_xy: tuple[int, int],
    sides: tuple[int, int, int, int],
    box: tuple[int, int, int, int],
) -> None:
    grid = INPUT_SIZE // stride
    scores = np.zeros(grid * grid, dtype=np.float32)
    index = cell_xy[1] * grid + cell_xy[0]
    scores[index] = 0.9
    boxes, kept = decode_level(scores, one_hot_regression(grid * grid, sides), stride, grid, 0.3)
    assert boxes.shape == (1, 4) and boxes.dtype == np.float32
    np.testing.assert_allclose(boxes[0], box, atol=1e-3)
    np.testing.assert_allclose(kept, [0.9])


def test_decode_level_spreads_distance_as_softmax_expectation() -> None:
    regression = np.zeros((1, 4 * REG_BINS), dtype=np.float32)  # uniform: mean bin is 5
    boxes, _ = decode_level(np.array([0.5], dtype=np.float32), regression, 8, 1, 0.3)
    np.testing.assert_allclose(boxes[0], (4 - 40, 4 - 40, 4 + 40, 4 + 40), atol=1e-4)


def test_decode_level_keeps_only_cells_at_or_above_threshold() -> None:
    scores = np.array([0.1, 0.3, 0.29, 0.95], dtype=np.float32)
    boxes, kept = decode_level(scores, one_hot_regression(4, (0, 0, 0, 0)), 8, 2, 0.3)
    np.testing.assert_allclose(kept, [0.3, 0.95])
    np.testing.assert_allclose(boxes[:, 0], [12.0, 12.0])  # cells (1, 0) and (1, 1)
    np.testing.assert_allclose(boxes[:, 1], [4.0, 12.0])
    empty_boxes, empty_scores = decode_level(scores, one_hot_regression(4, (0,) * 4), 8, 2, 0.99)
    assert empty_boxes.shape == (0, 4) and empty_scores.shape == (0,)


# --- nms ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("boxes", "scores", "iou", "keep"),
    [
        ([], [], 0.45, []),
        ([(0, 0, 10, 10)], [0.5], 0.45, [0]),
        ([(0, 0, 10, 10), (0, 0, 10, 10)], [0.4, 0.8], 0.45, [1]),  # duplicates: best wins
        ([(0, 0, 10, 10), (20, 20, 30, 30)], [0.4, 0.8], 0.45, [1, 0]),  # disjoint, best first
        ([(0, 0, 10, 10), (5, 0, 15, 10)], [0.9, 0.8], 0.45, [0, 1]),  # IoU 1/3 stays
        ([(0, 0, 10, 10), (5, 0, 15, 10)], [0.9, 0.8], 0.3, [0]),  # IoU 1/3 goes
        ([(0, 0, 10, 10), (2, 0, 12, 10)], [0.9, 0.8], 0.45, [0]),  # IoU 2/3 goes
        (  # a chain: b overlaps a and c; a suppresses b, so c survives
            [(0, 0, 10, 10), (4, 0, 14, 10), (8, 0, 18, 10)],
            [0.9, 0.8, 0.7],
            0.3,
            [0, 2],
        ),
        ([(0, 0, 0, 0), (0, 0, 0, 0)], [0.5, 0.6], 0.45, [1, 0]),  # degenerate: no overlap
    ],
)
def test_nms(
    boxes: list[tuple[float, float, float, float]],
    scores: list[float],
    iou: float,
    keep: list[int],
) -> None:
    got = nms(
        np.array(boxes, dtype=np.float32).reshape(-1, 4), np.array(scores, dtype=np.float32), iou
    )
    assert got.tolist() == keep


# --- Detections --------------------------------------------------------------------------------


def test_detections_helpers() -> None:
    found = Detections(
        np.array([(10, 20, 30, 60), (100, 0, 110, 5)], dtype=np.float32),
        np.array([0.9, 0.4], dtype=np.float32),
    )
    assert len(found) == 2
    np.testing.assert_allclose(found.bottom_centres(), [(20, 60), (105, 5)])
    assert found.bottom_centres().dtype == np.float32
    strong = found.filter(found.scores > 0.5)
    assert len(strong) == 1 and strong.scores.tolist() == pytest.approx([0.9])
    empty = Detections.empty()
    assert len(empty) == 0 and empty.bottom_centres().shape == (0, 2)


# --- model errors ------------------------------------------------------------------------------


def test_missing_model_file_is_a_model_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.onnx"
    with pytest.raises(ModelError, match=r"nowhere\.onnx.*no such file.*\[1, 3, 416, 416\]"):
        NanoDetDetector(missing)


def test_bogus_model_file_is_a_model_error(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.onnx"
    bogus.write_bytes(b"this is not an ONNX model\n" * 10)
    with pytest.raises(ModelError, match=r"bogus\.onnx.*not a loadable ONNX model.*expected"):
        NanoDetDetector(bogus)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes | int) -> bytes:
    """One protobuf field: a varint for an int, length-delimited for bytes."""
    if isinstance(payload, int):
        return _varint(number << 3) + _varint(payload)
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _value_info(name: str, shape: tuple[int, ...]) -> bytes:
    dims = b"".join(_field(1, _field(1, size)) for size in shape)
    tensor_type = _field(1, 1) + _field(2, dims)  # elem_type FLOAT, shape
    return _field(1, name.encode()) + _field(2, _field(1, tensor_type))


def identity_model(shape: tuple[int, ...]) -> bytes:
    """A minimal valid ONNX model (Identity, opset 13) from `x` to `y` of the given shape."""
    node = _field(1, b"x") + _field(2, b"y") + _field(3, b"id") + _field(4, b"Identity")
    graph = (
        _field(1, node)
        + _field(2, b"g")
        + _field(11, _value_info("x", shape))
        + _field(12, _value_info("y", shape))
    )
    return _field(1, 8) + _field(7, graph) + _field(8, _field(2, 13))


@pytest.mark.parametrize(
    ("shape", "complaint"),
    [
        ((1, 3, 416, 416), r"output y is tensor\(float\) \[1, 3, 416, 416\]"),
        ((1, 3, 320, 320), r"input x is tensor\(float\) \[1, 3, 320, 320\]"),
    ],
)
def test_unexpected_layout_is_a_model_error(
    tmp_path: Path, shape: tuple[int, ...], complaint: str
) -> None:
    model = tmp_path / "identity.onnx"
    model.write_bytes(identity_model(shape))
    with pytest.raises(ModelError, match=rf"identity\.onnx: {complaint}; expected one float32"):
        NanoDetDetector(model)


@pytest.mark.parametrize(
    "kwargs",
    [{"score_threshold": 0.0}, {"score_threshold": 1.0}, {"nms_iou": 0.0}, {"threads": 0}],
)
def test_bad_settings_are_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        NanoDetDetector(**kwargs)  # type: ignore[arg-type]
