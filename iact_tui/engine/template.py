"""``{name}`` placeholders: find them, fill them, shell-quote what goes into a command.

Rules (README "Placeholders"): ``{name}`` with an identifier inside is ours; ``{{`` and ``}}``
are literal braces; a ``{`` right after ``$`` belongs to the shell (``${HOME}``), and anything
else in braces (``awk '{print $1}'``) passes through untouched.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterable, Mapping

_TOKEN = re.compile(r"\{\{|\}\}|(?<!\$)\{([A-Za-z_][A-Za-z0-9_]*)\}")


class MissingValue(KeyError):
    """A placeholder names a value that is not (yet) known."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"no value for {{{self.name}}}"


def names(text: str) -> list[str]:
    """The placeholder names used in ``text``, in order of first use."""
    seen: dict[str, None] = {}
    for m in _TOKEN.finditer(text):
        if m.group(1):
            seen.setdefault(m.group(1), None)
    return list(seen)


def names_in(value: object) -> list[str]:
    """Placeholder names anywhere in a string, list or dict (keys and values)."""
    found: dict[str, None] = {}
    for text in _strings(value):
        for n in names(text):
            found.setdefault(n, None)
    return list(found)


def _strings(value: object) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


def render(
    text: str,
    lookup: Callable[[str], str],
    *,
    quote: Callable[[str, str], str] | None = None,
) -> str:
    """Fill ``text``; ``quote(name, value)`` transforms each substituted value."""

    def sub(m: re.Match[str]) -> str:
        token = m.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        name = m.group(1)
        value = lookup(name)
        return quote(name, value) if quote else value

    return _TOKEN.sub(sub, text)


def render_value(value: object, lookup: Callable[[str], str]) -> object:
    """Fill every string inside a JSON-like value (for HTTP headers and bodies)."""
    if isinstance(value, str):
        return render(value, lookup)
    if isinstance(value, Mapping):
        return {render(str(k), lookup): render_value(v, lookup) for k, v in value.items()}
    if isinstance(value, list):
        return [render_value(v, lookup) for v in value]
    return value


def shell_quote(value: str) -> str:
    return shlex.quote(value)


QUOTED_PLACEHOLDER = re.compile(r"""(['"])\{[A-Za-z_][A-Za-z0-9_]*\}\1""")


def quoted_placeholders(text: str) -> list[str]:
    """Placeholders wrapped in quotes in a command: they would be quoted twice."""
    return [m.group(0) for m in QUOTED_PLACEHOLDER.finditer(text)]
