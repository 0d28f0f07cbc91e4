"""Which staging.toml the demo runs: the very file users run, found in a source checkout and in an
installed wheel alike."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

SOURCE_CHECKOUT = Path(__file__).resolve().parents[2]


class ChecklistNotFound(Exception):
    """Neither a checkout's nor the packaged checklists/staging.toml exists."""


def packaged_checklist() -> Path | None:
    """The copy shipped inside the package (iact_tui/checklists/staging.toml), if there is one."""
    try:
        resource = importlib.resources.files("iact_tui") / "checklists" / "staging.toml"
    except (ModuleNotFoundError, OSError):
        return None
    if not resource.is_file():
        return None
    return Path(str(resource))


def demo_checklist_path(cwd: Path | None = None) -> Path:
    """./checklists/staging.toml when it is the very file the demo is made for, so that the report
    points at the file a user would open; otherwise that file itself: the packaged copy, or a
    source checkout's checklists/staging.toml when nothing is packaged (yet)."""
    source = SOURCE_CHECKOUT / "checklists" / "staging.toml"
    reference = packaged_checklist() or (source if source.is_file() else None)
    if reference is None:
        raise ChecklistNotFound(
            "checklists/staging.toml was not found: run the demo from a source checkout or install the package"
        )
    expected = reference.read_bytes()
    for candidate in ((cwd or Path.cwd()) / "checklists" / "staging.toml", source):
        if candidate.is_file() and candidate.read_bytes() == expected:
            return candidate
    return reference
