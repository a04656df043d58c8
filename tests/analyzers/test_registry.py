"""The detector registry: specs, their checks, execution providers and input sizes."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort
import pytest

from analyzers.detector import DEFAULT_MODEL_PATH, NanoDetDetector
from analyzers.detector_spec import COCO_LABELS, DetectorSpec
from analyzers.onnx_session import ModelError, network_size, providers_problem
from analyzers.registry import DETECTORS, build_detector


def test_registry_lists_the_three_model_families() -> None:
    assert sorted(DETECTORS) == ["nanodet", "yolo", "yolox"]


def test_default_spec_is_the_embedded_nanodet_on_one_cpu_thread() -> None:
    spec = DetectorSpec()
    assert (spec.type, spec.model_path, spec.input_size) == ("nanodet", None, None)
    assert (spec.labels, spec.person_label) == (None, "person")
    assert (spec.score_threshold, spec.nms_iou) == (0.3, 0.45)
    assert (spec.providers, spec.threads) == (("CPUExecutionProvider",), 1)


def test_coco_labels_are_the_80_classes_with_person_first() -> None:
    assert len(COCO_LABELS) == len(set(COCO_LABELS)) == 80
    assert COCO_LABELS[0] == "person" and COCO_LABELS[-1] == "toothbrush"


def test_unknown_type_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown type 'ssd' \(known: nanodet, yolo, yolox\)"):
        build_detector(DetectorSpec("ssd"))


@pytest.mark.parametrize(
    ("settings", "complaint"),
    [
        ({"score_threshold": 0.0}, "score_threshold must be between 0 and 1, got 0.0"),
        ({"score_threshold": 1.0}, "score_threshold must be between 0 and 1"),
        ({"nms_iou": 0.0}, "nms_iou must be above 0 and at most 1, got 0.0"),
        ({"nms_iou": 1.5}, "nms_iou must be above 0 and at most 1"),
        ({"threads": 0}, "threads must be at least 1, got 0"),
        ({"providers": ()}, "providers must name at least one"),
        ({"input_size": 0}, "input_size must be a positive multiple of 32, got 0"),
        ({"input_size": 100}, "input_size must be a positive multiple of 32, got 100"),
        ({"labels": ()}, "labels must name at least one class"),
        ({"labels": ("person", "car", "car")}, "labels must be unique, repeated: car"),
        (
            {"labels": ("car", "bus")},
            r"person_label 'person' is not one of the labels \(2 classes\)",
        ),
        ({"person_label": "human", "labels": COCO_LABELS}, "person_label 'human' is not one of"),
    ],
)
def test_spec_rejects_settings_that_make_no_sense(
    settings: dict[str, object], complaint: str
) -> None:
    with pytest.raises(ValueError, match=rf"^detector settings: {complaint}"):
        DetectorSpec(**settings)  # type: ignore[arg-type]


def test_unknown_person_label_with_default_labels_is_a_model_error() -> None:
    with pytest.raises(
        ModelError,
        match=r"nanodet-g\.onnx: person_label 'human' is not one of the labels \(80 classes\) "
        r"\(the default COCO labels\)",
    ):
        build_detector(DetectorSpec(person_label="human"))


# --- execution providers and threads --------------------------------------------------------------


@pytest.mark.parametrize(
    ("requested", "available", "problem"),
    [
        (("CPUExecutionProvider",), ("CPUExecutionProvider",), None),
        (
            ("CUDAExecutionProvider", "CPUExecutionProvider"),
            ("CUDAExecutionProvider", "CPUExecutionProvider"),
            None,
        ),
        (
            ("CUDAExecutionProvider", "CPUExecutionProvider"),
            ("AzureExecutionProvider", "CPUExecutionProvider"),
            "execution provider CUDAExecutionProvider not available (requested "
            "CUDAExecutionProvider, CPUExecutionProvider; this onnxruntime has "
            "AzureExecutionProvider, CPUExecutionProvider)",
        ),
    ],
)
def test_providers_problem(
    requested: tuple[str, ...], available: tuple[str, ...], problem: str | None
) -> None:
    assert providers_problem(requested, available) == problem


def test_unavailable_provider_is_a_model_error_naming_what_is_there() -> None:
    available = ", ".join(ort.get_available_providers())
    with pytest.raises(ModelError) as raised:
        build_detector(DetectorSpec(providers=("NoSuchExecutionProvider",)))
    message = str(raised.value)
    assert "nanodet-g.onnx" in message
    assert "execution provider NoSuchExecutionProvider not available" in message
    assert f"this onnxruntime has {available})" in message


def test_threads_set_the_intra_op_threads() -> None:
    detector = NanoDetDetector(threads=2, score_threshold=0.5)
    options = detector._session.get_session_options()
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (2, 1)
    assert detector.spec.score_threshold == 0.5
    assert detector._session.get_providers() == ["CPUExecutionProvider"]


# --- input sizes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("height", "width", "requested", "size"),
    [
        (416, 416, None, (416, 416)),
        (416, 416, 416, (416, 416)),
        (384, 640, None, (640, 384)),
        ("height", "width", None, (640, 640)),
        ("height", "width", 320, (320, 320)),
        (None, None, 256, (256, 256)),
        (480, "width", None, (640, 480)),  # half fixed: the free side takes the square
    ],
)
def test_network_size(
    height: int | str | None, width: int | str | None, requested: int | None, size: tuple[int, int]
) -> None:
    assert network_size(height, width, requested, 640) == size


def test_network_size_refuses_to_contradict_a_fixed_input() -> None:
    with pytest.raises(ValueError, match=r"input_size 320 asked of a model whose input is 640×384"):
        network_size(384, 640, 320, 640)


def test_embedded_model_path_is_used_when_none_is_given(tmp_path: Path) -> None:
    assert build_detector(DetectorSpec()).name == f"nanodet:{DEFAULT_MODEL_PATH.name}"
    with pytest.raises(ModelError, match=r"elsewhere\.onnx: no such file"):
        build_detector(DetectorSpec(model_path=tmp_path / "elsewhere.onnx"))
