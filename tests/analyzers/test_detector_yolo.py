"""YOLO (Ultralytics ONNX layout) decoding, end to end through tiny synthetic ONNX models."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from onnx import TensorProto

from analyzers.detector_spec import DetectorSpec
from analyzers.letterbox import letterbox_batch
from analyzers.onnx_session import ModelError
from analyzers.registry import build_detector
from analyzers.yolo import Yolo, attributes_last
from tests.support.onnx_models import Dim, FakeOutput, constant_model, yolo_values

PERSON, CAR = 0, 2
# (cx, cy, w, h, class, score) in 640×640 input pixels
CANDIDATES = [
    (320, 320, 100, 200, PERSON, 0.9),
    (322, 321, 100, 200, PERSON, 0.7),  # nearly the same box: suppressed
    (500, 500, 50, 50, CAR, 0.95),  # not a person
    (600, 600, 20, 20, PERSON, 0.2),  # below the threshold
    (100, 200, 40, 80, PERSON, 0.5),
]
# what they become in a 1280×720 frame (scale 0.5, 140 rows of padding on top), best first
EXPECTED_BOXES = [(540, 160, 740, 560), (160, 40, 240, 200)]
EXPECTED_SCORES = [0.9, 0.5]

Image = npt.NDArray[np.uint8]


def frame(width: int = 1280, height: int = 720, value: int = 0) -> Image:
    return np.full((height, width, 3), value, dtype=np.uint8)


def yolo_model(
    path: Path,
    values: npt.NDArray[np.float32],
    input_shape: Sequence[Dim] = (1, 3, 640, 640),
    **kwargs: object,
) -> Path:
    return constant_model(path, input_shape, [FakeOutput("output0", values)], **kwargs)  # type: ignore[arg-type]


def build(path: Path, **settings: object) -> Yolo:
    detector = build_detector(DetectorSpec("yolo", path, **settings))  # type: ignore[arg-type]
    assert isinstance(detector, Yolo)
    return detector


def test_person_boxes_are_decoded_suppressed_and_mapped_to_the_image(tmp_path: Path) -> None:
    detector = build(yolo_model(tmp_path / "yolo.onnx", yolo_values(CANDIDATES)))
    assert detector.name == "yolo:yolo.onnx"
    assert detector.input_size == (640, 640) and detector.max_batch == 1
    found = detector.detect(frame())
    np.testing.assert_allclose(found.boxes, EXPECTED_BOXES, atol=1e-3)
    np.testing.assert_allclose(found.scores, EXPECTED_SCORES, atol=1e-6)


def test_transposed_output_layout_reads_the_same(tmp_path: Path) -> None:
    values = np.ascontiguousarray(yolo_values(CANDIDATES).T)  # [N, 4 + C]
    found = build(yolo_model(tmp_path / "t.onnx", values)).detect(frame())
    np.testing.assert_allclose(found.boxes, EXPECTED_BOXES, atol=1e-3)
    np.testing.assert_allclose(found.scores, EXPECTED_SCORES, atol=1e-6)


def test_threshold_and_nms_follow_the_settings(tmp_path: Path) -> None:
    model = yolo_model(tmp_path / "yolo.onnx", yolo_values(CANDIDATES))
    assert len(build(model, score_threshold=0.1).detect(frame())) == 3  # the 0.2 one too
    assert len(build(model, score_threshold=0.6).detect(frame())) == 1
    assert len(build(model, nms_iou=0.99).detect(frame())) == 3  # near-duplicates stay


def test_other_class_is_kept_when_it_is_the_person_label(tmp_path: Path) -> None:
    model = yolo_model(tmp_path / "yolo.onnx", yolo_values(CANDIDATES))
    labels = ("human", "bicycle", "car", *(f"c{index}" for index in range(77)))
    found = build(model, labels=labels, person_label="car").detect(frame())
    np.testing.assert_allclose(found.boxes, [(950, 670, 1050, 720)], atol=1e-3)  # clipped at 720
    np.testing.assert_allclose(found.scores, [0.95])


def test_labels_recorded_in_the_model_file_are_used(tmp_path: Path) -> None:
    values = yolo_values([(320, 320, 100, 200, 1, 0.8), (100, 100, 10, 10, 0, 0.9)], classes=2)
    names = {"names": "{0: 'car', 1: 'person'}", "task": "detect"}
    model = yolo_model(tmp_path / "two.onnx", values, metadata=names)
    found = build(model).detect(frame())
    assert build(model).labels == ("car", "person")
    np.testing.assert_allclose(found.boxes, [EXPECTED_BOXES[0]], atol=1e-3)
    with pytest.raises(
        ModelError, match=r"two\.onnx: person_label 'human' is not one of the labels"
    ):
        build(model, person_label="human")


def test_pixels_reach_the_network_as_rgb_in_0_to_1_with_grey_padding(tmp_path: Path) -> None:
    detector = build(yolo_model(tmp_path / "yolo.onnx", yolo_values(CANDIDATES)))
    blue = frame(640, 320)
    blue[..., 0] = 255
    canvas, _ = letterbox_batch([blue], detector.input_size, detector.style)
    tensor = detector.tensor(canvas)
    assert tensor.shape == (1, 3, 640, 640) and tensor.dtype == np.float32
    np.testing.assert_allclose(tensor[0, :, 320, 320], [0.0, 0.0, 1.0])  # blue last in RGB
    np.testing.assert_allclose(tensor[0, :, 0, 0], [114 / 255] * 3, rtol=1e-6)  # pad rows


def test_dynamic_batch_runs_one_inference_and_reads_each_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = yolo_values([(320, 320, 100, 200, PERSON, 0.0)])
    gain = np.zeros_like(values)
    gain[4 + PERSON, 0] = 0.8  # score = 0.8 × mean input value: 0.8 on white, 0 on black
    model = constant_model(
        tmp_path / "dyn.onnx", ("batch", 3, 640, 640), [FakeOutput("output0", values, gain)]
    )
    detector = build(model)
    assert detector.max_batch is None
    calls: list[int] = []
    infer = detector._infer

    def counting(canvas: Image) -> list[npt.NDArray[np.float32]]:
        calls.append(len(canvas))
        return infer(canvas)

    monkeypatch.setattr(detector, "_infer", counting)
    white, black = frame(640, 640, 255), frame(640, 640, 0)
    found = detector.detect_batch([white, black, white])
    assert calls == [3]
    assert [len(one) for one in found] == [1, 0, 1]
    np.testing.assert_allclose(found[2].scores, [0.8], atol=1e-5)
    np.testing.assert_allclose(found[0].boxes, [(270, 220, 370, 420)], atol=1e-3)


def test_fixed_batch_of_two_runs_in_padded_pairs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = yolo_values([(320, 320, 100, 200, PERSON, 0.0)])
    gain = np.zeros_like(values)
    gain[4 + PERSON, 0] = 0.8
    model = constant_model(
        tmp_path / "two.onnx", (2, 3, 640, 640), [FakeOutput("output0", values, gain)]
    )
    detector = build(model)
    assert detector.max_batch == 2
    calls: list[int] = []
    infer = detector._infer

    def counting(canvas: Image) -> list[npt.NDArray[np.float32]]:
        calls.append(len(canvas))
        return infer(canvas)

    monkeypatch.setattr(detector, "_infer", counting)
    white, black = frame(640, 640, 255), frame(640, 640, 0)
    found = detector.detect_batch([black, white, white])
    assert calls == [2, 2]
    assert [len(one) for one in found] == [0, 1, 1]


@pytest.mark.parametrize(("requested", "size"), [(None, 640), (320, 320), (1024, 1024)])
def test_dynamic_input_size_comes_from_the_settings(
    tmp_path: Path, requested: int | None, size: int
) -> None:
    values = yolo_values([(size / 2, size / 2, size / 4, size / 2, PERSON, 0.9)])
    model = yolo_model(tmp_path / "hw.onnx", values, input_shape=("batch", 3, "height", "width"))
    detector = build(model, input_size=requested)
    assert detector.input_size == (size, size)
    found = detector.detect(frame(1280, 1280))  # square: the box scales by 1280 / size
    np.testing.assert_allclose(found.boxes, [(480, 320, 800, 960)], atol=1e-2)


@pytest.mark.parametrize(
    ("shape", "classes", "last"),
    [
        ((84, 8400), 80, False),
        ((8400, 84), 80, True),
        ((5, 2100), 1, False),
        ((2100, 5), 1, True),
        ((84, 84), 80, False),  # ambiguous: the Ultralytics layout
    ],
)
def test_attributes_last(shape: tuple[int, int], classes: int, last: bool) -> None:
    assert attributes_last(shape, classes) is last


def test_attributes_last_rejects_other_widths() -> None:
    with pytest.raises(ValueError, match="neither axis is 84 = 4 box values \\+ 80 class scores"):
        attributes_last((85, 8400), 80)


# --- wrong models -------------------------------------------------------------------------------


def test_yolov5_style_output_is_a_model_error(tmp_path: Path) -> None:
    model = yolo_model(tmp_path / "v5.onnx", np.zeros((85, 100), dtype=np.float32))
    with pytest.raises(
        ModelError,
        match=r"v5\.onnx: output output0 is \[batch, 85, 100\]: neither axis is 84 = 4 box "
        r"values \+ 80 class scores \(the default COCO labels\); expected one float32 input "
        r"\[batch, 3, 640, 640\] \(RGB, 0\.\.1\) and one float32 output \[batch, 4 \+ 80, N\]",
    ):
        build(model)


def test_labels_that_do_not_match_the_model_are_a_model_error(tmp_path: Path) -> None:
    model = yolo_model(tmp_path / "yolo.onnx", yolo_values(CANDIDATES))
    with pytest.raises(ModelError, match=r"neither axis is 6 .*\(labels from the settings\)"):
        build(model, labels=("person", "car"))


def test_two_outputs_are_a_model_error(tmp_path: Path) -> None:
    outputs = [
        FakeOutput("output0", yolo_values(CANDIDATES)),
        FakeOutput("output1", np.zeros((32, 10), dtype=np.float32)),  # a segmentation export
    ]
    model = constant_model(tmp_path / "seg.onnx", (1, 3, 640, 640), outputs)
    with pytest.raises(ModelError, match=r"seg\.onnx: 2 outputs \(output0, output1\); expected"):
        build(model)


def test_half_precision_output_is_a_model_error(tmp_path: Path) -> None:
    model = yolo_model(
        tmp_path / "half.onnx", yolo_values(CANDIDATES), output_type=TensorProto.FLOAT16
    )
    with pytest.raises(ModelError, match=r"half\.onnx: output output0 is float16 \[1, 84, 100\]"):
        build(model)


def test_integer_input_is_a_model_error(tmp_path: Path) -> None:
    model = yolo_model(tmp_path / "u8.onnx", yolo_values(CANDIDATES), input_type=TensorProto.UINT8)
    with pytest.raises(ModelError, match=r"u8\.onnx: input images is tensor\(uint8\)"):
        build(model)


def test_yolo_needs_a_model_path() -> None:
    with pytest.raises(ValueError, match="detector type 'yolo' needs a model_path"):
        build_detector(DetectorSpec("yolo"))
