"""A screen over a run's steps that keeps the step the run is busy with in view, unless the
person browses elsewhere (the run screen and the watch screen share it)."""

from __future__ import annotations

from textual.screen import Screen

from iact_tui.tui.widgets.step_detail import StepDetail
from iact_tui.tui.widgets.step_tree import StepTree


class StepFollowingScreen(Screen[None]):
    follow: bool  # show the active step as it changes (off while the person browses)
    active_step: str  # the step the run is busy with
    _expected_highlights: set[str]  # cursor moves made by the screen, not by the person

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

    def _highlight_moved(self, step_id: str) -> None:
        """The tree's cursor is on ``step_id``: the screen's own move, or the person's (who then
        follows again only by coming back to the active step)."""
        if step_id in self._expected_highlights:
            self._expected_highlights.discard(step_id)
        else:
            self.follow = step_id == self.active_step or not self.active_step
        self.query_one(StepDetail).show(step_id)
