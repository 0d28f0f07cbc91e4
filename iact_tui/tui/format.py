"""How states, durations and times read on screen (one place, so every pane agrees)."""

from __future__ import annotations

from datetime import datetime

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


def words(state: str) -> str:
    """``not_applicable`` -> ``not applicable``."""
    return state.replace("_", " ")


def duration(seconds: float | None) -> str:
    """Short and stable: ``<1s``, ``42s``, ``3m04s``, ``1h02m``."""
    if seconds is None:
        return ""
    if seconds < 1:
        return "<1s"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def clock(seconds: float) -> str:
    """Elapsed time as ``MM:SS`` or ``H:MM:SS``."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def local_time(iso: str) -> str:
    """A recorded UTC timestamp as local ``YYYY-MM-DD HH:MM``."""
    if not iso:
        return ""
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso


def span(start: str, end: str) -> float | None:
    """Seconds between two recorded timestamps (None when either is missing)."""
    if not start or not end:
        return None
    try:
        return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except ValueError:
        return None
