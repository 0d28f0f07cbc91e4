"""A bar per ISO week (the metrics screen's chart): the week's deployments stacked as succeeded,
rolled back and failed, against the weekly deployment target, with the counts beside the bar.
The legend stays on top while a long history scrolls under it, newest week last.

Drawn with block characters as plain ``Text`` (never markup) at whatever width the widget gets:
the bars stretch with the terminal (up to a point), and the week's median lead time and mean MTTR join the
line when there is room for them. Each kind of bar has its own character as well as its own
colour, so the chart reads in any theme and without colour.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.events import Resize
from textual.geometry import Size
from textual.widget import Widget

SUCCEEDED, ROLLED_BACK, FAILED, TARGET, EMPTY = "█", "▓", "░", "┆", " "
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
LABEL_WIDTH = len("2025-W47 17 Nov")
EXTRAS_FROM = 120  # columns: below this the lead time and MTTR columns make way for the bars
EXTRA_WIDTH = 12  # one of those columns
MAX_CELLS = 64  # a longer bar only moves the counts away from it


@dataclass(frozen=True)
class WeekBar:
    """One ISO week of one checklist's deployments."""

    week: str  # "2025-W47"
    monday: date
    succeeded: int  # deployments that reached staging
    rolled_back: int  # deployments that needed a rollback
    failed: int  # deployments that failed or were aborted, without a rollback
    lead_time: str = ""  # the week's median lead time, as the metrics table writes it
    mttr: str = ""  # the week's mean MTTR, likewise

    @property
    def total(self) -> int:
        return self.succeeded + self.rolled_back + self.failed


def segment_lengths(counts: Sequence[int], scale: float, cells: int) -> list[int]:
    """How many cells each stacked count takes when ``scale`` fills ``cells``: proportional,
    from cumulative ends (no drift), and at least one cell for a count that is not zero."""
    lengths: list[int] = []
    total = 0
    drawn = 0
    for count in counts:
        total += count
        end = round(total * cells / scale) if scale else 0
        length = max(end - drawn, 1 if count else 0)
        lengths.append(length)
        drawn += length
    while sum(lengths) > cells:  # the minimum of one cell pushed past the end: trim the longest
        longest = lengths.index(max(lengths))
        lengths[longest] -= 1
    return lengths


class WeekChart(Vertical):
    """The legend line, then the weeks, oldest first, one line each (scrolling when many)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "week-chart--succeeded",
        "week-chart--rolled-back",
        "week-chart--failed",
        "week-chart--target",
        "week-chart--muted",
    }
    DEFAULT_CSS = """
    WeekChart {
        height: 1fr;
    }
    WeekChart > WeekLegend {
        height: 1;
    }
    WeekChart > VerticalScroll {
        height: 1fr;
        scrollbar-size-vertical: 1;
    }
    WeekChart WeekRows {
        width: 1fr;
        height: auto;
    }
    WeekChart > .week-chart--succeeded { color: $success; }
    WeekChart > .week-chart--rolled-back { color: $warning; }
    WeekChart > .week-chart--failed { color: $error; }
    WeekChart > .week-chart--target { color: $foreground 60%; }
    WeekChart > .week-chart--muted { color: $foreground 50%; }
    """

    def __init__(
        self,
        *,
        target_text: Callable[[float], str] = lambda value: f"{value:g}",
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.bars: tuple[WeekBar, ...] = ()
        self.target: float | None = None
        self.target_text = target_text

    def compose(self) -> ComposeResult:
        yield WeekLegend(self)
        with VerticalScroll():
            yield WeekRows(self)

    def show(self, bars: Sequence[WeekBar], target: float | None) -> None:
        """Draw these weeks, and bring the newest into view."""
        self.target = target if target is not None and target > 0 else None
        self.bars = tuple(bars)
        self.query_one(WeekRows).refresh(layout=True)
        self.query_one(WeekLegend).refresh()
        self.query_one(VerticalScroll).scroll_end(animate=False)

    def _style(self, component: str) -> Style:
        return self.get_component_rich_style(component, partial=True)

    def _geometry(self, width: int) -> tuple[int, int, int, bool, float]:
        """(bar cells, count digits, counts width, extra columns shown, count at full bar)."""
        bars = self.bars
        digits = len(str(max((max(b.succeeded, b.rolled_back, b.failed) for b in bars), default=0)))
        counts_width = 3 * (digits + 4)  # " ✔ 2  ↺ 1  ✘ 0 "
        extras = width >= EXTRAS_FROM
        fixed = LABEL_WIDTH + 1 + 1 + 1 + counts_width + (2 * EXTRA_WIDTH if extras else 0)
        # bar cells (one more after them for the target mark)
        cells = min(max(width - fixed, 4), MAX_CELLS)
        scale = float(max(max((b.total for b in bars), default=0), self.target or 0, 1))
        return cells, digits, counts_width, extras, scale

    def rows_width(self) -> int:
        return self.query_one(WeekRows).size.width

    def lines(self, width: int) -> Text:
        """The legend and one line per week at ``width`` cells (the two widgets' text, together)."""
        out = Text(no_wrap=True, overflow="crop", end="")
        out.append(self.legend(width))
        for line in self.week_lines(width):
            out.append("\n")
            out.append(line)
        return out

    def legend(self, width: int) -> Text:
        cells, _, counts_width, extras, _ = self._geometry(width)
        legend = Text(no_wrap=True, overflow="crop", end="")
        legend.append("week".ljust(LABEL_WIDTH + 1), self._style("week-chart--muted"))
        parts: list[tuple[str, str, str]] = [
            (SUCCEEDED, "succeeded", "week-chart--succeeded"),
            (ROLLED_BACK, "rolled back", "week-chart--rolled-back"),
            (FAILED, "failed", "week-chart--failed"),
        ]
        if self.target is not None:
            parts.append((TARGET, f"target {self.target_text(self.target)}", "week-chart--target"))
        used = 0
        for mark, words, component in parts:
            piece = Text()
            if used:
                piece.append("  ")
            piece.append(mark, self._style(component))
            piece.append(f" {words}", self._style("week-chart--muted"))
            legend.append(piece)
            used += len(piece)
        if extras:
            legend.append(" " * max(cells + 1 + 1 + counts_width - used, 1))
            legend.append("lead time".rjust(EXTRA_WIDTH), self._style("week-chart--muted"))
            legend.append("MTTR".rjust(EXTRA_WIDTH), self._style("week-chart--muted"))
        return legend

    def week_lines(self, width: int) -> list[Text]:
        cells, digits, _, extras, scale = self._geometry(width)
        return [self._line(bar, cells, scale, digits, extras) for bar in self.bars]

    def _line(self, bar: WeekBar, cells: int, scale: float, digits: int, extras: bool) -> Text:
        muted = self._style("week-chart--muted")
        line = Text()
        line.append(f"{bar.week} {bar.monday.day:02d} {MONTHS[bar.monday.month - 1]}", muted)
        line.append(" ")
        counts = (bar.succeeded, bar.rolled_back, bar.failed)
        components = ("week-chart--succeeded", "week-chart--rolled-back", "week-chart--failed")
        drawn = 0
        for length, mark, component in zip(
            segment_lengths(counts, scale, cells),
            (SUCCEEDED, ROLLED_BACK, FAILED),
            components,
            strict=True,
        ):
            line.append(mark * length, self._style(component))
            drawn += length
        # the target mark sits in the first cell past the target: a bar that reaches it hides it
        mark_at = round(self.target * cells / scale) if self.target is not None else -1
        for cell in range(drawn, cells + 1):
            if cell == mark_at:
                line.append(TARGET, self._style("week-chart--target"))
            else:
                line.append(EMPTY)
        line.append(" ")
        for count, icon, component in zip(counts, "✔↺✘", components, strict=True):
            line.append(f" {icon} ", self._style(component) if count else muted)
            line.append(str(count).rjust(digits), Style() if count else muted)
            line.append(" ")
        if extras:
            line.append(
                (bar.lead_time or "-").rjust(EXTRA_WIDTH), Style() if bar.lead_time else muted
            )
            line.append((bar.mttr or "-").rjust(EXTRA_WIDTH), Style() if bar.mttr else muted)
        return line


class WeekLegend(Widget):
    """What each bar and mark means, aligned with the weeks under it."""

    def __init__(self, chart: WeekChart) -> None:
        super().__init__()
        self.chart = chart

    def render(self) -> Text:
        return self.chart.legend(self.chart.rows_width() or self.size.width)


class WeekRows(Widget):
    """One line per week."""

    def __init__(self, chart: WeekChart) -> None:
        super().__init__()
        self.chart = chart

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self.chart.bars)

    def render(self) -> Text:
        return Text("\n", no_wrap=True, overflow="crop", end="").join(
            self.chart.week_lines(self.size.width)
        )

    def on_resize(self, event: Resize) -> None:
        # the legend lines up with these lines: it follows their width (a scrollbar takes one)
        self.chart.query_one(WeekLegend).refresh()
