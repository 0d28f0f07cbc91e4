"""Variable values, captures and redaction of secrets by value."""

from __future__ import annotations

import base64
import os
import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from iact_tui.engine.checklist import template
from iact_tui.engine.checklist.model import Checklist

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
                parts += [line.strip() for line in plain.split("\n") if len(line.strip()) >= MIN_ENCODED]
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
        self._detect = [n for n in self._literals if not any(o != n and o in n for o in self._literals)]
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
        for needle in self._detect:
            if needle in text:
                text = self._rx_literal.sub(MASK, text)
                break
        if any(t in text for t in self._triggers):  # an escaped form has one of these
            text = self._rx_escaped.sub(MASK, text)
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

_JSON_SHORT = {'"': '\\"', "\\": "\\\\", "/": "\\/", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


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
            alts.append(r"\\u" + _hex(0xD800 + (code >> 10), 4) + r"\\u" + _hex(0xDC00 + (code & 0x3FF), 4))
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


class MissingVariable(Exception):
    def __init__(self, name: str, hint: str = "") -> None:
        super().__init__(name)
        self.name = name
        self.hint = hint

    def __str__(self) -> str:
        return f"variable '{self.name}' has no value{': ' + self.hint if self.hint else ''}"


def truthy(value: str) -> bool:
    return value.strip().lower() not in ("", "0", "false", "no", "off", "none")


@dataclass
class Values:
    """The values a run substitutes: variables, built-ins and captures; knows which are secret."""

    checklist: Checklist
    values: dict[str, str] = field(default_factory=dict)
    secret_names: set[str] = field(default_factory=set)
    redactor: Redactor = field(default_factory=Redactor)

    @classmethod
    def resolve(
        cls,
        checklist: Checklist,
        overrides: Mapping[str, str],
        *,
        builtins: Mapping[str, str] = {},
        environ: Mapping[str, str] | None = None,
    ) -> Values:
        """Defaults < environment (``env =``) < ``--var``. Missing ones stay absent."""
        environ = os.environ if environ is None else environ
        v = cls(checklist, secret_names=checklist.secret_names())
        v.values.update(builtins)
        for name, spec in checklist.vars.items():
            if spec.default is not None:
                v.values[name] = _text(spec.default)
            if spec.env and environ.get(spec.env):
                v.values[name] = environ[spec.env]
        for name, value in overrides.items():
            v.values[name] = value
        for name in v.secret_names:
            if name in v.values:
                v.redactor.add(v.values[name])
        return v

    def missing(self) -> list[str]:
        return [n for n in self.checklist.vars if n not in self.values]

    def set(self, name: str, value: str, *, secret: bool | None = None) -> None:
        self.values[name] = value
        if secret or name in self.secret_names:
            self.secret_names.add(name)
            self.redactor.add(value)

    def is_secret(self, name: str) -> bool:
        return name in self.secret_names

    def lookup(self, name: str) -> str:
        try:
            return self.values[name]
        except KeyError:
            raise template.MissingValue(name) from None

    def masked_lookup(self, name: str) -> str:
        """For display: secrets as ***, unknown captures as <name>."""
        if name in self.secret_names:
            return MASK
        return self.values.get(name, f"<{name}>")

    def shell_quote(self, name: str, value: str) -> str:
        spec = self.checklist.vars.get(name)
        if spec is not None and spec.command:
            return value
        return shlex.quote(value)

    def command(self, text: str) -> str:
        """A command with every value shell-quoted (command variables inserted as written).
        Raises UnsafeSubstitution, before anything runs, for a value that starts with '-' where
        its variable does not declare ``option = true`` (a capture, for one)."""

        def quote(name: str, value: str) -> str:
            if option_like(value) and not may_be_option(self.checklist, name):
                raise UnsafeSubstitution(option_message(name, value, "", secret=self.is_secret(name)))
            return self.shell_quote(name, value)

        return template.render(text, self.lookup, quote=quote)

    def display_command(self, text: str) -> str:
        """For display: secrets masked, also where another value contains one."""
        rendered = template.render(
            text,
            self.masked_lookup,
            quote=lambda n, v: v if v == MASK or v.startswith("<") else self.shell_quote(n, v),
        )
        return self.redactor(rendered)

    def text(self, text: str) -> str:
        return template.render(text, self.lookup)

    def display_text(self, text: str) -> str:
        return self.redactor(template.render(text, self.masked_lookup))

    def public(self) -> dict[str, str]:
        """Variables that may be written to a report: no secrets, no built-ins, and exactly as
        given (a resume runs with them). A value that a mask would change is never written
        masked: ``unsafe_values`` refuses it at start, and here it raises UnsafeValues."""
        out = {
            k: v for k, v in self.values.items() if k in self.checklist.vars and k not in self.secret_names
        }
        problems = unsafe_values(self)
        if problems:
            raise UnsafeValues(problems[0])
        return out


MIN_SECRET_LENGTH = 4  # a shorter secret cannot be masked by value without mangling other text


class UnsafeValues(ValueError):
    """A run cannot start with these values: a secret too short to mask, or a plain value that
    contains a secret (it would be recorded masked and come back wrong on resume)."""


def unsafe_values(values: Values) -> list[str]:
    """Why these values cannot be used for a run (one sentence each; empty: they can).

    - a secret variable's value shorter than MIN_SECRET_LENGTH characters: masking it by value
      would replace those characters in every output, the report and the recorded variables;
    - a non-secret variable whose value contains a secret's value (in any form the masker
      hides): it would be recorded masked, and a resume would run with the masked text.
    Only values present are checked (a secret asked later is checked when it is given)."""
    problems: list[str] = []
    secrets = {
        n: values.values[n] for n in sorted(values.secret_names) if n in values.checklist.vars and values.values.get(n)
    }
    for name, secret in secrets.items():
        if len(secret) < MIN_SECRET_LENGTH:
            problems.append(
                f"the secret '{name}' is {len(secret)} character{'s' if len(secret) != 1 else ''} long: secrets "
                f"shorter than {MIN_SECRET_LENGTH} characters cannot be masked safely (every occurrence of it in "
                f"any output would be masked too); use a longer value"
            )
    for name in values.checklist.vars:
        if name in values.secret_names or name not in values.values:
            continue
        value = values.values[name]
        for secret_name, secret in secrets.items():
            if len(secret) >= MIN_SECRET_LENGTH and Redactor([secret])(value) != value:
                problems.append(
                    f"variable '{name}' contains the value of the secret '{secret_name}': it would be recorded "
                    f"masked and a resume would run with the masked text; use another value for '{name}' or "
                    f"for '{secret_name}'"
                )
                break
    return problems


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# -- values that would change what a command or a request does -----------------------------------


class UnsafeSubstitution(ValueError):
    """A value cannot be substituted where a step puts it: a value starting with '-' in a
    command (it could be taken as an option), a line break in an HTTP header. The message names
    the variable and the step, never a secret's value; nothing was run or sent."""


def option_like(value: str) -> bool:
    """A value a command could take as an option (``--upload-pack=...``, ``-x``)."""
    return value.startswith("-")


def may_be_option(checklist: Checklist, name: str) -> bool:
    """Whether ``{name}`` may hold a value starting with '-' in a command: declared so
    (``option = true``), a shell fragment (``command = true``), or a built-in (set by iact-tui)."""
    from iact_tui.engine.checklist.load import BUILTIN_VARS  # load.py imports nothing from here

    spec = checklist.vars.get(name)
    if spec is not None:
        return spec.option or spec.command
    return name in BUILTIN_VARS


def option_message(name: str, value: str, step_id: str, *, secret: bool) -> str:
    shown = "the secret value" if secret else f"value {value[:40]!r}"
    command = f"the command of step '{step_id}'" if step_id else "the command"
    return (
        f"variable '{name}' ({shown}) starts with '-': {command} could take "
        f"it as an option; give a value without the leading '-', or, if it may be an option, "
        f"declare option = true in [vars.{name}]"
    )


def header_message(name: str, where: str, step_id: str) -> str:
    return (
        f"variable '{name}' contains a line break (CR or LF) and fills the {where} of step "
        f"'{step_id}': it would add or split HTTP headers; remove the line break"
    )


def injection_problems(values: Values) -> list[str]:
    """Values that would change what a step does (one sentence each; empty: none).

    - a value starting with '-' substituted into the command (``run``) of an ssh or local step,
      unless its variable declares ``option = true`` (or is a ``command = true`` fragment):
      shell quoting stops word splitting, not a tool reading the word as an option;
    - a value with CR or LF substituted into an HTTP header name or value.
    Only values present now are checked; captures are checked when their step is resolved
    (``Values.command``, the http executor)."""
    problems: list[str] = []
    seen: set[tuple[str, str]] = set()
    c = values.checklist
    for _phase, _alt, step in c.iter_steps():
        if step.kind in ("ssh", "local"):
            for name in template.names(step.run):
                value = values.values.get(name)
                if value is None or ("option", name) in seen or may_be_option(c, name):
                    continue
                if option_like(value):
                    seen.add(("option", name))
                    problems.append(option_message(name, value, step.id, secret=values.is_secret(name)))
        elif step.kind == "http":
            for key, text in step.headers.items():
                for where, part in (("header name", key), (f"header '{key}'", text)):
                    for name in template.names(part):
                        value = values.values.get(name)
                        if value is None or ("header", name) in seen:
                            continue
                        if "\r" in value or "\n" in value:
                            seen.add(("header", name))
                            problems.append(header_message(name, where, step.id))
    return problems
