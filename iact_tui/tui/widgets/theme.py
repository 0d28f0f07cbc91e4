"""Theme colours for rich Text built in code (labels of trees and tables follow the theme)."""

from __future__ import annotations

from rich.style import Style
from textual.color import Color, ColorParseError
from textual.dom import DOMNode


def theme_style(node: DOMNode, variable: str, *, bold: bool = False) -> Style:
    """A rich Style in the colour of a theme variable (``success``, ``error`` ...)."""
    try:
        value = node.app.theme_variables.get(variable, "")
        colour = Color.parse(value).rich_color if value else None
    except (ColorParseError, LookupError, AttributeError):
        colour = None
    return Style(color=colour, bold=bold)
