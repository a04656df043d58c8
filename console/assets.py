"""Where the console's static files live (shipped in the package: no CDN)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def static_dir() -> Path:
    return Path(str(resources.files("console") / "static"))
