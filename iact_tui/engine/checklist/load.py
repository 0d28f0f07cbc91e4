"""Read a checklist file: TOML syntax, shape (pydantic), then cross-references.

Every problem becomes a ``Problem`` naming the file, the line where it can be found, the path
(``phases[2].steps[3].kind``) and a hint. ``load_checklist`` raises ``ChecklistError`` holding
all of them; it never lets a traceback reach the operator. The format is documented in
docs/checklist-format.md.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from iact_tui.engine.checklist.crosscheck import CrossCheck
from iact_tui.engine.checklist.locator import Locator
from iact_tui.engine.checklist.model import Checklist
from iact_tui.engine.checklist.problems import (
    FORMAT_DOC,
    ChecklistError,
    Problem,
    shape_problems,
    toml_problem,
)


@dataclass
class LoadedChecklist:
    checklist: Checklist
    path: Path
    text: str
    sha256: str
    warnings: list[Problem] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


def load_checklist(path: str | Path, *, pinned: bool = False) -> LoadedChecklist:
    """Read and check a checklist file (ChecklistError lists every problem). ``pinned``: see
    ``parse_checklist``."""
    path = Path(path)
    name = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ChecklistError(
            [
                Problem(
                    name,
                    "",
                    "file not found",
                    hint="check the path; checklists usually live in checklists/",
                )
            ]
        ) from None
    except IsADirectoryError:
        raise ChecklistError(
            [Problem(name, "", "is a directory, not a checklist file", hint="name a .toml file")]
        ) from None
    except PermissionError:
        raise ChecklistError(
            [Problem(name, "", "cannot read the file: permission denied")]
        ) from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ChecklistError([Problem(name, "", f"cannot read the file: {reason}")]) from None
    return parse_checklist(raw, name, pinned=pinned)


def parse_checklist(
    raw: bytes, filename: str = "<checklist>", *, pinned: bool = False
) -> LoadedChecklist:
    """Parse and check a checklist. ``pinned``: the checklist of a run that has started (the copy
    in its folder, or its file at a resume): the files it names for its approvers were read when
    the run started and are pinned in the run's first record (``approver_keys``), so they are not
    looked for again (a relative path names a file beside the original checklist, not beside the
    run's copy; a file moved or changed since must not stop a tick, a watch or a resume)."""
    sha = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        problem = Problem(
            filename,
            "",
            f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
            line=line,
            hint="save the file as UTF-8",
        )
        raise ChecklistError([problem]) from None
    # Editors on some systems write a byte-order mark; TOML does not allow one, we forgive it.
    text = text.removeprefix("\ufeff")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ChecklistError([toml_problem(filename, exc)]) from None
    locator = Locator(text)
    if not data:
        raise ChecklistError(
            [
                Problem(
                    filename,
                    "",
                    "the file holds no checklist (it is empty or only comments)",
                    hint=f"start with schema_version = 1, a [checklist] table and a [[phases]] table; see {FORMAT_DOC}",
                )
            ]
        )
    version = data.get("schema_version", 1)
    if version != 1 or isinstance(version, bool):
        raise ChecklistError(
            [
                Problem(
                    filename,
                    "schema_version",
                    f"schema_version {version!r} is not supported; this iact-tui reads schema_version = 1",
                    locator.line_of(("schema_version",)),
                    "write schema_version = 1, or use the iact-tui release that wrote this format",
                )
            ]
        )
    try:
        checklist = Checklist.model_validate(data)
    except ValidationError as exc:
        raise ChecklistError(shape_problems(filename, exc, data, locator)) from None
    problems = CrossCheck(checklist, filename, locator, pinned=pinned).run()
    errors = [p for p in problems if not p.warning]
    if errors:
        raise ChecklistError(errors)
    warnings = [p for p in problems if p.warning]
    return LoadedChecklist(checklist, Path(filename), text, sha, warnings, data)
