"""Entry points the command line calls: ``run_tui`` (run/resume/demo) and ``run_start_screen``."""

from __future__ import annotations

import sys
from pathlib import Path

from iact_tui.cli.run import Launch


def run_tui(launch: Launch, *, checklists_dir: Path | None = None) -> int:
    """Open the TUI on a new run (launch.checklist) or a resumed one (launch.run_ref, or the
    latest unfinished run). Returns the exit code (PRODUCT.md)."""
    from iact_tui.engine.session import BadInput, latest_unfinished

    if launch.checklist is None and launch.run_ref is None:
        try:
            launch.run_ref = str(latest_unfinished(launch.runs_dir))
        except BadInput as exc:
            print(f"iact-tui: {exc}", file=sys.stderr)
            return 2
    return _run_app(launch, checklists_dir)


def run_start_screen(runs_dir: Path, *, checklists_dir: Path | None = None) -> int:
    """Plain `iact-tui`: the start screen (checklists under ./checklists, unfinished runs)."""
    return _run_app(Launch(runs_dir=runs_dir, mode="tui"), checklists_dir)


def _run_app(launch: Launch, checklists_dir: Path | None) -> int:
    from iact_tui.tui.app import IactApp

    if launch.mode == "headless":
        launch.mode = "tui"
    app = IactApp(launch, checklists_dir=checklists_dir)
    result = app.run()
    for text, to_stderr in app.final_lines:
        print(text, file=sys.stderr if to_stderr else sys.stdout)
    if result is not None:
        return int(result)
    return int(app.return_code or app.exit_status)
