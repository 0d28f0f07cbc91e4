"""How states, durations and times read on screen (one place, so every pane agrees): the icons and
colours here; the words, times and durations come from the engine's formatting, which the
exported documents and `iact-tui verify` use too."""

from __future__ import annotations

from iact_tui.engine.formatting import clock, local_time, words
from iact_tui.engine.formatting import seconds_between as span
from iact_tui.engine.formatting import short_duration as duration
from iact_tui.engine.status import RunStatus, StepStatus

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
    StepStatus.PENDING: "○",
    StepStatus.RUNNING: "▶",
    StepStatus.WAITING: "◆",
    StepStatus.PASSED: "✔",
    StepStatus.FAILED: "✘",
    StepStatus.SKIPPED: "↷",
    StepStatus.NOT_APPLICABLE: "–",
    StepStatus.INTERRUPTED: "⚠",
}

# theme variable names (Textual themes define them all), so the icons follow the theme
STEP_COLOURS: dict[str, str] = {
    StepStatus.PENDING: "foreground-muted",
    StepStatus.RUNNING: "accent",
    StepStatus.WAITING: "warning",
    StepStatus.PASSED: "success",
    StepStatus.FAILED: "error",
    StepStatus.SKIPPED: "secondary",
    StepStatus.NOT_APPLICABLE: "foreground-muted",
    StepStatus.INTERRUPTED: "warning",
}

RUN_COLOURS: dict[str, str] = {
    RunStatus.RUNNING: "accent",
    RunStatus.PAUSED: "warning",
    RunStatus.SUCCEEDED: "success",
    RunStatus.FAILED: "error",
    RunStatus.ROLLED_BACK: "warning",
    RunStatus.ABORTED: "error",
}


def middle_ellipsis(text: str, room: int) -> str:
    """``text`` in at most ``room`` cells: when it must be cut, from the middle, so that titles
    that share a beginning ("3.2 Paso 2: Instalar …") keep the ends that tell them apart."""
    from rich.cells import cell_len, set_cell_size

    if cell_len(text) <= room:
        return text
    if room <= 1:
        return "…"[: max(room, 0)]
    head = max(1, (room - 1) // 3)
    tail = room - 1 - head
    ending = set_cell_size(text[::-1], tail)[::-1] if tail else ""
    return set_cell_size(text, head) + "…" + ending
