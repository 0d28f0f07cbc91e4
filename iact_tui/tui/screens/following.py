"""A screen over a run's steps that keeps the step the run is busy with in view, unless the
person browses elsewhere (the run screen and the watch screen share it)."""

from __future__ import annotations

import time

from textual.screen import Screen
from textual.timer import Timer

from iact_tui.tui.widgets.step_detail import StepDetail
from iact_tui.tui.widgets.step_tree import StepTree

FOLLOW_GAP = 0.3  # seconds: the step pane moves to a new active step at most this often


class StepFollowingScreen(Screen[None]):
    follow: bool  # show the active step as it changes (off while the person browses)
    active_step: str  # the step the run is busy with
    _expected_highlights: set[str]  # cursor moves made by the screen, not by the person
    _last_attend = 0.0  # when the step pane last moved to the active step
    _attend_timer: Timer | None = None  # a move held back by FOLLOW_GAP

    def _select(self, step_id: str) -> None:
        """Show a step and move the tree's cursor to it (without the user's moving it)."""
        self._expected_highlights.add(step_id)
        self.query_one(StepTree).select_step(step_id)
        self.query_one(StepDetail).show(step_id)

    def _attend(self, step_id: str) -> None:
        """The run is busy with this step: show it, unless the person browses elsewhere."""
        self.active_step = step_id
        if self.follow and step_id:
            self._select(step_id)

    def _attend_soon(self, step_id: str, *, at_once: bool = False, busy: bool = False) -> None:
        """``_attend``, but the step pane moves at most every FOLLOW_GAP seconds: when steps go
        by faster than anyone reads (dozens a second), it shows the newest one at the end of the
        gap instead of redrawing for each. ``busy`` (the records came by the handful): wait a
        whole gap even after a quiet spell, since the steps that follow come as fast; a new step
        pane is the costliest thing a screen draws. The active step itself is known at once."""
        self.active_step = step_id
        if at_once:
            self._attend_now()
            return
        if self._attend_timer is not None:
            return  # a move is due already: it shows the newest active step when it comes
        wait = max(self._last_attend + FOLLOW_GAP - time.monotonic(), FOLLOW_GAP if busy else 0.0)
        if wait <= 0:
            self._attend_now()
        else:
            self._attend_timer = self.set_timer(wait, self._attend_now)

    def _attend_now(self) -> None:
        if self._attend_timer is not None:
            self._attend_timer.stop()
            self._attend_timer = None
        if not self.is_mounted:
            return
        self._last_attend = time.monotonic()
        self._attend(self.active_step)

    def _highlight_moved(self, step_id: str) -> None:
        """The tree's cursor is on ``step_id``: the screen's own move, or the person's (who then
        follows again only by coming back to the active step)."""
        if step_id in self._expected_highlights:
            self._expected_highlights.discard(step_id)
        else:
            self.follow = step_id == self.active_step or not self.active_step
        self.query_one(StepDetail).show(step_id)
