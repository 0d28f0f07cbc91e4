"""Variable values, captures and redaction of secrets by value."""

from __future__ import annotations

import json
import os
import shlex
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from iact_tui.engine import template
from iact_tui.engine.checklist import Checklist

MASK = "***"


class Redactor:
    """Replaces every known secret value (and its URL- and JSON-escaped forms) with ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._needles: list[str] = []
        for s in secrets:
            self.add(s)

    def add(self, secret: str) -> None:
        if not secret:
            return
        forms = {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret), json.dumps(secret)[1:-1]}
        self._needles = sorted(set(self._needles) | {f for f in forms if f}, key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self._needles)

    def __call__(self, text: str) -> str:
        for needle in self._needles:
            if needle in text:
                text = text.replace(needle, MASK)
        return text

    def value(self, value: Any) -> Any:
        """Redact every string inside a JSON-like value."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        return value


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
        """A command with every value shell-quoted (command variables inserted as written)."""
        return template.render(text, self.lookup, quote=self.shell_quote)

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
        """Variables that may be written to a report (no secrets, no built-ins; a value that
        contains a secret's value is masked)."""
        return {
            k: self.redactor(v)
            for k, v in self.values.items()
            if k in self.checklist.vars and k not in self.secret_names
        }


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
