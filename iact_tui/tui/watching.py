"""The watch app: ``iact-tui watch RUN`` in a terminal, and what ``iact-tui serve`` runs for each
browser (``python -m iact_tui.tui.watching``). It drives nothing: it shows runs that other
processes drive (``screens/watch.py``), and sends a watcher's ticks through the run's inbox.

Started by textual-serve, stdin is a pipe and ``TEXTUAL_DRIVER`` names the web driver: nothing
here looks at stdin, so the app starts however it is started.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
from pathlib import Path, PurePath
from typing import ClassVar

from textual.app import App

from iact_tui.engine.record.store import ReportError
from iact_tui.tui.screens.watch import RunPicker, WatchScreen

NICE = 10  # the watch app's CPU priority, below the run's (see WatchApp.on_mount)


class WatchApp(App[int]):
    CSS_PATH: ClassVar[list[str | PurePath]] = ["app.tcss", "dialogs.tcss"]
    TITLE = "iact-tui"

    def __init__(
        self,
        runs_dir: Path,
        folder: Path | None = None,
        *,
        name_as: str = "",
        sign: str = "",
        acts: bool = True,
    ) -> None:
        super().__init__()
        self.acts = acts
        self.runs_dir = runs_dir
        self.folder = folder
        self.name_as = name_as
        self.sign = sign

    def on_mount(self) -> None:
        # a watcher yields the CPU to the run it watches (and to every other process of the
        # operator's): on a busy machine its screen lags a little, the run never does
        with contextlib.suppress(OSError):
            os.nice(NICE)
        if self.folder is None:
            self.push_screen(
                RunPicker(self.runs_dir, name_as=self.name_as, sign=self.sign, acts=self.acts)
            )
            return
        try:
            screen = WatchScreen(
                self.folder, name_as=self.name_as, sign=self.sign, closable=False, acts=self.acts
            )
        except ReportError as exc:
            self.exit(2, message=f"iact-tui: {exc}")
            return
        self.push_screen(screen)
        # what the start-up made (Textual, the checklist, the run so far) is there to stay: the
        # collector stops walking it, so that the garbage each frame makes is cheap to collect
        # (a third of a watcher's CPU in a burst of steps went to walking it)
        self.call_after_refresh(_freeze_heap)


def _freeze_heap() -> None:
    gc.collect()  # the start-up's own garbage first: what is frozen is never collected
    gc.freeze()


def run_watch(
    runs_dir: Path, folder: Path | None, *, name_as: str = "", sign: str = "", acts: bool = True
) -> int:
    app = WatchApp(runs_dir, folder, name_as=name_as, sign=sign, acts=acts)
    result = app.run()
    return int(result or 0)


def main(argv: list[str] | None = None) -> int:
    """The command textual-serve starts for each browser: the watch app on a runs folder."""
    parser = argparse.ArgumentParser(prog="iact-tui-watch")
    parser.add_argument("--runs-dir", required=True)
    parser.add_argument("--read-only", action="store_true", help="show only: no ticks from here")
    parser.add_argument("run", nargs="?")
    args = parser.parse_args(argv)
    runs_dir = Path(args.runs_dir)
    folder = None
    if args.run:
        from iact_tui.engine.record.store import resolve_run

        try:
            folder = resolve_run(args.run, runs_dir)
        except ReportError as exc:
            print(f"iact-tui: {exc}", file=sys.stderr)
            return 2
    return run_watch(runs_dir, folder, acts=not args.read_only)


if __name__ == "__main__":
    sys.exit(main())
