"""Entry points the command line calls: ``run_tui`` (run/resume/demo) and ``run_start_screen``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from iact_tui.engine.run.launch import Launch


def run_tui(launch: Launch, *, checklists_dir: Path | None = None) -> int:
    """Open the TUI on a new run (launch.checklist) or a resumed one (launch.run_ref, or the
    latest unfinished run). Returns the exit code (PRODUCT.md)."""
    from iact_tui.engine.run.launch import BadInput, latest_unfinished

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
    restore = _stop_run_on_signals(app)
    try:
        result = app.run()
    finally:
        restore()
    for text, to_stderr in app.final_lines:
        print(text, file=sys.stderr if to_stderr else sys.stdout)
    if result is not None:
        return int(result)
    return int(app.return_code or app.exit_status)


def _stop_run_on_signals(app: Any) -> Any:
    """SIGTERM and SIGHUP (a dropped terminal or SSH session) do what quitting during a step
    does: the running command is stopped (locally and on the host), the step recorded
    interrupted, the run paused; exit 130. Returns the function that restores the handlers."""
    import signal

    from iact_tui.engine.errors import ExitCode
    from iact_tui.engine.run.terminal import detach_hung_up_terminal, terminal_fds

    ttys = terminal_fds()

    def stop_run() -> None:
        view = app.run_view
        worker = app._run_worker
        if view is not None and worker is not None and not worker.is_finished:
            app._quitting = True  # the run's end exits the app, with its status (130)
            view.interrupt()
        else:
            app.exit(ExitCode.INTERRUPTED, return_code=ExitCode.INTERRUPTED)

    def handler(signum: int, _frame: Any) -> None:
        if signum == signal.SIGHUP:
            detach_hung_up_terminal(ttys)
        loop = app._loop
        if loop is None or loop.is_closed():
            raise SystemExit(ExitCode.INTERRUPTED)
        loop.call_soon_threadsafe(stop_run)

    signals = (signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, handler) for sig in signals}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore
