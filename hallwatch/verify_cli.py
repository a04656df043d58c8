"""`hallwatch verify-export DIR [--key FILE]`: check an evidence export against its manifest."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from recordings.export import read_site_key, verify_export

DEFAULT_KEY_FILE = Path("var/site.key")
EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2


def _say(line: str, stream: TextIO | None = None) -> None:
    print(line, file=stream or sys.stdout)


def run_verify(path: Path, key_file: Path | None) -> int:
    """Print one line per problem, or "OK: N files verified"; the exit status."""
    key_file = key_file or DEFAULT_KEY_FILE
    if not path.is_dir():
        _say(f"{path}: not an export folder", sys.stderr)
        return EXIT_USAGE
    try:
        key = read_site_key(key_file)
    except (OSError, ValueError) as error:
        _say(f"cannot read the site key: {error}", sys.stderr)
        return EXIT_USAGE
    report = verify_export(path, key)
    for problem in report.problems:
        _say(f"{path}: {problem}")
    if not report.ok:
        _say(f"FAILED: {len(report.problems)} problem(s)")
        return EXIT_PROBLEMS
    _say(f"OK: {report.files} files verified")
    return EXIT_OK
