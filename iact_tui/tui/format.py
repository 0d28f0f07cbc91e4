"""How states, durations and times read on screen (one place, so every pane agrees): the icons and
colours here; the words, times and durations come from the engine's formatting, which the
exported documents and `iact-tui verify` use too."""

from __future__ import annotations

import itertools

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


# -- titles beside their siblings -----------------------------------------------------------------

WORD = 12  # of the word that tells a title from its siblings, at least this much is kept


def sibling_overlaps(titles: list[str]) -> list[tuple[int, int]]:
    """For each title, how many characters it shares at its start and at its end with the
    sibling most like it (another, different title of the list): what comes between is what
    tells it from its siblings. Sorted neighbours are the most alike, so this is n log n."""

    def longest_shared(texts: list[str]) -> list[int]:
        order = sorted(set(texts))
        shared = dict.fromkeys(order, 0)
        for a, b in itertools.pairwise(order):
            n = _common_start(a, b)
            shared[a] = max(shared[a], n)
            shared[b] = max(shared[b], n)
        return [shared[t] for t in texts]

    starts = longest_shared(titles)
    ends = longest_shared([t[::-1] for t in titles])
    return list(zip(starts, ends, strict=True))


def fit_title(text: str, room: int, overlap: tuple[int, int] | None = None) -> str:
    """``text`` in at most ``room`` cells, told apart from its siblings (``overlap``: what it
    shares with the most alike of them, from ``sibling_overlaps``). Cut from the middle when its
    kept start or end still holds what differs ("3.2 Pa…ncias Python"); else the start it shares
    with a sibling gives way ("…Database connection", "…primary app server th…")."""
    from rich.cells import cell_len, set_cell_size

    if cell_len(text) <= room:
        return text
    shown = middle_ellipsis(text, room)
    if overlap is None or room <= 1 or overlap == (0, 0) or overlap[0] >= len(text):
        return shown  # (a title that is the start of a sibling's: nothing of its own to keep)
    first, last = overlap  # first: the first character that differs; last: from the end
    head = max(1, (room - 1) // 3)
    # the word that differs, whole (up to WORD characters of it) in the part kept at the start
    # or at the end, tells it apart ("3.2 Pa…ncias Python"): cut from the middle, as any title
    kept = _chars_in(text, head)
    word_end = text.find(" ", first) % (len(text) + 1)
    if kept - first >= min(WORD, word_end - first):
        return shown
    final = len(text) - 1 - last  # the last character that differs
    kept_from = len(text) - _chars_in(text[::-1], room - 1 - head)
    word_start = text.rfind(" ", 0, final) + 1
    if final - kept_from + 1 >= min(WORD, final - word_start + 1):
        return shown
    start = text.rfind(" ", 0, first) + 1  # from the start of the word that differs …
    if first - start >= max(room - 3, 1):
        start = first  # … unless that word leaves the difference no room
    rest = text[start:]
    spare = room - 1 - cell_len(rest)
    if spare >= 0:  # room to spare: the title's start before it ("3.2 Mig…primary app …")
        return (set_cell_size(text, spare).rstrip() if spare >= 4 else "") + "…" + rest
    if room <= 2:
        return "…" + set_cell_size(rest, room - 1)
    return "…" + set_cell_size(rest, room - 2).rstrip() + "…"


def fit_siblings(titles: list[str], room: int) -> list[str]:
    """Each of ``titles`` in ``room`` cells, each told apart from the others."""
    return [fit_title(t, room, o) for t, o in zip(titles, sibling_overlaps(titles), strict=True)]


def _common_start(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _chars_in(text: str, cells: int) -> int:
    """How many of ``text``'s first characters fit in ``cells``."""
    from rich.cells import get_character_cell_size

    used = 0
    for i, char in enumerate(text):
        used += get_character_cell_size(char)
        if used > cells:
            return i
    return len(text)
