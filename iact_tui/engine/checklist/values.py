"""The values a run substitutes (variables, built-ins, captures), and the values it refuses.

Secrets are masked by value through the Redactor (masking.py)."""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from iact_tui.engine.checklist import template
from iact_tui.engine.checklist.masking import MASK, Redactor
from iact_tui.engine.checklist.model import BUILTIN_VARS, Checklist
from iact_tui.engine.errors import IactError


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
                raise UnsafeSubstitution(
                    option_message(name, value, "", secret=self.is_secret(name))
                )
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
            k: v
            for k, v in self.values.items()
            if k in self.checklist.vars and k not in self.secret_names
        }
        problems = unsafe_values(self)
        if problems:
            raise UnsafeValues(problems[0])
        return out


MIN_SECRET_LENGTH = 4  # a shorter secret cannot be masked by value without mangling other text


class UnsafeValues(IactError, ValueError):
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
        n: values.values[n]
        for n in sorted(values.secret_names)
        if n in values.checklist.vars and values.values.get(n)
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


class UnsafeSubstitution(IactError, ValueError):
    """A value cannot be substituted where a step puts it: a value starting with '-' in a
    command (it could be taken as an option), a line break in an HTTP header. The message names
    the variable and the step, never a secret's value; nothing was run or sent."""


def option_like(value: str) -> bool:
    """A value a command could take as an option (``--upload-pack=...``, ``-x``)."""
    return value.startswith("-")


def may_be_option(checklist: Checklist, name: str) -> bool:
    """Whether ``{name}`` may hold a value starting with '-' in a command: declared so
    (``option = true``), a shell fragment (``command = true``), or a built-in (set by iact-tui)."""
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
                    problems.append(
                        option_message(name, value, step.id, secret=values.is_secret(name))
                    )
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
