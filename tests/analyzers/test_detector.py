"""Person detector: the embedded NanoDet-g model on real photos and footage, and its decoder."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from skimage import data

from analyzers.detections import Detections
from analyzers.detector import (
    DEFAULT_MODEL_PATH,
    DetectorSpec,
    ModelError,
    NanoDetDetector,
    build_detector,
)
from analyzers.nanodet import INPUT_SIZE, REG_BINS, STRIDES, decode_level
from tests.footage import footage
from tests.support.onnx_models import FakeOutput, constant_model, identity_model

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


def test_embedded_model_is_the_one_its_provenance_records() -> None:
    provenance = (DEFAULT_MODEL_PATH.parent / "PROVENANCE.md").read_text(encoding="utf-8")
    recorded = re.search(r"^\| sha256 \| `([0-9a-f]{64})` \|$", provenance, re.MULTILINE)
    assert recorded is not None
    digest = hashlib.sha256(DEFAULT_MODEL_PATH.read_bytes()).hexdigest()
    assert digest == recorded.group(1)


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


def footage_frames(*indices: int) -> list[Image]:
    path = footage("intel_one_by_one", "one-by-one-person-detection.mp4")
    import av

    wanted = set(indices)
    found: dict[int, Image] = {}
    with av.open(str(path)) as container:
        frames: Iterator[av.VideoFrame] = container.decode(video=0)
        for number, frame in enumerate(frames):
            if number in wanted:
                found[number] = np.asarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8)
            if len(found) == len(wanted):
                return [found[index] for index in indices]
    raise AssertionError(f"{path} has fewer than {max(indices) + 1} frames")


def footage_frame(index: int) -> Image:
    return footage_frames(index)[0]


def test_footage_person_at_the_table_is_found(detector: NanoDetDetector) -> None:
    found = detector.detect(footage_frame(100))  # 10 s in: someone reads at the table
    assert len(found) >= 1
    assert covers(found.boxes[int(np.argmax(found.scores))], (420, 60, 480, 350))


def test_footage_empty_room_has_nobody(detector: NanoDetDetector) -> None:
    assert len(detector.detect(footage_frame(10))) == 0  # 1 s in: the room is empty


def test_footage_batch_matches_frame_by_frame(detector: NanoDetDetector) -> None:
    frames = footage_frames(10, 100, 150, 300, 450)
    batched = detector.detect_batch(frames)
    assert [len(found) for found in batched][:2] == [0, 1]
    for frame, found in zip(frames, batched, strict=True):
        alone = detector.detect(frame)
        assert len(alone) == len(found)
        np.testing.assert_allclose(found.boxes, alone.boxes, atol=0.05)
        np.testing.assert_allclose(found.scores, alone.scores, atol=1e-4)


# --- batches -----------------------------------------------------------------------------------


def test_embedded_model_has_a_dynamic_batch(detector: NanoDetDetector) -> None:
    assert detector.max_batch is None
    assert detector.input_size == (INPUT_SIZE, INPUT_SIZE)
    assert detector.name == "nanodet:nanodet-g.onnx"


def test_batch_of_photos_of_different_sizes_matches_one_by_one(detector: NanoDetDetector) -> None:
    images = [
        bgr(photo("astronaut")),
        gray_to_bgr(photo("camera")),
        bgr(photo("coffee")),  # 400×600, nobody
        np.ascontiguousarray(bgr(photo("astronaut"))[:, :300]),  # a crop: her left part
    ]
    batched = detector.detect_batch(images)
    assert [len(found) for found in batched] == [1, 1, 0, 1]
    for image, found in zip(images, batched, strict=True):
        alone = detector.detect(image)
        np.testing.assert_allclose(found.boxes, alone.boxes, atol=0.05)
        np.testing.assert_allclose(found.scores, alone.scores, atol=1e-4)
    assert detector.detect_batch([]) == []


def test_registry_builds_the_embedded_model_by_default() -> None:
    built = build_detector(DetectorSpec())
    assert built.name == "nanodet:nanodet-g.onnx" and built.max_batch is None
    found = built.detect(bgr(photo("astronaut")))
    assert len(found) == 1 and found.scores[0] > 0.5


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
    with pytest.raises(
        ModelError, match=r"nowhere\.onnx: no such file; expected .*\[1 or batch, 3, 416, 416\]"
    ):
        NanoDetDetector(missing)


def test_bogus_model_file_is_a_model_error(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.onnx"
    bogus.write_bytes(b"this is not an ONNX model\n" * 10)
    with pytest.raises(ModelError, match=r"bogus\.onnx: not a loadable ONNX model.*; expected"):
        NanoDetDetector(bogus)


@pytest.mark.parametrize(
    ("shape", "complaint"),
    [
        ((1, 3, 416, 416), r"output y is float32 \[1, 3, 416, 416\]"),
        ((1, 1, 416, 416), r"input x is tensor\(float\) \[1, 1, 416, 416\]"),
        ((1, 3, 416), r"input x is tensor\(float\) \[1, 3, 416\]"),
    ],
)
def test_unexpected_layout_is_a_model_error(
    tmp_path: Path, shape: tuple[int, ...], complaint: str
) -> None:
    model = identity_model(tmp_path / "identity.onnx", shape)
    with pytest.raises(ModelError, match=rf"identity\.onnx: {complaint}; expected one float32"):
        NanoDetDetector(model)


def nanodet_outputs(size: int, classes: int = 80) -> list[FakeOutput]:
    """Score and box outputs of a NanoDet for a size×size input, all zero."""
    outputs: list[FakeOutput] = []
    for stride in STRIDES:
        cells = (size // stride) ** 2
        outputs.append(FakeOutput(f"scores{stride}", np.zeros((cells, classes), np.float32)))
        outputs.append(FakeOutput(f"boxes{stride}", np.zeros((cells, 4 * REG_BINS), np.float32)))
    return outputs


def test_outputs_for_another_input_size_are_a_model_error(tmp_path: Path) -> None:
    model = constant_model(tmp_path / "m.onnx", (1, 3, 320, 320), nanodet_outputs(416))
    with pytest.raises(
        ModelError,
        match=r"m\.onnx: no score and box outputs for stride 8 among scores8 \[2704, 80\], .*"
        r"\(80 classes: the default COCO labels\); expected one float32 input "
        r"\[1 or batch, 3, 320, 320\]",
    ):
        NanoDetDetector(model)


def test_nanodet_of_another_size_and_labels_is_read(tmp_path: Path) -> None:
    """A 320 NanoDet with two classes: its grids follow its input, its person is label 1."""
    outputs = nanodet_outputs(320, classes=2)
    scores = outputs[0].values.copy()  # stride 8, 40×40 cells
    scores[5 * 40 + 7] = (0.9, 0.6)  # cell (7, 5): "cat" 0.9, "person" 0.6
    regression = np.full((1600, 4, REG_BINS), -50.0, dtype=np.float32)
    regression[:, :, 2] = 50.0  # every side 2 strides away
    outputs[0] = FakeOutput("scores8", scores)
    outputs[1] = FakeOutput("boxes8", regression.reshape(1600, 4 * REG_BINS))
    model = constant_model(tmp_path / "small.onnx", ("batch", 3, 320, 320), outputs)
    spec = DetectorSpec("nanodet", model, labels=("cat", "person"), score_threshold=0.5)
    detector = build_detector(spec)
    assert detector.input_size == (320, 320) and detector.max_batch is None
    found = detector.detect(np.zeros((320, 320, 3), dtype=np.uint8))
    centre = (7.5 * 8, 5.5 * 8)
    np.testing.assert_allclose(
        found.boxes, [(centre[0] - 16, centre[1] - 16, centre[0] + 16, centre[1] + 16)], atol=1e-3
    )
    np.testing.assert_allclose(found.scores, [0.6], atol=1e-6)


def test_requested_size_must_match_a_fixed_input(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"input_size 320 asked of a model whose input is 416×416"):
        build_detector(DetectorSpec("nanodet", DEFAULT_MODEL_PATH, input_size=320))


@pytest.mark.parametrize(
    "kwargs",
    [{"score_threshold": 0.0}, {"score_threshold": 1.0}, {"nms_iou": 0.0}, {"threads": 0}],
)
def test_bad_settings_are_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        NanoDetDetector(**kwargs)  # type: ignore[arg-type]
