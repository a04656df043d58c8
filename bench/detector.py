"""Bench: what one person-detector inference costs, per model, image size, threads and batch.

For each model it can load (the embedded NanoDet-g always; a YOLO or YOLOX export only when
given with --yolo / --yolox, none ships) and each thread count, it measures in one run:

  frame      detect() on a 1920×1080 frame (letterbox into the network input + inference +
             decoding), and the letterbox alone (resize, pad, tensor), per image
  crop       the same on a 640×480 crop of that frame: the letterbox is cheaper, the inference
             costs the same (the network input does not change)
  batch B    detect_batch() on B crops in one inference, per image, against B detect() calls
             (only for models whose batch is dynamic; batch sizes from --batches)

The frame is real footage (shared/data/intel_one_by_one, scaled to 1920×1080) when present,
else a synthetic one. Times are medians over --repeat runs after two warm-up runs; ratios are
taken within this run only, and the cases of one comparison take turns run by run, so load
that comes and goes on the machine falls on both alike. --json prints the records as JSON.
--providers CUDAExecutionProvider needs an onnxruntime build that has it (onnxruntime-gpu).

It then runs the full analyzer stack (zone crops, motion gate, detector, tracker, rules) of
the demo site's camera over the demo footage (people at a desk) at 1 frame/s and prints the
analysed camera-frames per second of wall time and per CPU-second (per core), for each thread
count (--no-stack skips it).

usage: python bench/detector.py [--threads 1,2] [--batches 4,8] [--repeat 15] [--no-stack]
           [--yolo PATH] [--yolox PATH] [--input-size N] [--providers P[,P...]] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from analyzers.detector_spec import Detector, DetectorSpec  # noqa: E402
from analyzers.letterbox import letterbox_batch  # noqa: E402
from analyzers.onnx_detector import OnnxDetector  # noqa: E402
from analyzers.onnx_session import ModelError  # noqa: E402
from analyzers.registry import build_detector  # noqa: E402

FOOTAGE = REPO.parent / "shared" / "data" / "intel_one_by_one" / "one-by-one-person-detection.mp4"
FRAME_SIZE = (1920, 1080)
CROP = (800, 200, 640, 480)  # x, y, width, height in the 1080p frame: the reading table
WARM_UP = 2

Image = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Record:
    model: str
    providers: str
    threads: int
    input: str  # network input, width×height
    case: str  # frame, crop, letterbox frame, letterbox crop, batch B, loop B
    images: int  # images per call
    ms_per_call: float
    ms_per_image: float
    people: int  # people found in the first image (a sanity check, not a score)


def median_ms(runs: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Median milliseconds of each run; the runs take turns, so load on the machine that comes
    and goes is spread over all of them alike."""
    for run in runs.values():
        for _ in range(WARM_UP):
            run()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeat):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) * 1000.0 for name, values in times.items()}


def footage_frame() -> tuple[Image, str]:
    """A 1080p BGR frame: footage with a person at the table when present, else synthetic."""
    if FOOTAGE.is_file():
        import av

        with av.open(str(FOOTAGE)) as container:
            for number, frame in enumerate(container.decode(video=0)):
                if number == 100:
                    image = np.asarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8)
                    resized = cv2.resize(image, FRAME_SIZE, interpolation=cv2.INTER_LINEAR)
                    return np.ascontiguousarray(resized), f"footage {FOOTAGE.name} frame 100"
    rng = np.random.default_rng(0)
    width, height = FRAME_SIZE
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    return image, "synthetic noise (footage not present)"


def crop_of(frame: Image) -> Image:
    x, y, width, height = CROP
    return np.ascontiguousarray(frame[y : y + height, x : x + width])


def preprocess(detector: OnnxDetector, image: Image) -> object:
    """Letterbox and tensor: what detect() does before the inference."""
    return detector.tensor(letterbox_batch([image], detector.input_size, detector.style)[0])


def one_by_one(detector: Detector, images: Sequence[Image]) -> list[object]:
    return [detector.detect(image) for image in images]


def measure(
    detector: Detector, spec: DetectorSpec, frame: Image, batches: Sequence[int], repeat: int
) -> list[Record]:
    width, height = detector.input_size
    crop = crop_of(frame)

    def record(case: str, images: int, ms: float, people: int) -> Record:
        return Record(
            detector.name,
            ",".join(spec.providers),
            spec.threads,
            f"{width}x{height}",
            case,
            images,
            round(ms, 3),
            round(ms / images, 3),
            people,
        )

    runs: dict[str, Callable[[], object]] = {}
    people: dict[str, int] = {}
    for case, image in (("frame", frame), ("crop", crop)):
        people[case] = people[f"letterbox {case}"] = len(detector.detect(image))
        runs[case] = partial(detector.detect, image)
        if isinstance(detector, OnnxDetector):
            runs[f"letterbox {case}"] = partial(preprocess, detector, image)
    records = [record(case, 1, ms, people[case]) for case, ms in median_ms(runs, repeat).items()]
    if detector.max_batch is None:
        for size in batches:
            crops = [crop] * size
            found = len(detector.detect_batch(crops)[0])
            pair: dict[str, Callable[[], object]] = {
                f"batch {size}": partial(detector.detect_batch, crops),
                f"loop {size}": partial(one_by_one, detector, crops),
            }
            timed = median_ms(pair, max(3, repeat // size))
            records.extend(record(case, size, ms, found) for case, ms in timed.items())
    return records


def specs(args: argparse.Namespace) -> list[DetectorSpec]:
    providers = tuple(args.providers.split(","))
    found = [DetectorSpec("nanodet", providers=providers)]
    if args.yolo is not None:
        found.append(DetectorSpec("yolo", args.yolo, args.input_size, providers=providers))
    if args.yolox is not None:
        found.append(DetectorSpec("yolox", args.yolox, args.input_size, providers=providers))
    return found


def ratio_lines(records: Sequence[Record]) -> list[str]:
    """Frame against crop, and batch against loop, for each model and thread count."""
    by_key = {(r.model, r.threads, r.case): r for r in records}
    lines: list[str] = []
    for model, threads in dict.fromkeys((r.model, r.threads) for r in records):
        frame, crop = by_key[(model, threads, "frame")], by_key[(model, threads, "crop")]
        parts = [f"frame/crop {frame.ms_per_image / crop.ms_per_image:.2f}"]
        for record in records:
            if (record.model, record.threads) == (model, threads) and record.case.startswith(
                "batch"
            ):
                loop = by_key[(model, threads, record.case.replace("batch", "loop"))]
                parts.append(f"{record.case}: {loop.ms_per_image / record.ms_per_image:.2f}× loop")
        lines.append(f"{model} threads {threads}: " + ", ".join(parts))
    return lines


COLUMNS = (
    ("model", "<24"),
    ("providers", "<22"),
    ("threads", ">7"),
    ("input", ">9"),
    ("case", "<16"),
    ("images", ">6"),
    ("ms_per_call", ">11.2f"),
    ("ms_per_image", ">12.2f"),
    ("people", ">6"),
)


def print_table(records: Sequence[Record], source: str) -> None:
    print(f"image: {source}; frame {FRAME_SIZE[0]}x{FRAME_SIZE[1]}, crop {CROP[2]}x{CROP[3]}")
    print(" ".join(format(name, spec.split(".")[0]) for name, spec in COLUMNS))
    for record in records:
        values = asdict(record)
        print(" ".join(format(values[name], spec) for name, spec in COLUMNS))
    print()
    for line in ratio_lines(records):
        print(line)


DEMO = REPO / "hallwatch" / "demo"


def demo_frames(fps: float = 1.0) -> list[Image]:
    """The demo clip sampled at `fps` (BGR, its own size)."""
    import av

    frames: list[Image] = []
    with av.open(str(DEMO / "one-by-one-person-detection.mp4")) as container:
        for frame in container.decode(video=0):
            if frame.time is not None and frame.time >= len(frames) / fps:
                frames.append(np.asarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8))
    return frames


def stack_line(threads: int, frames: Sequence[Image]) -> str:
    """Camera-frames per second through the whole analyzer stack of the demo camera."""
    from analyzers.rules import Context
    from hallwatch.config import load_site
    from hallwatch.detection import site_detector
    from hallwatch.rules import camera_analyzer

    site = load_site(DEMO / "demo.yaml")
    detector = site_detector(site.detector, DEMO, threads=threads)
    analyzer = camera_analyzer(site, site.cameras[0], detector)
    cpu, wall = time.process_time(), time.perf_counter()
    for n, image in enumerate(frames):
        analyzer.analyze(image, Context(float(n), True))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    counters = analyzer.counters
    return (f"stack  threads {threads}: {len(frames) / wall:6.1f} camera-frames/s,"
            f" {len(frames) / cpu:6.1f} per CPU-second (per core); {counters.inferences}"
            f" inferences, {counters.skipped} skipped by the motion gate,"
            f" {counters.crops} detector images")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,2", help="intra-op thread counts, e.g. 1,2")
    parser.add_argument("--batches", default="4,8", help="batch sizes for dynamic-batch models")
    parser.add_argument("--repeat", type=int, default=15, help="timed runs per measurement")
    parser.add_argument("--yolo", type=Path, help="an Ultralytics YOLO ONNX export")
    parser.add_argument("--yolox", type=Path, help="a YOLOX ONNX export")
    parser.add_argument("--input-size", type=int, help="input side for dynamic-size models")
    parser.add_argument("--providers", default="CPUExecutionProvider", help="comma-separated")
    parser.add_argument("--json", action="store_true", help="print the records as JSON")
    parser.add_argument("--no-stack", action="store_true", help="skip the analyzer-stack run")
    args = parser.parse_args()
    threads = [int(value) for value in args.threads.split(",")]
    batches = [int(value) for value in args.batches.split(",") if value]
    frame, source = footage_frame()
    records: list[Record] = []
    for base in specs(args):
        for count in threads:
            spec = replace(base, threads=count)
            try:
                detector = build_detector(spec)
            except (ModelError, ValueError) as error:
                print(f"skipped {spec.type}: {error}", file=sys.stderr)
                break
            records.extend(measure(detector, spec, frame, batches, args.repeat))
    if args.json:
        print(json.dumps({"image": source, "records": [asdict(r) for r in records]}, indent=1))
    elif records:
        print_table(records, source)
    if not args.no_stack and not args.json:
        frames = demo_frames()
        for count in threads:
            print(stack_line(count, frames))
    return 0 if records else 1


if __name__ == "__main__":
    sys.exit(main())
