"""A step's live output: a ``Log`` (plain text, never markup) fed in batches, bounded, searchable."""

from __future__ import annotations

from collections.abc import Iterable

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

    def show(self, step_id: str, lines: Iterable[str]) -> None:
        """Show another step's output (replaces what is shown)."""
        self.step_id = step_id
        self.border_title = f"output of {step_id}" if step_id else "output"
        self.clear()
        self.write_lines(list(lines))
        self._match = -1

    def add(self, lines: list[str]) -> None:
        if lines:
            self.write_lines(lines)

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
