"""The engine never imports Textual; `--help` imports neither Textual nor the engine's heavy parts."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import iact_tui

ENGINE_MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(iact_tui.__path__, "iact_tui.")
    if not m.name.startswith("iact_tui.tui")
)


def test_engine_modules_exist() -> None:
    assert "iact_tui.engine.run.runner" in ENGINE_MODULES
    assert "iact_tui.engine.record.store" in ENGINE_MODULES


def test_no_engine_module_imports_textual() -> None:
    code = (
        "import importlib, sys\n"
        f"mods = {ENGINE_MODULES!r}\n"
        "bad = []\n"
        "for m in mods:\n"
        "    importlib.import_module(m)\n"
        "    if 'textual' in sys.modules:\n"
        "        bad.append(m); break\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


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
