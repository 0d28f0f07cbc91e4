"""Redaction of secrets by value: every form a secret is likely to be written in becomes ``***``.

Used wherever text leaves the run: the screen, logs, the report, exports and notices.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from typing import Any

MASK = "***"


class Redactor:
    """Replaces every known secret value, in every form it is likely to be written in, with ``***``.

    The forms: the value itself; each line of a multi-line value (8+ characters); JSON-escaped
    (``\\/``, ``\\"``, ``\\n``, ``\\uXXXX`` for any character, either case, surrogate pairs);
    percent-encoded with any safe set (``%2F`` or ``%2f`` or ``/``, ``+`` for a space); any mix
    of those; and for values of 8+ characters, base64 and base64url with and without padding,
    also inside the base64 of a longer text (``user:password`` in HTTP basic auth): the
    characters that depend only on the secret, at each of the three alignments, are masked
    (the one or two characters at each edge, mixed with the neighbouring bytes, are left).

    Linear in the text: the plain and base64 forms are literal strings (looked for with ``in``,
    then replaced by one compiled alternation, longest first); an escaped form has a ``%`` or a
    ``\\`` (or a ``+``) in it, so only a text with one goes through the compiled pattern of the
    escaped forms (each branch starts with a literal character, so the regex engine skips ahead).
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: list[str] = []
        self._literals: list[str] = []  # exact forms, longest first
        self._detect: list[str] = []  # the fewest literals whose absence rules all of them out
        self._escaped: list[str] = []  # regex sources of the escaped forms, longest secret first
        self.multiline: list[str] = []  # multi-line secrets, line breaks as "\n"
        self.span = 0  # the longest text one match can cover
        self._triggers: tuple[str, ...] = ()
        self._rx_literal: re.Pattern[str] | None = None
        self._rx_escaped: re.Pattern[str] | None = None
        self._rx_all: re.Pattern[str] | None = None
        self._starred = False
        for s in secrets:
            self.add(s)

    def add(self, secret: str) -> None:
        if not secret or secret in self._secrets:
            return
        self._secrets.append(secret)
        self._build()

    def _build(self) -> None:
        literals: set[str] = set()
        escaped: dict[str, int] = {}  # pattern -> the longest text it matches
        multiline: list[str] = []
        for secret in self._secrets:
            plain = secret.replace("\r\n", "\n")
            literals |= {secret, plain, plain.replace("\n", "\r\n")}
            parts = [secret, plain]
            if "\n" in plain.strip("\n"):  # a key, a certificate: also line by line
                multiline.append(plain.strip("\n"))
                parts.append(plain.strip("\n"))
                parts += [
                    line.strip() for line in plain.split("\n") if len(line.strip()) >= MIN_ENCODED
                ]
            for part in parts:
                literals.add(part)
                pattern, longest = _escaped_pattern(part)
                escaped[pattern] = longest
            if len(secret) >= MIN_ENCODED:
                literals |= _base64_forms(secret)
                if plain != secret:
                    literals |= _base64_forms(plain)
        literals.discard("")
        self._literals = sorted(literals, key=len, reverse=True)
        self._detect = [
            n for n in self._literals if not any(o != n and o in n for o in self._literals)
        ]
        self._escaped = sorted(escaped, key=escaped.__getitem__, reverse=True)
        self.multiline = sorted(set(multiline), key=len, reverse=True)
        self.span = max([len(n) for n in self._literals] + list(escaped.values()))
        self._triggers = ("%", "\\", "+") if any(" " in s for s in self._secrets) else ("%", "\\")
        self._rx_literal = re.compile("|".join(map(re.escape, self._literals)))
        self._rx_escaped = re.compile("|".join(self._escaped))
        self._rx_all = re.compile("|".join([*map(re.escape, self._literals), *self._escaped]))
        self._starred = any("*" in s for s in self._secrets)

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def __call__(self, text: str) -> str:
        if not self._secrets or not text:
            return text
        for _ in range(3):  # a secret with '*' in it could be re-formed around a mask: again
            masked = self._once(text)
            if masked == text or not self._starred:
                return masked
            text = masked
        return text

    def _once(self, text: str) -> str:
        assert self._rx_literal is not None and self._rx_escaped is not None
        # escaped forms first: masking a line of a multi-line secret literally would break the
        # escaped form of the whole secret (``ab\\ncdefghijkl``) and leave its short line behind
        if any(t in text for t in self._triggers):  # an escaped form has one of these
            text = self._rx_escaped.sub(MASK, text)
        for needle in self._detect:
            if needle in text:
                text = self._rx_literal.sub(MASK, text)
                break
        return text

    def safe_cut(self, text: str, cut: int) -> int:
        """Where ``text`` can be split, at ``cut`` or after it, with no form of a secret across
        the split. Pass ``cut <= len(text) - span`` so that every match that starts before the
        split is complete in ``text``."""
        if not self._secrets or self._rx_all is None:
            return cut
        end = cut
        for m in self._rx_all.finditer(text):
            if m.start() >= cut:
                break
            end = max(end, m.end())
        return end

    def held_lines(self, block: str, after: str = "") -> int:
        """Where the trailing lines of ``block`` (complete lines, followed by the incomplete
        line ``after``) may be the start of a multi-line secret whose rest has not arrived yet:
        they wait for it. ``len(block)`` when nothing needs to wait."""
        best = len(block)
        after = after.replace("\r\n", "\n").removesuffix("\r")
        for secret in self.multiline:
            first = secret.partition("\n")[0]
            pos = len(block)
            for _ in range(secret.count("\n") + 1):
                if pos <= 0:
                    break
                pos = block.rfind("\n", 0, pos - 1) + 1
                line, _, rest = block[pos:].replace("\r\n", "\n").partition("\n")
                if not line.endswith(first):
                    continue
                head = first + "\n" + rest
                seen = head + after
                # the secret goes on past these lines, or ends in the line still to complete
                if secret.startswith(seen) or (len(head) < len(secret) and seen.startswith(secret)):
                    best = min(best, pos)
        return best

    def value(self, value: Any) -> Any:
        """Redact every string inside a JSON-like value."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, tuple):
            return tuple(self.value(v) for v in value)
        return value


MIN_ENCODED = 8  # base64 forms, and lines of a multi-line secret, are masked from this length on

_JSON_SHORT = {
    '"': '\\"',
    "\\": "\\\\",
    "/": "\\/",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


def _hex(number: int, width: int) -> str:
    """Hex digits that match in either case."""
    return "".join(f"[{d}{d.lower()}]" if d.isalpha() else d for d in f"{number:0{width}X}")


def _escaped_pattern(secret: str) -> tuple[str, int]:
    """A pattern for the secret with any of its characters JSON-escaped or percent-encoded, and
    the length of the longest text it matches."""
    parts: list[list[str]] = []
    longest = 0
    for c in secret:
        alts = [re.escape(c)]
        size = 1
        if c in _JSON_SHORT:
            alts.append(re.escape(_JSON_SHORT[c]))
        code = ord(c)
        if code > 0xFFFF:
            code -= 0x10000
            alts.append(
                r"\\u" + _hex(0xD800 + (code >> 10), 4) + r"\\u" + _hex(0xDC00 + (code & 0x3FF), 4)
            )
            size = 12
        else:
            alts.append(r"\\u" + _hex(code, 4))
            size = 6
        data = c.encode("utf-8", "surrogatepass")
        alts.append("".join("%" + _hex(b, 2) for b in data))
        size = max(size, 3 * len(data))
        if c == " ":
            alts.append(r"\+")
        parts.append(alts)
        longest += size
    # the first character's forms as branches of their own, each starting with a literal: the
    # regex engine then skips ahead to where one of them can begin instead of trying every position
    rest = "".join("(?:" + "|".join(alts) + ")" for alts in parts[1:])
    return "|".join(first + rest for first in parts[0]), longest


def _base64_forms(secret: str) -> set[str]:
    """base64 and base64url of the secret, padded and not, and the characters that encode only
    the secret inside the base64 of a longer text, at each of the three byte alignments."""
    data = secret.encode("utf-8", "surrogatepass")
    full = base64.b64encode(data).decode()
    forms = {full, full.rstrip("=")}
    for before in (0, 1, 2):
        encoded = base64.b64encode(b"\0" * before + data).decode()
        first = -(-8 * before // 6)  # the first character made of the secret's bits only
        last = 8 * (before + len(data)) // 6  # one past the last such character
        forms.add(encoded[first:last])
    url = str.maketrans("+/", "-_")
    return forms | {f.translate(url) for f in forms}
