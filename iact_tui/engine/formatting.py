"""How times, durations, sizes and statuses read, for every front end and the exported documents.

Two registers: the documents (``utc_time``, ``duration``: "2026-11-26 06:36:06 UTC", "2 min 03 s")
and the screen, where space is short (``local_time``, ``short_duration``, ``clock``: "3m04s",
"03:04").
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def utc_time(value: str | datetime | None) -> str:
    """A recorded timestamp as ``YYYY-MM-DD HH:MM:SS UTC``."""
    if not value:
        return ""
    t = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if t.tzinfo is not None:
        t = t.astimezone(UTC)
    return t.strftime("%Y-%m-%d %H:%M:%S UTC")


def local_time(iso: str) -> str:
    """A recorded UTC timestamp as local ``YYYY-MM-DD HH:MM``."""
    if not iso:
        return ""
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso


def duration(seconds: float | None) -> str:
    """For documents: ``250 ms``, ``4.2 s``, ``2 min 03 s``, ``1 h 05 min``."""
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{round(seconds * 1000)} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def short_duration(seconds: float | None) -> str:
    """For the screen, short and stable: ``<1s``, ``42s``, ``3m04s``, ``1h02m``."""
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


def seconds_between(start: str, end: str) -> float | None:
    """Seconds between two recorded timestamps (None when either is missing or unreadable)."""
    if not start or not end:
        return None
    try:
        return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except ValueError:
        return None


def byte_size(size: int) -> str:
    """``512 bytes``, ``1.5 MiB (1,572,864 bytes)``."""
    if size < 1024:
        return f"{size} bytes"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{value:.1f} {unit} ({size:,} bytes)"


def number(value: Any) -> str:
    """``0.5`` and ``12`` as written, ``12.0`` as ``12``."""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def words(status: str) -> str:
    """A status as words: ``not_applicable`` -> ``not applicable``."""
    return status.replace("_", " ")


# What a terminal would act on rather than show: C0 and C1 controls (ESC starts CSI and OSC
# sequences: colours, a cleared screen, a new window title), DEL, the line and paragraph
# separators, and the bidirectional overrides that reorder what a reader sees (Trojan Source).
_VISIBLE = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def printable(text: object) -> str:
    """``text`` as one harmless line for a terminal: text that came from people (names, notes,
    reasons) or from a run's records, printed by the headless output, ``tick`` and ``show``.
    Line breaks and tabs read as ``\\n``, ``\\r``, ``\\t``; every other control character as
    ``\\xNN`` (so ``ESC[31m`` shows as ``\\x1b[31m``, inert), separators and bidi overrides as
    ``\\uNNNN``. Backslashes are kept: printing it twice changes nothing. The records keep the
    text as typed; only what is printed is neutralised."""
    s = text if isinstance(text, str) else str(text)
    if s.isprintable() and not (_BIDI & set(s)):
        return s
    out = []
    for ch in s:
        if ch in _VISIBLE:
            out.append(_VISIBLE[ch])
        elif ch in _BIDI or ch in "\u2028\u2029":
            out.append(f"\\u{ord(ch):04x}")
        elif ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


def printable_lines(text: object) -> list[str]:
    """Text meant to span lines (instructions, a command, output): each line made printable."""
    s = text if isinstance(text, str) else str(text)
    return [printable(line) for line in s.splitlines()]
