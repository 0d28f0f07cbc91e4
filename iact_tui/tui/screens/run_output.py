"""Streaming output on the run screen: a few screen updates a second, however fast a command
prints.

Between two updates the bridge keeps the newest lines (bounded). Drawing holds the interpreter
(one GIL for the screen's thread and the runner's), and a command whose pipe is full waits for
the runner: so during a flood the screen only counts the lines, and draws the newest ones every
``FLOOD_GAP``.
"""

from __future__ import annotations

import time

from textual.screen import Screen
from textual.timer import Timer

from iact_tui.tui.bridge import RunBridge
from iact_tui.tui.widgets.status_bar import RunStatusBar
from iact_tui.tui.widgets.step_detail import StepDetail

OUTPUT_GAP = 0.1  # seconds between two screen updates of streaming output
FLOOD_LINES = 200  # more lines than this waiting to be drawn: a flood (drawn: the newest this many)
FLOOD_GAP = 0.4  # during a flood, the newest lines are drawn this often ...
COUNT_GAP = 0.2  # ... and in between, only how many lines the step has printed so far


class OutputPacer:
    """Moves the output the bridge buffered onto a screen's step detail, at a bounded pace."""

    def __init__(self, screen: Screen[None], bridge: RunBridge | None) -> None:
        self.screen = screen
        self.bridge = bridge
        self._last_flush = 0.0
        self._timer: Timer | None = None
        self._flood_since: float | None = None  # when the current flood of output began
        self._last_tail = 0.0  # when the newest lines of a flood were drawn last

    def ready(self) -> None:
        """New output is buffered: draw it now, or at the next update."""
        if self._timer is not None:
            return  # a flood's tick, or the next update, is already on its way
        wait = self._last_flush + OUTPUT_GAP - time.monotonic()
        if wait <= 0:
            self.flush()
        else:
            self._timer = self.screen.set_timer(wait, self.flush)

    def flush(self, *, whole: bool = False) -> None:
        """Draw the buffered output. While a step runs: what came since the last update, or,
        during a flood, the count of lines and every FLOOD_GAP the newest FLOOD_LINES. When it
        ends (``whole``): everything buffered, up to the view's full scrollback."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        now = time.monotonic()
        self._last_flush = now
        bridge = self.bridge
        if bridge is None:
            return
        detail = self.screen.query_one(StepDetail)
        status = self.screen.query_one(RunStatusBar)
        if not whole and bridge.buffered_lines > FLOOD_LINES:
            if self._flood_since is None:
                self._flood_since = self._last_tail = now  # the first tail after FLOOD_GAP
            flooding = bridge.buffered_steps
            # the count: one line of the status bar, the cheapest thing to draw
            status.set_note(f"{bridge.lines_printed(flooding[0]):,} lines so far")
            if now - self._last_tail >= FLOOD_GAP - COUNT_GAP / 2:
                self._last_tail = now
                for step_id, lines in bridge.take_output(FLOOD_LINES).items():
                    detail.add_output(step_id, lines)
                    detail.output_count(step_id, bridge.lines_printed(step_id), running=True)
            # the bridge posts no new OutputReady until the output is taken: tick on a timer
            self._timer = self.screen.set_timer(COUNT_GAP, self.flush)
            return
        if self._flood_since is not None or whole:
            self._flood_since = None
            status.set_note("")
        for step_id, lines in bridge.take_output(None if whole else FLOOD_LINES).items():
            detail.add_output(step_id, lines)
            detail.output_count(step_id, bridge.lines_printed(step_id), running=not whole)
