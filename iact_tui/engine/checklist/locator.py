"""Line numbers for problems: where a data path (``phases[2].steps[3].kind``) stands in the TOML text."""

from __future__ import annotations

import bisect
import re
import tomllib
from collections.abc import Iterable

Loc = tuple[int | str, ...]  # a path into the checklist's data: ("phases", 2, "steps", 3, "kind")


class Locator:
    """Maps a data path (``phases[2].steps[3].kind``) to its line in the TOML text.

    tomllib keeps no positions, so this scans the (already valid) text once, on first use:
    table headers (``[[phases.alternatives.steps]]`` included), keys, dotted keys, inline
    tables and array items, skipping strings and comments. ``line_of`` answers with the
    nearest enclosing entry it knows.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self._lines: dict[Loc, int] | None = None

    @property
    def lines(self) -> dict[Loc, int]:
        if self._lines is None:
            self._lines = {}
            try:
                _TomlScanner(self.text, self._lines).scan()
            except (IndexError, ValueError, tomllib.TOMLDecodeError):
                # Positions are a courtesy: a text the scanner misreads keeps what it found.
                pass
        return self._lines

    def line_of(self, loc: Iterable[int | str]) -> int | None:
        loc = tuple(loc)
        lines = self.lines
        while loc:
            if loc in lines:
                return lines[loc]
            loc = loc[:-1]
        return None


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


class _TomlScanner:
    def __init__(self, text: str, lines: dict[Loc, int]) -> None:
        self.s = text
        self.i = 0
        self.out = lines
        self.newlines = [m.start() for m in re.finditer("\n", text)]
        self.counters: dict[Loc, int] = {}  # array-of-tables path -> index of its last element

    def line(self, pos: int | None = None) -> int:
        return bisect.bisect_left(self.newlines, self.i if pos is None else pos) + 1

    def record(self, loc: Loc, pos: int) -> None:
        line = self.line(pos)
        # tables made implicitly by a header or dotted key ([variables.x]) start there too
        for end in range(1, len(loc) + 1):
            self.out.setdefault(loc[:end], line)

    # -- lexical helpers ---------------------------------------------------------------------

    def skip_space(self, newlines: bool) -> None:
        s, n = self.s, len(self.s)
        while self.i < n:
            c = s[self.i]
            if c in " \t\r" or (newlines and c == "\n"):
                self.i += 1
            elif c == "#":
                end = s.find("\n", self.i)
                self.i = n if end < 0 else end
            else:
                return

    def key(self) -> list[str]:
        parts: list[str] = []
        while True:
            self.skip_space(False)
            c = self.s[self.i]
            if c in "\"'":
                start = self.i
                self.string()
                raw = self.s[start : self.i]
                parts.append(tomllib.loads(f"k = {raw}")["k"] if c == '"' else raw[1:-1])
            else:
                m = _BARE_KEY.match(self.s, self.i)
                if not m:
                    raise ValueError(f"no key at offset {self.i}")
                parts.append(m.group(0))
                self.i = m.end()
            self.skip_space(False)
            if self.i < len(self.s) and self.s[self.i] == ".":
                self.i += 1
                continue
            return parts

    def string(self) -> None:
        s = self.s
        for quote in ('"""', "'''"):
            if s.startswith(quote, self.i):
                j = self.i + 3
                j = s.index(quote, j) if quote == "'''" else self._basic_end(j, quote)
                # up to two quotes of the content may stand right before the closing three
                while s.startswith(quote[0], j + 3):
                    j += 1
                self.i = j + 3
                return
        q = s[self.i]
        self.i = s.index("'", self.i + 1) + 1 if q == "'" else self._basic_end(self.i + 1, '"') + 1

    def _basic_end(self, j: int, closing: str) -> int:
        s = self.s
        while True:
            c = s[j]
            if c == "\\":
                j += 2
            elif s.startswith(closing, j):
                return j
            else:
                j += 1

    # -- structure ---------------------------------------------------------------------------

    def scan(self) -> None:
        s = self.s
        table: Loc = ()
        guard = len(s) + 1
        while guard:
            guard -= 1
            self.skip_space(True)
            if self.i >= len(s):
                return
            start = self.i
            if s.startswith("[[", self.i):
                self.i += 2
                parts = self.key()
                self.i = s.index("]]", self.i) + 2
                table = self.resolve(parts, array=True)
            elif s[self.i] == "[":
                self.i += 1
                parts = self.key()
                self.i = s.index("]", self.i) + 1
                table = self.resolve(parts, array=False)
            else:
                parts = self.key()
                loc = (*table, *parts)
                self.record(loc, start)
                self.i = s.index("=", self.i) + 1
                self.value(loc)
                continue
            self.record(table, start)

    def resolve(self, parts: list[str], array: bool) -> Loc:
        loc: Loc = ()
        for n, part in enumerate(parts):
            loc = (*loc, part)
            if array and n == len(parts) - 1:
                index = self.counters.get(loc, -1) + 1
                self.counters[loc] = index
                loc = (*loc, index)
            elif loc in self.counters:
                loc = (*loc, self.counters[loc])
        return loc

    def value(self, loc: Loc) -> None:
        self.skip_space(False)
        s = self.s
        c = s[self.i]
        if c in "\"'":
            self.string()
        elif c == "[":
            self.i += 1
            index = 0
            while True:
                self.skip_space(True)
                if s[self.i] == "]":
                    self.i += 1
                    return
                self.record((*loc, index), self.i)
                self.value((*loc, index))
                self.skip_space(True)
                if s[self.i] == ",":
                    self.i += 1
                index += 1
        elif c == "{":
            self.i += 1
            while True:
                self.skip_space(True)
                if s[self.i] == "}":
                    self.i += 1
                    return
                start = self.i
                parts = self.key()
                self.record((*loc, *parts), start)
                self.i = s.index("=", self.i) + 1
                self.value((*loc, *parts))
                self.skip_space(True)
                if s[self.i] == ",":
                    self.i += 1
        else:
            # a number, boolean or date: up to the next separator
            while self.i < len(s) and s[self.i] not in ",]}#\n":
                self.i += 1
