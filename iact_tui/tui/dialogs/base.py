"""The dialogs' one shape: a modal box that asks one thing and dismisses with the answer.

Escape, and a button made with ``close_button`` (Later, Cancel, No, Close), close a dialog without
an answer: it dismisses with ``CLOSED`` (None, or what "no" means for it), and the screen that
opened it gets that in its callback.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from textual import on
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen
from textual.widgets import Button

T = TypeVar("T")

CLOSES = "dialog-close"  # the class of a button that closes the dialog without an answer


class Dialog(ModalScreen[T]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", id="dialog-close", tooltip="Close without an answer"),
    ]
    CLOSED: ClassVar[Any] = None  # the answer of a dialog closed without one

    def __init__(self) -> None:
        super().__init__(classes="dialog")

    def action_close(self) -> None:
        self.dismiss(self.CLOSED)

    @on(Button.Pressed, f".{CLOSES}")
    def _close_pressed(self) -> None:
        self.action_close()


def button(label: str, **kwargs: Any) -> Button:
    """The dialogs' buttons: compact (one line), so that a dialog fits an 80×24 terminal."""
    return Button(label, compact=True, **kwargs)


def close_button(label: str, **kwargs: Any) -> Button:
    """A button that closes the dialog without an answer."""
    return button(label, classes=CLOSES, **kwargs)
