"""Find the line of a key path in a ruamel.yaml round-trip tree (for located config errors)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def _position(node: Any, part: str | int) -> tuple[int, Any] | None:
    """Line (0-based) of `part` inside `node` and the child node, or None if absent."""
    lc = getattr(node, "lc", None)
    if lc is None:
        return None
    if isinstance(part, int) and isinstance(node, list) and 0 <= part < len(node):
        return int(lc.item(part)[0]), node[part]
    if isinstance(part, str) and isinstance(node, dict) and part in node:
        return int(lc.key(part)[0]), node[part]
    return None


def line_of(root: Any, loc: Sequence[str | int]) -> int | None:
    """1-based line of the deepest part of `loc` that exists in `root`; None without positions."""
    lc = getattr(root, "lc", None)
    if lc is None:
        return None
    line = int(lc.line)
    node = root
    for part in loc:
        found = _position(node, part)
        if found is None:
            break
        line, node = found
    return line + 1
