"""A base site config plus a test's extra YAML: write it, load it, find its lines."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from hallwatch.config import ConfigError, LocatedProblem, load_site


@dataclass(frozen=True)
class ConfigFiles:
    base: str  # a valid cameras.yaml the extra text is appended to

    def text(self, extra: str) -> str:
        return self.base + textwrap.dedent(extra)

    def write(self, tmp_path: Path, extra: str) -> Path:
        path = tmp_path / "cameras.yaml"
        path.write_text(self.text(extra), encoding="utf-8")
        return path

    def problem_of(self, tmp_path: Path, extra: str) -> LocatedProblem:
        """The one problem loading base + extra gives (fails the test if not exactly one)."""
        with pytest.raises(ConfigError) as caught:
            load_site(self.write(tmp_path, extra))
        problems = caught.value.problems
        assert len(problems) == 1, problems
        return problems[0]

    def line_of(self, extra: str, fragment: str) -> int:
        """The 1-based line of base + extra that first holds `fragment`."""
        lines = self.text(extra).splitlines()
        return next(number for number, line in enumerate(lines, 1) if fragment in line)
