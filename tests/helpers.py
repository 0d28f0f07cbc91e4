"""Small helpers for the engine and CLI tests."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path
from typing import Any

from iact_tui.engine.record.state import RunState, reduce
from iact_tui.engine.record.store import read_records

ROOT = Path(__file__).resolve().parent.parent


def write_checklist(folder: Path, body: str, name: str = "c.toml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(body).lstrip())
    return path


HEADER = """
[checklist]
id = "T-1"
title = "Test checklist"
version = "1.0.0"
roles = ["devops", "tech-lead", "developer"]
"""


def cli(*args: str, env: dict[str, str] | None = None, input: str | None = None,
        timeout: float = 60, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("IACT_")}
    full_env["CI"] = "true"  # never ask on a terminal
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "iact_tui", *args],
        capture_output=True, text=True, env=full_env, input=input, timeout=timeout,
        cwd=cwd or ROOT, stdin=None if input is not None else subprocess.DEVNULL,
    )


def only_run(runs: Path) -> Path:
    folders = [d for d in runs.iterdir() if d.is_dir()]
    assert len(folders) == 1, folders
    return folders[0]


def state_of(folder: Path) -> RunState:
    return reduce(read_records(folder))


def report_of(folder: Path) -> dict[str, Any]:
    return tomllib.loads((folder / "report.toml").read_text())


def first_line_run(stdout: str) -> tuple[str, Path]:
    first = stdout.splitlines()[0]
    word, run_id, folder = first.split(" ", 2)
    assert word == "run"
    return run_id, Path(folder)
