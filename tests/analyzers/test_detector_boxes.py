"""Shared detector arithmetic: letterbox placement and its inverse, tensors, NMS, batching."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from analyzers.letterbox import LetterboxStyle, Placement, letterbox_batch, nchw, place
from analyzers.nanodet import INPUT_SIZE, MEAN_BGR, STD_BGR
from analyzers.onnx_detector import batches, parse_names
from analyzers.postprocess import cxcywh_to_xyxy, finish, nms

CENTRED_ZERO = LetterboxStyle(centred=True, pad_value=0)
TOP_LEFT_GREY = LetterboxStyle(centred=False, pad_value=114)
SQUARE = (INPUT_SIZE, INPUT_SIZE)

# --- placement ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "height", "size", "centred", "scale", "new", "pad"),
    [
        (416, 416, SQUARE, True, 1.0, (416, 416), (0, 0)),
        (512, 512, SQUARE, True, 416 / 512, (416, 416), (0, 0)),
        (768, 432, SQUARE, True, 416 / 768, (416, 234), (0, 91)),  # 182 rows split 91/91
        (100, 300, SQUARE, True, 416 / 300, (139, 416), (138, 0)),
        (1000, 100, SQUARE, True, 416 / 1000, (416, 42), (0, 187)),
        (208, 208, SQUARE, True, 2.0, (416, 416), (0, 0)),  # upscaled
        (1, 1, SQUARE, True, 416.0, (416, 416), (0, 0)),
        (2000, 5, SQUARE, True, 416 / 2000, (416, 1), (0, 207)),  # never below one pixel
        (1920, 1080, (640, 640), True, 1 / 3, (640, 360), (0, 140)),
        (1920, 1080, (640, 640), False, 1 / 3, (640, 360), (0, 0)),  # YOLOX: top-left
        (640, 480, (640, 384), True, 0.8, (512, 384), (64, 0)),  # a non-square input
    ],
)
def test_place(
    width: int,
    height: int,
    size: tuple[int, int],
    centred: bool,
    scale: float,
    new: tuple[int, int],
    pad: tuple[int, int],
) -> None:
    placement = place(width, height, size, centred)
    assert placement.scale == pytest.approx(scale)
    assert (placement.new_width, placement.new_height) == new
    assert (placement.left, placement.top) == pad
    assert (placement.width, placement.height) == (width, height)


@pytest.mark.parametrize(("width", "height"), [(0, 10), (10, 0)])
def test_place_rejects_empty_images(width: int, height: int) -> None:
    with pytest.raises(ValueError, match="empty image"):
        place(width, height, SQUARE, True)


@given(
    width=st.integers(1, 4000),
    height=st.integers(1, 4000),
    net=st.sampled_from([(416, 416), (640, 640), (320, 256)]),
    centred=st.booleans(),
    corners=st.tuples(*[st.floats(0.0, 1.0)] * 4),
)
def test_placement_inverse_undoes_the_forward_map(
    width: int,
    height: int,
    net: tuple[int, int],
    centred: bool,
    corners: tuple[float, float, float, float],
) -> None:
    placement = place(width, height, net, centred)
    box = np.array(
        [[corners[0] * width, corners[1] * height, corners[2] * width, corners[3] * height]],
        dtype=np.float32,
    )
    offset = np.array([placement.left, placement.top] * 2, dtype=np.float32)
    forward = box * np.float32(placement.scale) + offset
    back = placement.to_image(forward)
    np.testing.assert_allclose(back, box, rtol=1e-4, atol=1e-3 * max(width, height))


def test_to_image_clips_to_the_image() -> None:
    placement = Placement(
        scale=0.5, left=0, top=10, new_width=50, new_height=25, width=100, height=50
    )
    back = placement.to_image(np.array([[-20, 0, 60, 40]], dtype=np.float32))
    np.testing.assert_allclose(back, [[0, 0, 100, 50]])
    assert back.dtype == np.float32


# --- letterboxed canvas and tensors -------------------------------------------------------------


@pytest.mark.parametrize("style", [CENTRED_ZERO, TOP_LEFT_GREY])
@pytest.mark.parametrize(("width", "height"), [(768, 432), (100, 300), (416, 416), (208, 100)])
def test_letterbox_batch_fills_the_image_and_pads_around_it(
    style: LetterboxStyle, width: int, height: int
) -> None:
    image = np.full((height, width, 3), 200, dtype=np.uint8)
    canvas, (placement,) = letterbox_batch([image], SQUARE, style)
    assert canvas.shape == (1, INPUT_SIZE, INPUT_SIZE, 3) and canvas.dtype == np.uint8
    inside = np.zeros((INPUT_SIZE, INPUT_SIZE), dtype=bool)
    inside[
        placement.top : placement.top + placement.new_height,
        placement.left : placement.left + placement.new_width,
    ] = True
    assert np.all(canvas[0][inside] == 200)
    assert np.all(canvas[0][~inside] == style.pad_value)


def test_letterbox_batch_pads_missing_rows_and_keeps_channels() -> None:
    blue = np.zeros((50, 80, 3), dtype=np.uint8)
    blue[..., 0] = 255
    canvas, placements = letterbox_batch([blue], (64, 64), TOP_LEFT_GREY, batch=3)
    assert canvas.shape == (3, 64, 64, 3) and len(placements) == 1
    assert canvas[0, 0, 0].tolist() == [255, 0, 0]
    assert np.all(canvas[1:] == 114)
    with pytest.raises(ValueError, match="2 images do not fit a batch of 1"):
        letterbox_batch([blue, blue], (64, 64), TOP_LEFT_GREY, batch=1)


@pytest.mark.parametrize("style", [CENTRED_ZERO, TOP_LEFT_GREY])
@pytest.mark.parametrize(
    ("height", "width", "square"),
    [(432, 768, (300, 100, 420, 260)), (300, 100, (20, 40, 80, 200)), (600, 600, (0, 0, 90, 30))],
)
def test_bright_square_maps_back_to_its_image_pixels(
    style: LetterboxStyle, height: int, width: int, square: tuple[int, int, int, int]
) -> None:
    x1, y1, x2, y2 = square
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[y1:y2, x1:x2] = 255
    canvas, (placement,) = letterbox_batch([image], SQUARE, style)
    bright = canvas[0, :, :, 0] > 127
    rows = np.flatnonzero(bright.any(axis=1))
    cols = np.flatnonzero(bright.any(axis=0))
    found = np.array([[cols[0], rows[0], cols[-1] + 1, rows[-1] + 1]], dtype=np.float32)
    back = placement.to_image(found)[0]
    np.testing.assert_allclose(back, square, atol=2 / placement.scale + 1)


def test_nchw_normalises_per_channel_in_bgr_or_rgb() -> None:
    canvas = np.zeros((2, 4, 5, 3), dtype=np.uint8)
    canvas[..., 0] = 255  # pure blue in BGR
    tensor = nchw(canvas, rgb=False, mean=MEAN_BGR, std=STD_BGR)
    assert tensor.shape == (2, 3, 4, 5) and tensor.dtype == np.float32
    assert tensor.flags.c_contiguous
    expected = (np.array([255, 0, 0]) - MEAN_BGR) / STD_BGR
    np.testing.assert_allclose(tensor[1, :, 3, 4], expected, rtol=1e-6)
    unit = nchw(canvas, rgb=True, mean=np.zeros(3, np.float32), std=np.full(3, 255, np.float32))
    np.testing.assert_allclose(unit[0, :, 0, 0], [0.0, 0.0, 1.0])  # blue is last in RGB


# --- candidates to detections -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cxcywh", "xyxy"),
    [
        ((10, 20, 4, 6), (8, 17, 12, 23)),
        ((0, 0, 0, 0), (0, 0, 0, 0)),
        ((320.5, 100, 101, 1), (270, 99.5, 371, 100.5)),
    ],
)
def test_cxcywh_to_xyxy(
    cxcywh: tuple[float, float, float, float], xyxy: tuple[float, float, float, float]
) -> None:
    got = cxcywh_to_xyxy(np.array([cxcywh], dtype=np.float32))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, [xyxy])


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


def iou_matrix(boxes: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    b = boxes.astype(np.float64)
    inter_w = np.clip(
        np.minimum(b[:, None, 2], b[None, :, 2]) - np.maximum(b[:, None, 0], b[None, :, 0]), 0, None
    )
    inter_h = np.clip(
        np.minimum(b[:, None, 3], b[None, :, 3]) - np.maximum(b[:, None, 1], b[None, :, 1]), 0, None
    )
    inter = inter_w * inter_h
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area[:, None] + area[None, :] - inter
    overlap: npt.NDArray[np.float64] = np.divide(
        inter, union, out=np.zeros_like(inter), where=union > 0
    )
    return overlap


@given(
    st.lists(
        st.tuples(st.integers(0, 50), st.integers(0, 50), st.integers(1, 30), st.integers(1, 30)),
        max_size=25,
    ),
    st.floats(0.05, 1.0),
)
def test_nms_keeps_a_best_first_set_without_heavy_overlaps(
    rects: list[tuple[int, int, int, int]], iou: float
) -> None:
    boxes = np.array([(x, y, x + w, y + h) for x, y, w, h in rects], dtype=np.float32)
    boxes = boxes.reshape(-1, 4)
    scores = np.linspace(0.9, 0.1, len(rects), dtype=np.float32)[::-1].copy()
    keep = nms(boxes, scores, iou)
    assert len(set(keep.tolist())) == len(keep)
    assert np.all(np.diff(scores[keep]) <= 0)
    overlaps = iou_matrix(boxes[keep])
    np.fill_diagonal(overlaps, 0.0)
    assert np.all(overlaps <= iou + 1e-9)
    dropped = np.setdiff1d(np.arange(len(rects)), keep)
    for index in dropped:  # every dropped box overlaps a better kept one
        better = keep[scores[keep] >= scores[index]]
        assert np.any(iou_matrix(np.concatenate([boxes[[index]], boxes[better]]))[0, 1:] > iou)


def test_finish_suppresses_and_maps_to_image_pixels() -> None:
    placement = place(1280, 720, (640, 640), centred=True)  # scale 0.5, 140 rows on top
    boxes = np.array([(270, 220, 370, 420), (272, 222, 370, 420), (0, 140, 10, 150)], np.float32)
    scores = np.array([0.6, 0.9, 0.5], dtype=np.float32)
    found = finish(boxes, scores, placement, iou=0.45)
    np.testing.assert_allclose(found.boxes, [(544, 164, 740, 560), (0, 0, 20, 20)])
    np.testing.assert_allclose(found.scores, [0.9, 0.5])
    assert len(finish(boxes[:0], scores[:0], placement, 0.45)) == 0


# --- batching and model metadata ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "max_batch", "expected"),
    [
        (0, None, []),
        (0, 1, []),
        (3, None, [range(0, 3)]),
        (3, 1, [range(0, 1), range(1, 2), range(2, 3)]),
        (5, 2, [range(0, 2), range(2, 4), range(4, 5)]),
        (4, 4, [range(0, 4)]),
    ],
)
def test_batches(count: int, max_batch: int | None, expected: list[range]) -> None:
    assert batches(count, max_batch) == expected


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("{0: 'person', 1: 'bicycle'}", ("person", "bicycle")),
        ("{1: 'b', 0: 'a'}", ("a", "b")),
        ("{0: 'person', 2: 'car'}", None),  # a gap
        ("['person']", None),
        ("{0: 1}", None),
        ("not python", None),
        ("__import__('os')", None),
    ],
)
def test_parse_names(text: str, names: tuple[str, ...] | None) -> None:
    assert parse_names(text) == names
