"""How states, durations and times read on screen (one place, so every pane agrees): the icons and
colours here; the words, times and durations come from the engine's formatting, which the
exported documents and `iact-tui verify` use too."""

from __future__ import annotations

from iact_tui.engine.formatting import clock, local_time, words
from iact_tui.engine.formatting import seconds_between as span
from iact_tui.engine.formatting import short_duration as duration

__all__ = [
    "RUN_COLOURS",
    "STEP_COLOURS",
    "STEP_ICONS",
    "clock",
    "duration",
    "local_time",
    "span",
    "words",
]

STEP_ICONS: dict[str, str] = {
    "pending": "○",
    "running": "▶",
    "waiting": "◆",
    "passed": "✔",
    "failed": "✘",
    "skipped": "↷",
    "not_applicable": "–",
    "interrupted": "⚠",
}

# theme variable names (Textual themes define them all), so the icons follow the theme
STEP_COLOURS: dict[str, str] = {
    "pending": "foreground-muted",
    "running": "accent",
    "waiting": "warning",
    "passed": "success",
    "failed": "error",
    "skipped": "secondary",
    "not_applicable": "foreground-muted",
    "interrupted": "warning",
}

RUN_COLOURS: dict[str, str] = {
    "running": "accent",
    "paused": "warning",
    "succeeded": "success",
    "failed": "error",
    "rolled_back": "warning",
    "aborted": "error",
}
