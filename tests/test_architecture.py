"""The import-linter contracts in pyproject.toml catch a broken floor.

Each test copies the package, adds one import that runs against the house's layers
(docs/architecture.md) and runs ``lint-imports`` on the copy: it must fail and name that import.
The real tree is checked by ``.ci/run`` itself (``lint-imports``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("importlinter", reason="import-linter comes with the dev extra")

ROOT = Path(__file__).resolve().parent.parent

LINT_IMPORTS = "from importlinter.cli import lint_imports_command; lint_imports_command()"


def lint_copy(tmp_path: Path, module: str, line: str) -> subprocess.CompletedProcess[str]:
    """lint-imports over a copy of iact_tui in which ``module`` (a path) ends with ``line``."""
    shutil.copytree(
        ROOT / "iact_tui",
        tmp_path / "iact_tui",
        ignore=shutil.ignore_patterns("__pycache__", "*.tcss", "*.toml", "*.md", "*.sh"),
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "iact_tui" / module
    if target.exists():
        target.write_text(target.read_text() + f"\n{line}\n")
    else:
        target.write_text(f"{line}\n")
    # `-c` puts the working folder first on sys.path: the copy, not the installed package, is read
    return subprocess.run(
        [sys.executable, "-c", LINT_IMPORTS, "--no-cache"],
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "400"},  # a contract's name on one line
        capture_output=True,
        text=True,
        timeout=120,
    )


def broken_contracts(report: str) -> dict[str, str]:
    """Each broken contract's name and what lint-imports says of it."""
    lines = report.partition("Broken contracts\n")[2].splitlines()[1:]
    sections: dict[str, str] = {}
    name = ""
    for i, line in enumerate(lines):
        underline = lines[i + 1] if i + 1 < len(lines) else ""
        if line and underline == "-" * len(line):
            name = line
            sections[name] = ""
        elif name and set(line) != {"-"}:
            sections[name] += line + "\n"
    return sections


FRONT_ENDS = "Front ends over the engine"
ENGINE_FLOORS = "The engine's floors"
NO_TEXTUAL = "never import Textual"


@pytest.mark.parametrize(
    ("module", "line", "contract", "expected"),
    [
        pytest.param(
            "engine/status.py",
            "import iact_tui.cli",
            FRONT_ENDS,
            "iact_tui.engine.status -> iact_tui.cli",
            id="engine-imports-cli",
        ),
        pytest.param(
            "tui/__init__.py",
            "import iact_tui.headless",
            FRONT_ENDS,
            "iact_tui.tui -> iact_tui.headless",
            id="tui-imports-headless",
        ),
        pytest.param(
            "engine/checklist/__init__.py",
            "import iact_tui.engine.run",
            ENGINE_FLOORS,
            "iact_tui.engine.checklist -> iact_tui.engine.run",
            id="checklist-imports-run",
        ),
        pytest.param(
            "engine/record/__init__.py",
            "import iact_tui.engine.report",
            ENGINE_FLOORS,
            "iact_tui.engine.record -> iact_tui.engine.report",
            id="record-imports-report",
        ),
        pytest.param(
            "engine/events.py",
            "import textual",
            NO_TEXTUAL,
            "iact_tui.engine.events -> textual",
            id="engine-imports-textual",
        ),
        pytest.param(
            "headless/__init__.py",
            "import textual.app",
            NO_TEXTUAL,
            "iact_tui.headless -> textual",
            id="headless-imports-textual",
        ),
        pytest.param(
            "engine/newcomer.py",
            "X = 1",
            ENGINE_FLOORS,
            "iact_tui.engine.newcomer",
            id="engine-module-on-no-floor",
        ),
    ],
)
def test_a_broken_floor_fails_lint_imports(
    tmp_path: Path, module: str, line: str, contract: str, expected: str
) -> None:
    done = lint_copy(tmp_path, module, line)
    report = done.stdout + done.stderr
    assert done.returncode == 1, report
    broken = broken_contracts(report)
    said = [text for name, text in broken.items() if contract in name]
    assert said, f"the contract {contract!r} is not broken:\n{report}"
    assert expected in said[0], report
