"""Edits of cameras.yaml from the console, written back without losing the admin's comments.

The file is edited as a ruamel.yaml round-trip document: comments, key order, quoting and flow
style of everything the edit does not touch stay as they were (a value that does not change is
not even re-assigned). Before anything is written, the new text goes through the same checks as
`hallwatch check-config` (`parse_yaml` + `validate_site`), so a refused edit reports the same
located problems (file, line, key, reason) and writes nothing.

Writes are atomic (a temp file in the same folder, fsync, rename) and keep the previous text as
a timestamped backup beside the file (a bounded number of them). Every read carries a version
(the sha256 of the text): a write based on an older version is refused (`StaleVersion`), so two
admins cannot silently overwrite each other's edits.

Also here: whether a changed site can be applied to the running service or needs a restart
(`restart_reasons`), and how a camera URL sent back redacted keeps its stored credentials
(`restore_secrets`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark, YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString
from ruamel.yaml.tokens import CommentToken
from ruamel.yaml.util import load_yaml_guess_indent

from hallwatch.config import (
    ConfigError,
    LocatedProblem,
    Site,
    parse_yaml,
    plain,
    site_from_text,
)
from ingest.source import redact_url

log = logging.getLogger(__name__)

MAX_BACKUPS = 20
CLOCK = re.compile(r"^\d{2}:\d{2}$")


class StaleVersion(Exception):
    """The file changed since the version the edit was based on."""

    def __init__(self, current: str) -> None:
        super().__init__("cameras.yaml changed since it was read; reload and edit again")
        self.current = current


class NotFound(LookupError):
    """The edit names an item (camera, window, queue, zone) the file does not have."""

    def __init__(self, section: str, ident: str) -> None:
        super().__init__(f"no {section} with id '{ident}'")
        self.section = section
        self.ident = ident


class InvalidEdit(Exception):
    """The edited file would fail `check-config`; `key` is where the edited item lives (e.g.
    'windows[1]'), so problems inside it can be shown next to the form's fields."""

    def __init__(self, problems: list[LocatedProblem], key: str) -> None:
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = problems
        self.key = key


class SecretMissing(ValueError):
    """A URL sent back with '***' where the stored URL has nothing to put back."""


def version_of(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_text(text: str, *, file: str) -> Site:
    """Exactly the checks of `hallwatch check-config` (load_site) on `text`."""
    return site_from_text(text, file=file)


# --- the round-trip document ---------------------------------------------------------------


def _none_as_null(representer: Any, _: None) -> Any:
    return representer.represent_scalar("tag:yaml.org,2002:null", "null")


def _yaml_like(text: str) -> YAML:
    """A round-trip YAML that writes with the indentation the file already uses."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap long lines
    indent, block_seq_indent = 2, 0
    if text.strip():
        _, guessed, guessed_offset = load_yaml_guess_indent(text)
        indent = guessed or 2
        block_seq_indent = guessed_offset or 0
    yaml.indent(mapping=2, sequence=max(indent, block_seq_indent + 2), offset=block_seq_indent)
    yaml.representer.add_representer(type(None), _none_as_null)
    return yaml


def load_document(text: str) -> CommentedMap:
    """The round-trip document, quotes kept as written (a syntax error is a ConfigError)."""
    try:
        doc = _yaml_like(text).load(text)
    except YAMLError:
        doc = parse_yaml(text, file="cameras.yaml")  # raises the located syntax error
    if not isinstance(doc, CommentedMap):
        raise ConfigError([LocatedProblem("cameras.yaml", 1, "", "expected a mapping")])
    return doc


def dump_document(doc: CommentedMap, like: str) -> str:
    out = io.StringIO()
    _yaml_like(like).dump(doc, out)
    return out.getvalue()


def to_node(value: Any, like: Any = None) -> Any:
    """A plain value as a YAML node, in the style of the node it replaces (flow or block)."""
    if isinstance(value, Mapping):
        node = CommentedMap()
        for key, item in value.items():
            node[key] = to_node(item, like.get(key) if isinstance(like, Mapping) else None)
        _flow_like(node, like, default=False)
        return node
    if isinstance(value, list | tuple):
        first = like[0] if isinstance(like, list) and like else None
        seq = CommentedSeq(to_node(item, first) for item in value)
        # polygons and short number lists read best on one line
        _flow_like(seq, like, default=all(not isinstance(v, Mapping) for v in value))
        return seq
    if isinstance(value, str) and CLOCK.match(value):
        return DoubleQuotedScalarString(value)  # "09:00": never a YAML 1.1 sexagesimal number
    return value


def _flow_like(node: CommentedMap | CommentedSeq, like: Any, *, default: bool) -> None:
    style = getattr(like, "fa", None)
    flow = style.flow_style() if style is not None else None
    if flow is None:  # no node to copy, or an empty [] / {} that has no style of its own
        flow = default
    if flow:
        node.fa.set_flow_style()
    else:
        node.fa.set_block_style()


def _same(old: Any, new: Any) -> bool:
    old_plain = plain(old)
    if isinstance(old_plain, dt.date) and isinstance(new, str):
        return old_plain.isoformat() == new
    if isinstance(old_plain, list) and isinstance(new, list | tuple) and len(old_plain) == len(new):
        return all(_same(a, b) for a, b in zip(old_plain, new, strict=True))
    if isinstance(old_plain, dict) and isinstance(new, Mapping):
        return old_plain.keys() == new.keys() and all(_same(old_plain[k], new[k]) for k in new)
    if isinstance(old_plain, bool) or isinstance(new, bool):
        return old_plain is new  # True is not 1 here
    return bool(old_plain == new)


class _Null:
    """Written as an explicit `null` (e.g. `lunch_break: null`: no lunch break), where None
    removes the key (back to the default)."""

    def __repr__(self) -> str:
        return "NULL"


NULL: Any = _Null()


def assign(node: CommentedMap, fields: Mapping[str, Any]) -> list[str]:
    """Set `fields` in `node` (None removes the key: back to its default; NULL writes null);
    returns the keys that changed. Unchanged values are left alone, so their formatting stays
    as it was."""
    changed = []
    for key, value in fields.items():
        if value is None:
            if key in node:
                del node[key]
                changed.append(key)
            continue
        if value is NULL:
            if key not in node or node[key] is not None:
                node[key] = None
                changed.append(key)
            continue
        if key in node and _same(node[key], value):
            continue
        node[key] = to_node(value, node.get(key))
        changed.append(key)
    return changed


URL_KEYS = ("url", "sub_url")


def set_camera(ident: str, fields: Mapping[str, Any]) -> Edit:
    """Set a camera's fields; a URL sent back redacted keeps its stored credentials."""

    def edit(doc: CommentedMap) -> tuple[str, list[str]]:
        items, key = ItemPath("cameras").items(doc)
        index = _index_of(items, ident, "camera")
        node = items[index]
        values = dict(fields)
        for name in URL_KEYS:
            sent = values.get(name)
            if isinstance(sent, str):
                stored = node.get(name)
                values[name] = restore_secrets(sent, None if stored is None else str(stored))
        return f"{key}[{index}]", assign(node, values)

    return edit


# --- sections ---------------------------------------------------------------------------------

SECTION_NAMES = {"cameras": "camera", "windows": "window", "queues": "queue", "halls": "hall"}


def _list_in(node: CommentedMap, key: str) -> CommentedSeq:
    items = node.get(key)
    if not isinstance(items, CommentedSeq):
        items = CommentedSeq()
        node[key] = items
    return items


def _index_of(items: CommentedSeq, ident: str, section: str) -> int:
    for index, item in enumerate(items):
        if isinstance(item, Mapping) and str(item.get("id")) == ident:
            return index
    raise NotFound(section, ident)


@dataclass(frozen=True)
class ItemPath:
    """A list of items with ids: a top-level section ('windows'), or a camera's tender-site
    zones (section 'cameras', camera id, key 'zones')."""

    section: str
    camera: str | None = None

    def items(self, doc: CommentedMap, *, create: bool = False) -> tuple[CommentedSeq, str]:
        """The list and its key path ('windows', 'cameras[2].zones')."""
        if self.camera is None:
            if create:
                return _list_in(doc, self.section), self.section
            found = doc.get(self.section)
            return (found if isinstance(found, CommentedSeq) else CommentedSeq()), self.section
        cameras = doc.get("cameras")
        cameras = cameras if isinstance(cameras, CommentedSeq) else CommentedSeq()
        index = _index_of(cameras, self.camera, "camera")
        camera: CommentedMap = cameras[index]
        key = f"cameras[{index}].{self.section}"
        if create:
            return _list_in(camera, self.section), key
        found = camera.get(self.section)
        return (found if isinstance(found, CommentedSeq) else CommentedSeq()), key

    @property
    def noun(self) -> str:
        return "zone" if self.camera is not None else SECTION_NAMES.get(self.section, "item")


# An edit changes the document and returns (key path of what it edited, keys that changed).
Edit = Callable[[CommentedMap], tuple[str, list[str]]]


def set_item(path: ItemPath, ident: str, fields: Mapping[str, Any]) -> Edit:
    def edit(doc: CommentedMap) -> tuple[str, list[str]]:
        items, key = path.items(doc)
        index = _index_of(items, ident, path.noun)
        return f"{key}[{index}]", assign(items[index], fields)

    return edit


def add_item(path: ItemPath, fields: Mapping[str, Any]) -> Edit:
    """Append a new item (a duplicate id is refused by the checks, with its line)."""

    def edit(doc: CommentedMap) -> tuple[str, list[str]]:
        items, key = path.items(doc, create=True)
        like = items[-1] if len(items) else None
        plain = {k: None if v is NULL else v for k, v in fields.items() if v is not None}
        node = to_node(plain, like)
        items.append(node)
        return f"{key}[{len(items) - 1}]", list(node.keys())

    return edit


def remove_item(path: ItemPath, ident: str) -> Edit:
    """Remove an item (what still names it, e.g. a window of a removed camera, is refused by the
    checks: remove or move it first)."""

    def edit(doc: CommentedMap) -> tuple[str, list[str]]:
        items, key = path.items(doc)
        index = _index_of(items, ident, path.noun)
        tail = _take_tail(items[index]) if index == len(items) - 1 else None
        del items[index]
        if len(items):
            _give_tail(items[-1], tail)
        else:
            _empty_list(doc, path, items, tail)
        return key, ["id"]

    return edit


# Comments after an item (blank lines, the next section's heading) belong to its last key: when
# the last item goes, they move to the item before it, or behind the emptied `key: []`.


def _last_slot(node: Any) -> tuple[Any, Any, int] | None:
    """The (container, key, comment slot) holding the comment after `node`'s last line."""
    if isinstance(node, CommentedMap) and node:
        key = list(node.keys())[-1]
        found = _last_slot(node[key]) if not _is_flow(node[key]) else None
        return found or (node, key, 2)
    if isinstance(node, CommentedSeq) and node:
        found = _last_slot(node[-1]) if not _is_flow(node[-1]) else None
        return found or (node, len(node) - 1, 0)
    return None


def _is_flow(node: Any) -> bool:
    style = getattr(node, "fa", None)
    return style is None or bool(style.flow_style())


def _take_tail(node: Any) -> str | None:
    slot = _last_slot(node)
    if slot is None:
        return None
    container, key, position = slot
    entry = container.ca.items.get(key)
    token = entry[position] if entry is not None else None
    if not isinstance(token, CommentToken):
        return None
    text = str(token.value)
    return text.split("\n", 1)[1] if "\n" in text else None  # its own end-of-line comment stays


def _give_tail(node: Any, tail: str | None) -> None:
    slot = _last_slot(node)
    if not tail or slot is None:
        return
    container, key, position = slot
    entry = container.ca.items.setdefault(key, [None, None, None, None])
    token = entry[position]
    before = str(token.value) if isinstance(token, CommentToken) else "\n"
    entry[position] = CommentToken(before + tail, CommentMark(0), None)


def _empty_list(doc: CommentedMap, path: ItemPath, items: CommentedSeq, tail: str | None) -> None:
    """The list is now `key: []` on one line, followed by what followed the removed item."""
    after = "".join(str(token.value) for token in items.ca.end or [] if token is not None)
    items.ca.end = []
    items.fa.set_flow_style()
    text = "\n" + (after or tail or "")
    if text.strip("\n") or len(text) > 1:
        parent = doc if path.camera is None else _camera_node(doc, path.camera)
        parent.ca.items[path.section] = [None, None, CommentToken(text, CommentMark(0), None), None]


def _camera_node(doc: CommentedMap, ident: str) -> CommentedMap:
    cameras = doc["cameras"]
    node: CommentedMap = cameras[_index_of(cameras, ident, "camera")]
    return node


def set_section(section: str, fields: Mapping[str, Any]) -> Edit:
    """Set keys of a top-level mapping such as `schedule:` or `thresholds:`."""

    def edit(doc: CommentedMap) -> tuple[str, list[str]]:
        node = doc.get(section)
        if not isinstance(node, CommentedMap):
            node = CommentedMap()
            doc[section] = node
        changed = assign(node, fields)
        if not node:
            del doc[section]
        return section, changed

    return edit


# --- camera credentials --------------------------------------------------------------------


def restore_secrets(sent: str, stored: str | None) -> str:
    """The URL to store when the console sends `sent` for a camera whose URL is `stored`.

    The console only ever shows `redact_url(stored)`: sent back unchanged, the stored URL stays
    (credentials included). A '***' elsewhere stands for the stored user:password (or a stored
    secret query value), e.g. when only the path changed; without one to put back it is an
    error: the admin must enter the credentials.
    """
    if stored is not None and sent == redact_url(stored):
        return stored
    if "***" not in sent:
        return sent
    if stored is None or "://" not in sent or "://" not in stored:
        raise SecretMissing("the URL contains '***': enter the user name and password")
    try:
        new, old = urlsplit(sent), urlsplit(stored)
    except ValueError as error:
        raise SecretMissing(f"not a valid URL: {error}") from error
    netloc = new.netloc
    if netloc.startswith("***@"):
        if "@" not in old.netloc:
            raise SecretMissing("the URL contains '***': enter the user name and password")
        netloc = old.netloc.rsplit("@", 1)[0] + "@" + netloc.removeprefix("***@")
    old_query = dict(parse_qsl(old.query, keep_blank_values=True))

    def restore(match: re.Match[str]) -> str:
        value = old_query.get(match.group(1))
        if value is None:
            raise SecretMissing(f"no stored value for '{match.group(1)}=***': enter it")
        return f"{match.group(1)}={value}"

    query = re.sub(r"([^&=]+)=\*\*\*", restore, new.query)
    url = urlunsplit(new._replace(netloc=netloc, query=query))
    if "***" in url:
        raise SecretMissing("the URL contains '***': enter the user name and password")
    return url


# --- the file --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """One read of the file: its text, version and validated site."""

    text: str
    version: str
    site: Site


@dataclass(frozen=True)
class Saved:
    snapshot: Snapshot
    key: str  # key path of the edited item
    changed: list[str]  # its keys that changed ([] when the edit changed nothing)


@dataclass(frozen=True)
class Backup:
    name: str
    at: float
    size: int


_LOCKS: dict[Path, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _lock_for(path: Path) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(path.resolve(), threading.Lock())


def write_atomically(path: Path, text: str, mode: int | None = None) -> None:
    """Write `text` to a temp file beside `path`, fsync it, rename it over `path`."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        if mode is not None:
            os.chmod(temp, mode)  # the config holds camera passwords: keep its permissions
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class ConfigFile:
    """cameras.yaml as the console edits it."""

    def __init__(self, path: Path, *, max_backups: int = MAX_BACKUPS) -> None:
        self.path = path
        self.max_backups = max_backups
        self.file = path.name  # names the file in located problems

    def read(self) -> Snapshot:
        text = self.path.read_text(encoding="utf-8")
        return Snapshot(text, version_of(text), check_text(text, file=self.file))

    def edit(self, version: str, change: Edit) -> Saved:
        """Apply `change` to the file as of `version`; raises StaleVersion, NotFound,
        InvalidEdit (nothing written)."""
        with _lock_for(self.path):
            text = self.path.read_text(encoding="utf-8")
            current = version_of(text)
            if version != current:
                raise StaleVersion(current)
            doc = load_document(text)
            key, changed = change(doc)
            new_text = dump_document(doc, text)
            try:
                site = check_text(new_text, file=self.file)
            except ConfigError as error:
                raise InvalidEdit(error.problems, key) from error
            if new_text != text:
                self._backup(text)
                write_atomically(self.path, new_text, self.path.stat().st_mode & 0o7777)
                log.info("%s: %s changed (%s)", self.path, key, ", ".join(changed) or "-")
            return Saved(Snapshot(new_text, version_of(new_text), site), key, changed)

    def _backup_prefix(self) -> str:
        return f"{self.path.name}.bak-"

    def _backup(self, text: str) -> None:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        target = self.path.with_name(f"{self._backup_prefix()}{stamp}")
        write_atomically(target, text, self.path.stat().st_mode & 0o7777)
        for old in self._backup_paths()[self.max_backups :]:
            old.unlink(missing_ok=True)

    def _backup_paths(self) -> list[Path]:
        """Backups, newest first (the UTC stamp sorts as text)."""
        found = self.path.parent.glob(f"{self._backup_prefix()}*")
        return sorted((p for p in found if not p.name.endswith(".tmp")), reverse=True)

    def backups(self) -> list[Backup]:
        result = []
        for path in self._backup_paths():
            stat = path.stat()
            result.append(Backup(path.name, stat.st_mtime, stat.st_size))
        return result


# --- applying a changed site to the running service ----------------------------------------


@dataclass(frozen=True)
class Reason:
    """Why (part of) a change waits for a restart: a code the console translates, and what."""

    code: str
    target: str = ""

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "target": self.target}


@dataclass(frozen=True)
class ApplyResult:
    applied: bool  # the running analysis (zones, windows, thresholds, schedule) uses the new site
    restart_required: bool  # some part takes effect only after a restart (see reasons)
    reasons: tuple[Reason, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "applied": self.applied,
            "restart_required": self.restart_required,
            "reasons": [reason.to_json() for reason in self.reasons],
        }


# Camera fields the readers and the recorder were built from.
STREAM_FIELDS = ("url", "sub_url", "analysis_fps", "record", "continuous_days", "event_days")
# Codes that mean the readers themselves must change: the analysis cannot switch either.
PIPELINE_CODES = frozenset({"camera_added", "camera_removed", "camera_stream", "recording"})


def _camera_reasons(old: Site, new: Site) -> Iterable[Reason]:
    before = {camera.id: camera for camera in old.cameras}
    after = {camera.id: camera for camera in new.cameras}
    for ident in after.keys() - before.keys():
        yield Reason("camera_added", ident)
    for ident in before.keys() - after.keys():
        yield Reason("camera_removed", ident)
    for ident in sorted(before.keys() & after.keys()):
        a, b = before[ident], after[ident]
        if any(getattr(a, name) != getattr(b, name) for name in STREAM_FIELDS):
            yield Reason("camera_stream", ident)


def restart_reasons(old: Site, new: Site) -> list[Reason]:
    """What of the change from `old` to `new` the running service cannot take over live.

    Zones, windows, queues, thresholds, detector and analysis settings go to a new analysis
    engine; cameras' streams, recording and the case store are set up once at start.
    """
    reasons = sorted(_camera_reasons(old, new), key=lambda r: (r.code, r.target))
    if old.recording != new.recording:
        reasons.append(Reason("recording"))
    if old.data_dir != new.data_dir:
        reasons.append(Reason("data_dir"))
    if old.cases != new.cases:
        reasons.append(Reason("cases"))
    if old.relay != new.relay:
        reasons.append(Reason("relay"))
    if old.schedule != new.schedule:  # the case clock's working-day calendar
        reasons.append(Reason("case_calendar"))
    cameras_of = ({w.id: w.camera for w in site.windows} for site in (old, new))
    if next(cameras_of) != next(cameras_of):  # case cards are tied to a window's camera
        reasons.append(Reason("card_cameras"))
    return reasons
