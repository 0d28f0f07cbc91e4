"""The engine, the headless front end and the demo never import Textual; nor does importing a CLI
command's module (the TUI is imported inside the command that shows it); `--help` imports neither
Textual nor the engine's heavy parts.

The import-linter contracts in pyproject.toml say the same from the source; these tests say it
from a real interpreter, where an import made at run time (``importlib``, a plugin) shows too.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

import iact_tui

MODULES = sorted(m.name for m in pkgutil.walk_packages(iact_tui.__path__, "iact_tui."))
AREAS = ("iact_tui.engine", "iact_tui.headless", "iact_tui.demo", "iact_tui.cli")


def modules_of(area: str) -> list[str]:
    return [m for m in MODULES if m == area or m.startswith(area + ".")]


def test_the_listing_sees_every_package() -> None:
    for package in (
        "iact_tui.engine.checklist",
        "iact_tui.engine.run",
        "iact_tui.engine.record",
        "iact_tui.engine.report",
        "iact_tui.engine.executors",
        "iact_tui.headless",
        "iact_tui.demo.standins",
    ):
        assert len(modules_of(package)) > 1, package
    assert "iact_tui.engine.run.runner" in MODULES
    assert "iact_tui.engine.record.store" in MODULES


@pytest.mark.parametrize("area", AREAS)
def test_no_module_imports_textual(area: str) -> None:
    """Each module of the area in turn, in a fresh interpreter: the first that brings Textual in."""
    code = (
        "import importlib, sys\n"
        f"for m in {modules_of(area)!r}:\n"
        "    importlib.import_module(m)\n"
        "    if 'textual' in sys.modules:\n"
        "        print(m); break\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"{out.stdout.strip()} imports textual"


def test_help_imports_no_textual_nor_engine() -> None:
    code = (
        "import sys\n"
        "from iact_tui.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith(('textual', 'iact_tui.engine', 'asyncssh', 'httpx', 'pydantic'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
