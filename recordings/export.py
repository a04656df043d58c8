"""Evidence export (证据导出): a time range or an event as MP4 + a signed JSON manifest.

An export is a folder `{out_dir}/{export id}/` holding

* `video.mp4`: the footage, cut from the segments by stream copy (`recordings.cut`), or an
  event's stored clip (then marked as evidence, so no retention deletes it);
* `README.txt`: how to verify, in Chinese and English;
* `manifest.json`: camera, requested and actual time range (UTC ISO 8601 and UNIX seconds),
  source segments, closed outages, size and SHA-256 of every other file, exporter, creation
  time, hallwatch version, site;
* `manifest.sig`: HMAC-SHA256 of the exact bytes of manifest.json with the site key, in hex.

The folder is built under a hidden name and renamed when complete, and the export is written
to the audit log before it appears. `verify_export` reports a bad signature and every altered,
missing or extra file. The site key is 32 random bytes kept hex-encoded in `{data_dir}/site.key`
(mode 0600), created on first use; it is never logged (its `key_id` fingerprint is).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from hallwatch.events import Event
from hallwatch.store import Store
from recordings.clips import POST_ROLL_S, PRE_ROLL_S, Clip, ClipStore, clip_range, sha256_file
from recordings.cut import CutResult, NoFootage, Piece, cut, gaps_between
from recordings.index import SegmentIndex

log = logging.getLogger(__name__)

EXPORT_FORMAT = "hallwatch-evidence-export/1"
VIDEO = "video.mp4"
README = "README.txt"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
EXPORT_FILES = (VIDEO, README, MANIFEST, SIGNATURE)
EXPORT_ID_PATTERN = r"^[0-9]{8}T[0-9]{6}Z-[A-Za-z0-9][A-Za-z0-9_.-]{0,63}-[0-9a-f]{8}$"
KEY_FILE = "site.key"
SIGNATURE_ALGORITHM = "HMAC-SHA256"

README_TEXT = f"""\
证据导出 / Evidence export — hallwatch

{VIDEO}      录像（原始码流直接复制，未重新编码）/ the footage, stream-copied (not re-encoded)
{MANIFEST}   清单：摄像机、时间范围、来源录像段、各文件的 SHA-256、导出人、导出时间
              manifest: camera, time range, source segments, SHA-256 of every file,
              exporter, export time
{SIGNATURE}   清单签名：用站点密钥对 {MANIFEST} 计算的 HMAC-SHA256（十六进制）
              signature: HMAC-SHA256 of {MANIFEST} with the site key (hex)

校验方法（需要站点密钥 site.key，由系统管理员保管）：
How to verify (needs the site key, site.key, kept by the system administrator):

  hallwatch verify-export <本文件夹 / this folder> --key site.key

不用 hallwatch 时可手工校验 / by hand, without hallwatch:

  sha256sum {VIDEO} {README}
      与 {MANIFEST} 中 "files" 的 sha256 一致 / must equal the sha256 values under "files"
  openssl dgst -sha256 -mac HMAC -macopt hexkey:$(cat site.key) {MANIFEST}
      与 {SIGNATURE} 的内容一致 / must equal the content of {SIGNATURE}

任何文件被修改、缺失或多出，校验都会报告。
Any altered, missing or added file is reported.
"""


# --- the site key --------------------------------------------------------------------------


def read_site_key(path: Path) -> bytes:
    """The site key in `path` (64 hex digits); ValueError if it is not one."""
    text = path.read_bytes().strip()
    if not re.fullmatch(rb"[0-9a-fA-F]{64}", text):
        raise ValueError(f"{path} does not hold a site key (64 hex digits)")
    return bytes.fromhex(text.decode("ascii"))


def key_id(key: bytes) -> str:
    """A fingerprint that tells site keys apart without revealing them."""
    return hashlib.sha256(b"hallwatch site key id\0" + key).hexdigest()[:16]


def load_or_create_site_key(data_dir: Path) -> bytes:
    """The key in `{data_dir}/site.key`, created (32 random bytes, mode 0600) on first use."""
    path = data_dir / KEY_FILE
    with contextlib.suppress(FileNotFoundError):
        key = read_site_key(path)
        if path.stat().st_mode & 0o077:
            log.warning("exports: the site key %s is readable by other users: chmod 600 it", path)
        return key
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    temporary = data_dir / f".{KEY_FILE}.{secrets.token_hex(4)}"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as file:
        file.write(key.hex() + "\n")
        file.flush()
        os.fsync(file.fileno())
    try:
        os.link(temporary, path)  # fails if another process created the key meanwhile
    except FileExistsError:
        return read_site_key(path)
    finally:
        temporary.unlink()
    log.warning("exports: created the site key %s (key id %s): keep a copy in a safe place",
                path, key_id(key))  # fmt: skip
    return key


def sign(data: bytes, key: bytes) -> str:
    return hmac.new(key, data, hashlib.sha256).hexdigest()


# --- writing an export ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExportRequest:
    """Who exports what: the footage of `camera` in [start, end), for `event` if given."""

    camera: str
    start: float
    end: float
    user: str
    site: str
    event: Event | None = None


@dataclass(frozen=True, slots=True)
class _Video:
    """What the export's video.mp4 holds."""

    start: float
    end: float
    frames: int
    pieces: list[Piece]
    clip: int | None = None  # the stored event clip it is a copy of


def _utc(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def _span(start: float, end: float) -> dict[str, Any]:
    return {"start": _utc(start), "end": _utc(end), "start_unix": start, "end_unix": end}


def _version() -> str:
    try:
        return metadata.version("hallwatch")
    except metadata.PackageNotFoundError:
        return "unknown"


def _event_json(event: Event | None) -> dict[str, Any] | None:
    if event is None:
        return None
    return {"id": event.id, "type": event.type, "window": event.window, "start": event.start,
            "end": event.end}  # fmt: skip


def _files_json(folder: Path, names: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{"name": name, "bytes": (folder / name).stat().st_size,
             "sha256": sha256_file(folder / name)} for name in names]  # fmt: skip


def _manifest(export_id: str, request: ExportRequest, video: _Video, folder: Path,
              created: float, key: bytes) -> dict[str, Any]:  # fmt: skip
    return {
        "format": EXPORT_FORMAT,
        "id": export_id,
        "site": request.site,
        "camera": request.camera,
        "event": _event_json(request.event),
        "requested": _span(request.start, request.end),
        "range": _span(video.start, video.end),
        "frames": video.frames,
        "sources": [piece.to_json() for piece in video.pieces],
        "gaps": [_span(start, end) for start, end in gaps_between(video.pieces)],
        "clip": video.clip,
        "files": _files_json(folder, (VIDEO, README)),
        "exported_by": request.user,
        "created_at": _utc(created),
        "created_at_unix": created,
        "hallwatch_version": _version(),
        "signature": {"algorithm": SIGNATURE_ALGORITHM, "file": SIGNATURE, "key_id": key_id(key)},
    }


def new_export_id(camera: str, created: float) -> str:
    utc = datetime.fromtimestamp(created, UTC)
    return f"{utc:%Y%m%dT%H%M%SZ}-{camera}-{secrets.token_hex(4)}"


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fill(folder: Path, export_id: str, request: ExportRequest, video: _Video, key: bytes,
          created: float) -> dict[str, Any]:  # fmt: skip
    """Write README, manifest and signature next to the video; returns the manifest."""
    (folder / README).write_text(README_TEXT, encoding="utf-8")
    manifest = _manifest(export_id, request, video, folder, created, key)
    data = json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8") + b"\n"
    (folder / MANIFEST).write_bytes(data)
    (folder / SIGNATURE).write_text(sign(data, key) + "\n", encoding="ascii")
    for name in EXPORT_FILES:
        _fsync(folder / name)
    return manifest


def _audit(store: Store, export_id: str, request: ExportRequest, video: _Video,
           manifest: dict[str, Any]) -> None:  # fmt: skip
    store.audit(request.user, "export", export_id, camera=request.camera, start=video.start,
                end=video.end, event=None if request.event is None else request.event.id,
                clip=video.clip, segments=[piece.segment for piece in video.pieces],
                files={f["name"]: f["sha256"] for f in manifest["files"]})  # fmt: skip


def _export(store: Store, out_dir: Path, key: bytes, request: ExportRequest,
            make_video: Callable[[Path], _Video]) -> Path:  # fmt: skip
    created = time.time()
    export_id = new_export_id(request.camera, created)
    out_dir.mkdir(parents=True, exist_ok=True)
    work = out_dir / f".{export_id}.partial"
    work.mkdir()
    try:
        video = make_video(work / VIDEO)
        manifest = _fill(work, export_id, request, video, key, created)
        _audit(store, export_id, request, video, manifest)
        final = out_dir / export_id
        work.rename(final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    log.info("exports: %s exported %s of %s (%d frames)", request.user, export_id,
             request.camera, video.frames)  # fmt: skip
    return final


def _from_cut(result: CutResult) -> _Video:
    return _Video(result.start, result.end, result.frames, list(result.pieces))


def export_range(
    index: SegmentIndex,
    camera: str,
    start: float,
    end: float,
    *,
    user: str,
    out_dir: Path,
    key: bytes,
    site_name: str,
) -> Path:
    """Export the footage of `camera` in [start, end) (UNIX s); returns the export folder.

    Raises NoFootage when nothing was recorded then; the export is audited as "export".
    """
    request = ExportRequest(camera, start, end, user, site_name)
    return _export(index.store, out_dir, key, request,
                   lambda target: _from_cut(cut(index, camera, start, end, target)))  # fmt: skip


def _copy_clip(clips: ClipStore, clip: Clip, target: Path) -> _Video | None:
    """A copy of the stored clip, marked as evidence; None if its file is missing or altered."""
    try:
        shutil.copyfile(clips.path_of(clip), target)
        intact = sha256_file(target) == clip.sha256
    except OSError as error:
        log.warning("exports: cannot copy clip %s: %s", clip.path, error)
        return None
    if not intact:
        log.error("exports: clip %s differs from its recorded SHA-256: not used", clip.path)
        target.unlink()
        return None
    clips.set_evidence(clip.id)
    pieces = [Piece(**source) for source in clip.sources]
    return _Video(clip.start, clip.end, clip.frames, pieces, clip.id)


def export_event(
    index: SegmentIndex | None,
    clips: ClipStore | None,
    event: Event,
    *,
    user: str,
    out_dir: Path,
    key: bytes,
    site_name: str,
    pre_roll: float = PRE_ROLL_S,
    post_roll: float = POST_ROLL_S,
) -> Path:
    """Export the footage of `event`: its stored clip if intact (then marked as evidence),
    else cut from the segments with the rolls. Raises NoFootage when there is neither."""
    store = clips.store if clips is not None else index.store if index is not None else None
    if store is None:
        raise NoFootage("recording is not enabled")
    clip = None
    if clips is not None and event.id is not None:
        clip = clips.clip_for_event(event.id)
    start, end = clip_range(event, pre_roll, post_roll)

    def make_video(target: Path) -> _Video:
        video = None if clips is None or clip is None else _copy_clip(clips, clip, target)
        if video is not None:
            return video
        if index is None:
            raise NoFootage(f"no clip and no recordings for event {event.id}")
        return _from_cut(cut(index, event.camera, start, end, target))

    request = ExportRequest(event.camera, start, end, user, site_name, event)
    return _export(store, out_dir, key, request, make_video)


# --- verifying an export -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VerifyReport:
    ok: bool
    problems: list[str] = field(default_factory=list)
    files: int = 0  # files the manifest lists that were found intact


def _read(path: Path, problems: list[str]) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        problems.append(f"{path.name} is missing")
    except OSError as error:
        problems.append(f"{path.name} cannot be read: {error.strerror}")
    return None


def _listed_files(data: bytes, problems: list[str]) -> list[tuple[str, int, str]]:
    """(name, bytes, sha256) of each file the manifest lists."""
    try:
        files = json.loads(data)["files"]
        listed = [(str(f["name"]), int(f["bytes"]), str(f["sha256"]).lower()) for f in files]
    except (ValueError, TypeError, KeyError) as error:
        problems.append(f"{MANIFEST} is not an export manifest: {error}")
        return []
    safe = [entry for entry in listed if _plain_name(entry[0])]
    for name, _, _ in listed:
        if not _plain_name(name):
            problems.append(f"{MANIFEST} lists a file outside the export: {name!r}")
    return safe


def _plain_name(name: str) -> bool:
    return name not in ("", ".", "..", MANIFEST, SIGNATURE) and "/" not in name and "\\" not in name


def _check_file(folder: Path, name: str, size: int, digest: str) -> str | None:
    path = folder / name
    if not path.is_file():
        return f"{name} is missing"
    actual = path.stat().st_size
    if actual != size:
        return f"{name} was altered: {actual} bytes, the manifest says {size}"
    actual_digest = sha256_file(path)
    if actual_digest != digest:
        return f"{name} was altered: SHA-256 {actual_digest}, the manifest says {digest}"
    return None


def _extra_files(folder: Path, expected: set[str]) -> list[str]:
    extra = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if relative not in expected:
            extra.append(f"{relative} is not part of the export (not in the manifest)")
    return extra


def verify_export(folder: Path, key: bytes) -> VerifyReport:
    """Check the signature of the manifest and every file of the export in `folder`."""
    problems: list[str] = []
    data = _read(folder / MANIFEST, problems)
    signature = _read(folder / SIGNATURE, problems)
    if data is not None and signature is not None:
        expected = sign(data, key)
        if not hmac.compare_digest(expected, signature.decode("ascii", "replace").strip()):
            problems.append(f"{SIGNATURE} does not match {MANIFEST}: the manifest was altered"
                            " or signed with another site key")  # fmt: skip
    listed = [] if data is None else _listed_files(data, problems)
    intact = 0
    for name, size, digest in listed:
        problem = _check_file(folder, name, size, digest)
        if problem is None:
            intact += 1
        else:
            problems.append(problem)
    if data is not None:  # without a manifest every file would be "extra"
        problems.extend(_extra_files(folder, {MANIFEST, SIGNATURE, *(e[0] for e in listed)}))
    return VerifyReport(not problems, problems, intact)


def read_manifest(folder: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((folder / MANIFEST).read_bytes())
    return manifest
