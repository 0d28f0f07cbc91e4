"""``{name}`` placeholders: find them, fill them, shell-quote what goes into a command.

Rules (README "Placeholders"): ``{name}`` with an identifier inside is ours; ``{{`` and ``}}``
are literal braces; a ``{`` right after ``$`` belongs to the shell (``${HOME}``), and anything
else in braces (``awk '{print $1}'``) passes through untouched.
"""

from __future__ import annotations

import re
import shlex
import urllib.parse
from collections.abc import Callable, Container, Iterable, Mapping

from iact_tui.engine.errors import IactError

_TOKEN = re.compile(r"\{\{|\}\}|(?<!\$)\{([A-Za-z_][A-Za-z0-9_]*)\}")


class MissingValue(IactError, KeyError):
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


def fill_only(text: str, fill: Mapping[str, str], *, url: bool = False) -> str:
    """Fill only the placeholders named in ``fill``; every other character of ``text`` stays as
    written (``{{``, ``}}``, other names). For a variable's value that may name the host a step
    runs on (``"http://{host_address}:8000/api/health"``). ``url``: each value is encoded for
    its part of the URL (``url_quote``), as a placeholder of the step's own would be."""

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if not name or name not in fill:
            return m.group(0)
        value = fill[name]
        return url_quote(value, url_part(text, m.start())) if url else value

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


# -- URLs -------------------------------------------------------------------------------------


def url_part(text: str, start: int) -> str:
    """Where in a URL template the placeholder at offset ``start`` stands: ``base`` (at the very
    start: a whole or base URL), ``authority`` (scheme, user, host, port), ``path``, ``query`` or
    ``fragment``. Decided by the template's own characters, never by a value."""
    if start == 0:
        return "base"
    first = _TOKEN.match(text)
    part = (
        "path" if first is not None and first.group(1) else "scheme"
    )  # after a base URL: its path
    literal = _TOKEN.sub(
        lambda m: "{" if m.group(0) == "{{" else "}" if m.group(0) == "}}" else "\0", text[:start]
    )
    i = 0
    while i < len(literal):
        c = literal[i]
        if part == "scheme":
            if literal.startswith("://", i):
                part = "authority"
                i += 3
                continue
            if c in "/?#":
                part = {"/": "path", "?": "query", "#": "fragment"}[c]
        elif part == "authority":
            if c in "/?#":
                part = {"/": "path", "?": "query", "#": "fragment"}[c]
        elif part == "path":
            if c in "?#":
                part = "query" if c == "?" else "fragment"
        elif part == "query" and c == "#":
            part = "fragment"
        i += 1
    return "authority" if part == "scheme" else part


def url_quote(value: str, part: str, *, path: bool = False) -> str:
    """A value percent-encoded for its part of a URL: in the path, query and fragment every
    character but letters, digits and ``-._~`` is encoded (``/``, ``?``, ``#``, ``&``, ``=``,
    ``%`` too), and a value made only of dots (``..``) has its dots encoded, so that it can never
    add a path segment, step out of one, start a query or end it. In the base and authority
    parts the value is inserted as written."""
    if part in ("base", "authority"):
        return value
    if (
        path and part == "path"
    ):  # a variable declared url_path = true: its '/' stay, each segment is encoded
        return "/".join(url_quote(segment, part) for segment in value.split("/"))
    quoted = urllib.parse.quote(value, safe="")
    if value and set(value) == {"."}:
        quoted = "%2E" * len(value)
    return quoted


def render_url(
    text: str,
    lookup: Callable[[str], str],
    *,
    raw: Callable[[str], bool] | None = None,
    paths: Container[str] = (),
) -> str:
    """Fill a URL template, each value encoded for the part of the URL it stands in
    (``url_quote``); ``raw(value)`` true: insert that value as it is (masked display text);
    a name in ``paths`` (``url_path = true``) keeps its '/' in the path part."""

    def quote(m: re.Match[str]) -> str:
        token = m.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        value = lookup(m.group(1))
        if raw is not None and raw(value):
            return value
        return url_quote(value, url_part(text, m.start()), path=m.group(1) in paths)

    return _TOKEN.sub(quote, text)
