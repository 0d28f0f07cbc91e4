"""A step's live output: a ``Log`` (plain text, never markup) fed in batches, bounded, searchable.

Drawing competes with the runner's thread for the interpreter (one GIL), and a command blocks
when its pipe is full, so this view is built to cost little per update: a line is drawn as one
plain segment (cached by its text), new lines are measured without Log's worker thread, and a
new scrollable size is not a layout of the whole screen.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Self

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.cache import LRUCache
from textual.geometry import Size
from textual.strip import Strip
from textual.widgets import Log

MAX_LINES = 2_000  # on screen; the full output is in logs/<step>.log


class OutputView(Log):
    DEFAULT_CSS = """
    OutputView {
        height: 1fr;
        border: round $foreground 30%;
        border-title-color: $text-muted;
        &:focus { border: round $accent; }
    }
    """

    def __init__(self, *, max_lines: int = MAX_LINES, **kwargs: object) -> None:
        super().__init__(max_lines=max_lines, auto_scroll=True, **kwargs)  # type: ignore[arg-type]
        self.step_id = ""
        self.border_title = "output"
        self._search = ""
        self._match = -1
        self._note = ""
        self._strips: LRUCache[tuple[str, Style], Strip] = LRUCache(256)

    def show(self, step_id: str, lines: Iterable[str]) -> None:
        """Show another step's output (replaces what is shown)."""
        self.step_id = step_id
        self._note = ""
        self._title()
        self.clear()
        self.write_lines(list(lines))
        self._match = -1

    def add(self, lines: list[str]) -> None:
        if lines:
            self.write_lines(lines)

    def set_note(self, note: str) -> None:
        """A few words after the title (e.g. how many lines a step has printed so far)."""
        if note != self._note:
            self._note = note
            self._title()

    def _title(self) -> None:
        title = f"output of {self.step_id}" if self.step_id else "output"
        self.border_title = f"{title} · {self._note}" if self._note else title

    # -- cheaper drawing than Log's (same look) ---------------------------------------------------

    def write_lines(self, lines: Iterable[str], scroll_end: bool | None = None) -> Self:
        """Log's, but the new lines are measured here (Log starts a worker thread per write) and
        the scrollable size changes without a layout of the whole screen."""
        at_end = self.is_vertical_scroll_end
        auto_scroll = self.auto_scroll if scroll_end is None else scroll_end
        new_lines = [part for line in lines for part in line.splitlines()]
        self._lines.extend(new_lines)
        if self.max_lines is not None and len(self._lines) > self.max_lines:
            self._prune_max_lines()
        self._measure(new_lines)
        self.refresh()  # the lines shown may all have moved: a repaint of this pane (cached lines)
        if auto_scroll and not self.is_vertical_scrollbar_grabbed and at_end:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        return self

    def clear(self) -> Self:
        self._lines.clear()
        self._width = 0
        self._render_line_cache.clear()
        self._updates += 1
        self._clear_y = 0
        self._scroll_size(Size(0, 0))
        self.refresh()
        return self

    def _measure(self, lines: list[str]) -> None:
        # the width of printable ASCII text is its length (the rest is measured like Log does)
        if lines:
            widest = max(
                len(line)
                if line.isascii() and line.isprintable()
                else cell_len(self._process_line(line))
                for line in lines
            )
            self._width = max(self._width, widest)
        self._scroll_size(Size(self._width, self.line_count))

    def _scroll_size(self, size: Size) -> None:
        """Set the scrollable size. Textual lays the whole screen out again when a widget's
        virtual size changes; this pane's size does not depend on it, so only its scroll range
        is updated (a scrollbar that appears or goes still makes a layout)."""
        if size == self.virtual_size:
            return
        self.set_reactive(Log.virtual_size, size)
        if self.is_mounted:
            self._scroll_update(size)

    def _render_line_strip(self, y: int, rich_style: Style) -> Strip:
        if self.text_selection is not None or self.highlight:
            return super()._render_line_strip(y, rich_style)
        text = self._lines[y]
        key = (text, rich_style)
        strip = self._strips.get(key)
        if strip is None:
            line = self._process_line(text)
            strip = Strip([Segment(line, rich_style)] if line else [], cell_len(line))
            self._strips[key] = strip
        return strip

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()

    # -- search -----------------------------------------------------------------------------------

    def search(self, text: str, *, again: bool = False) -> tuple[int, int] | None:
        """Scroll to the next line containing ``text`` (case-insensitive).

        Returns (line number, number of matching lines) or None when nothing matches.
        """
        needle = text.lower()
        if not needle:
            return None
        lines = self.lines
        start = self._match + 1 if (again or needle == self._search) else 0
        self._search = needle
        hits = [i for i, line in enumerate(lines) if needle in line.lower()]
        if not hits:
            self._match = -1
            return None
        after = [i for i in hits if i >= start]
        self._match = after[0] if after else hits[0]  # wrap around
        self.auto_scroll = False  # stay on the match while output streams in
        self.scroll_to(y=max(0, self._match - 2), animate=False)
        return self._match + 1, len(hits)

    def follow(self) -> None:
        self.auto_scroll = True
        self.scroll_end(animate=False)
