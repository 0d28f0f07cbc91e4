"""Modal dialogs: each asks one thing and dismisses with the answer (None: not answered)."""

from __future__ import annotations

from typing import Any

from textual.widgets import Button


def button(label: str, **kwargs: Any) -> Button:
    """The dialogs' buttons: compact (one line), so that a dialog fits an 80×24 terminal."""
    return Button(label, compact=True, **kwargs)
