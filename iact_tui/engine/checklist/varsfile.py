"""A vars file (`run|resume --vars FILE`): an environment's values in one reviewed TOML file.

    # staging of my-app, for checklists/staging.toml
    base_url = "https://staging.my-app.example"
    app_dir = "/srv/my-app"
    has_frontend = false                                  # numbers and booleans are written as text
    smoke_password = { env = "MYAPP_SMOKE_PASSWORD" }     # a secret: only from the environment

One table of values, one key per variable the checklist declares. A secret's value is never
written in the file (it would be copied, reviewed and committed): a secret is named by the
environment variable that holds it, ``{ env = "NAME" }``, and a plain value for it is refused.
Any other variable may be given that way too.

It may also hold ``[hosts.NAME]`` tables: the environment's hosts over the checklist's (the
staging procedure on a group of app servers; hosts_override.py, docs/fleets.md). They are
recorded with the file's path and sha256, and a resume uses them again.

Precedence, lowest first: the checklist's default < the vars file < the environment (a
variable's own ``env =``) < ``--var``. The file's path and sha256 are recorded in the run's
``run_created`` record and in ``report.toml`` ``[run.vars_file]``.

Every problem is one line: the file, the line, what is wrong, and a hint.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from iact_tui.engine.checklist.model import Checklist
from iact_tui.engine.errors import IactError


class VarsFileError(IactError):
    """A vars file that cannot be used; the message names the file and the line."""

    def __init__(self, path: str, message: str, line: int | None = None, hint: str = "") -> None:
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {message}" + (f" (hint: {hint})" if hint else ""))


@dataclass(frozen=True)
class VarsFile:
    path: Path
    sha256: str
    values: dict[str, str] = field(default_factory=dict)  # name -> value, as text
    env_refs: dict[str, str] = field(default_factory=dict)  # name -> environment variable
    lines: dict[str, int] = field(default_factory=dict)
    hosts: dict[str, Any] = field(default_factory=dict)  # [hosts.NAME] over the checklist's

    @property
    def names(self) -> list[str]:
        return [*self.values, *self.env_refs]

    def record(self) -> dict[str, Any]:
        """What the run records: where the file was and exactly which bytes it held (and its
        ``[hosts.NAME]`` tables, which a resume applies again: hosts_override.py)."""
        out: dict[str, Any] = {"path": str(self.path.resolve()), "sha256": self.sha256}
        if self.hosts:
            out["hosts"] = self.hosts
        return out

    def check(self, checklist: Checklist) -> None:
        """Every name is a variable of ``checklist``; no secret is written in the file; a value
        is one of the variable's ``choices``. Raises VarsFileError (the first problem)."""
        declared = list(checklist.vars)
        for name in self.names:
            line = self.lines.get(name)
            spec = checklist.vars.get(name)
            if spec is None:
                close = difflib.get_close_matches(name, declared, n=1)
                raise VarsFileError(
                    str(self.path),
                    f"the checklist declares no variable '{name}'",
                    line,
                    f"did you mean '{close[0]}'?"
                    if close
                    else "the names are the checklist's [vars.NAME] tables",
                )
            if spec.secret and name in self.values:
                env = spec.env or f"{name.upper()}"
                raise VarsFileError(
                    str(self.path),
                    f"'{name}' is a secret: its value must not be written in a vars file",
                    line,
                    f'write {name} = {{ env = "{env}" }} and set ${env} in the environment',
                )
            if spec.choices and name in self.values and self.values[name] not in spec.choices:
                raise VarsFileError(
                    str(self.path),
                    f"'{name}' is {self.values[name]!r}, not one of {', '.join(spec.choices)}",
                    line,
                )

    def layer(
        self, checklist: Checklist, environ: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """The values this file contributes, to be overridden by ``--var``.

        A variable whose own ``env =`` is set in the environment keeps that value (the
        environment ranks above the file); a ``{ env = "NAME" }`` whose NAME is not set gives
        nothing (the variable then has its default, or is asked for, as without the file)."""
        environ = os.environ if environ is None else environ
        out: dict[str, str] = {}
        for name in self.names:
            spec = checklist.vars.get(name)
            if spec is not None and spec.env and environ.get(spec.env):
                continue
            if name in self.values:
                out[name] = self.values[name]
            elif environ.get(self.env_refs[name]):
                out[name] = environ[self.env_refs[name]]
        return out


def read_vars_file(path: str | Path) -> VarsFile:
    """Read and shape-check a vars file (names are checked against a checklist by ``check``)."""
    path = Path(path)
    name = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise VarsFileError(name, "vars file not found", hint="check the path") from None
    except IsADirectoryError:
        raise VarsFileError(
            name, "is a folder, not a vars file", hint="name a .toml file"
        ) from None
    except OSError as exc:
        raise VarsFileError(name, f"cannot read the vars file: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        bad_line = raw.count(b"\n", 0, exc.start) + 1
        raise VarsFileError(name, "not UTF-8 text", bad_line, "save the file as UTF-8") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column \d+\)$", str(exc))
        message = re.sub(r" \(at (line \d+, column \d+|end of document)\)$", "", str(exc))
        raise VarsFileError(
            name,
            f"TOML syntax error: {message}",
            int(m.group(1)) if m else None,
            'one value per line: name = "value"',
        ) from None
    lines = _key_lines(text)
    values: dict[str, str] = {}
    env_refs: dict[str, str] = {}
    hosts: dict[str, Any] = {}
    for key, value in data.items():
        line = lines.get(key)
        if key == "hosts" and isinstance(value, dict) and "env" not in value:
            # [hosts.NAME] tables: the environment's hosts over the checklist's (a group of app
            # servers where the checklist has one host); checked when applied
            bad = next((k for k, v in value.items() if not isinstance(v, dict)), None)
            if bad is not None:
                raise VarsFileError(
                    name,
                    f"hosts.{bad} is not a table",
                    line,
                    f"write [hosts.{bad}] with address, user … or members",
                )
            hosts = value
            continue
        if isinstance(value, dict):
            env = value.get("env")
            if set(value) != {"env"} or not isinstance(env, str) or not env.strip():
                raise VarsFileError(
                    name,
                    f"'{key}' is a table; a vars file holds one table of values",
                    line,
                    f'write {key} = "value", or {key} = {{ env = "NAME" }} to read it from the environment',
                )
            env_refs[key] = env.strip()
        elif isinstance(value, bool):
            values[key] = "true" if value else "false"
        elif isinstance(value, int | float | str):
            values[key] = str(value)
        else:
            what = (
                "an array"
                if isinstance(value, list)
                else (
                    "a date/time"
                    if isinstance(value, datetime | date | time)
                    else type(value).__name__
                )
            )
            raise VarsFileError(
                name,
                f"'{key}' is {what}; a variable's value is a string, a number or true/false",
                line,
                f'write {key} = "..." (a list of paths, for one: "a b c")',
            )
    return VarsFile(path, hashlib.sha256(raw).hexdigest(), values, env_refs, lines, hosts)


def apply_vars_file(
    checklist: Checklist, spec: Any, environ: Mapping[str, str] | None = None
) -> tuple[Any, dict[str, Any] | None]:
    """``spec`` (a SessionSpec) with its vars file's values under its ``--var`` overrides, and the
    record of the file for ``run_created`` (None without a file). Raises VarsFileError."""
    path = getattr(spec, "vars_file", None)
    if not path:
        return spec, None
    vars_file = read_vars_file(path)
    vars_file.check(checklist)
    merged = {**vars_file.layer(checklist, environ), **spec.overrides}
    return dataclasses.replace(spec, overrides=merged), vars_file.record()


_KEY_LINE = re.compile(r"""^\s*\[*\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*[=.\]]""")


def _key_lines(text: str) -> dict[str, int]:
    """The line of each top-level key (the file is one table: no headers to follow). Lines
    inside a multi-line string are skipped."""
    out: dict[str, int] = {}
    in_multiline: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if in_multiline is not None:
            if line.count(in_multiline) % 2 == 1:
                in_multiline = None
            continue
        m = _KEY_LINE.match(line)
        if m:
            key = next(g for g in m.groups() if g is not None)
            out.setdefault(key, number)
        for quote in ('"""', "'''"):
            if line.count(quote) % 2 == 1:
                in_multiline = quote
                break
    return out
