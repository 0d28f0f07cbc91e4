"""Verify an exported report (or a run folder): signatures, event chain, tables, logs, checklist.

What is checked, and what each check proves:

- ``report.toml.sig`` (and the ``.sig`` of every other exported file): an SSHSIG signature in the
  ``iact-tui-report`` namespace over those exact bytes; with ``--allowed-signers`` the key must be
  listed there for that namespace, the identity and the current time. A signature holds no
  time: it proves *who* signed *these bytes*, not when.
- the ``[[events]]`` hash chain: each event carries the hash of the one before, so a removed,
  reordered or edited event is caught even in an unsigned report.
- ``[run]`` and ``[[steps]]`` are a projection of the events: they are recomputed and compared,
  so an edited step row is caught too.
- every step log the events give a sha256 for is re-hashed; ``checklist.toml`` against the
  pinned sha256; the files listed in ``export.toml`` against their sha256.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iact_tui.engine.export import FORMAT_FILES, MANIFEST, NOT_FINAL, is_inside, toml_loads
from iact_tui.engine.export_names import SIG_SUFFIX
from iact_tui.engine.state import RunState, reduce
from iact_tui.engine.store import (
    JOURNAL,
    PINNED,
    REPORT,
    SCHEMA_VERSION,
    ReportError,
    build_report,
    check_chain,
    read_records,
)

if TYPE_CHECKING:  # asyncssh is imported only when there is a signature to check
    from iact_tui.engine.signing import AllowedSigners, SignatureCheck

MAX_DIFFERENCES = 8


class VerifyInputError(Exception):
    """Nothing to verify: a missing file, a report that cannot be read, a bad allowed_signers."""


@dataclass
class Check:
    ok: bool
    topic: str  # signature | report | events | tables | logs | checklist | export
    text: str


@dataclass
class Verification:
    folder: Path
    report: Path
    checks: list[Check] = field(default_factory=list)
    signatures: list[SignatureCheck] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    state: RunState | None = None
    manifest: dict[str, Any] | None = None
    trusted: bool = False  # --allowed-signers was given

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks) and all(s.ok for s in self.signatures)

    @property
    def problems(self) -> list[str]:
        return [s.describe() for s in self.signatures if not s.ok] + [
            c.text for c in self.checks if not c.ok
        ]

    @property
    def report_signature(self) -> SignatureCheck | None:
        return next((s for s in self.signatures if s.file == self.report.name), None)


def locate(target: Path) -> tuple[Path, Path, Path | None]:
    """(folder, report file, another signed file the user named) for FILE."""
    if target.is_dir():
        report = target / REPORT
        if not report.exists():
            raise VerifyInputError(f"{target} holds no {REPORT}")
        return target, report, None
    if not target.exists():
        raise VerifyInputError(f"no such file or folder: {target}")
    if target.name.endswith(SIG_SUFFIX):
        target = target.with_name(target.name[: -len(SIG_SUFFIX)])
        if not target.exists():
            raise VerifyInputError(f"no file {target} next to its signature")
    if target.suffix in (".md", ".html", ".htm") or target.name == MANIFEST:
        report = target.parent / REPORT
        if not report.exists():
            raise VerifyInputError(f"{target.parent} holds no {REPORT} to go with {target.name}")
        return target.parent, report, target
    return target.parent, target, None


def verify(
    target: Path, allowed_signers: Path | None = None, identity: str | None = None
) -> Verification:
    """Verify FILE (a report, an export folder or a run folder). Raises VerifyInputError."""
    folder, report, extra = locate(Path(target))
    allowed: AllowedSigners | None = None
    if allowed_signers is not None:
        from iact_tui.engine.signing import AllowedSignersError, load_allowed_signers

        try:
            allowed = load_allowed_signers(allowed_signers)
        except AllowedSignersError as exc:
            raise VerifyInputError(str(exc)) from None
    result = Verification(folder, report, trusted=allowed is not None)
    try:
        raw = report.read_bytes()
    except OSError as exc:
        raise VerifyInputError(f"cannot read {report}: {exc.strerror}") from None

    _check_signature_of(result, report, raw, allowed, identity, required=True)

    # the record itself
    try:
        data = toml_loads(raw.decode("utf-8"))
        if data.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(
                f"it has schema_version {data.get('schema_version')!r}; this iact-tui reads {SCHEMA_VERSION}"
            )
        events = data.get("events")
        if (
            not isinstance(events, list)
            or not events
            or not all(isinstance(e, dict) for e in events)
        ):
            raise ValueError("it holds no [[events]]")
    except ValueError as exc:  # TOMLDecodeError, UnicodeDecodeError, or ours
        if result.signatures and not all(s.ok for s in result.signatures):
            result.checks.append(
                Check(False, "report", f"{report.name} cannot be read as a report: {exc}")
            )
            return result
        raise VerifyInputError(f"{report} cannot be read as a run report: {exc}") from None

    chain = check_chain(events)
    if chain:
        result.checks += [Check(False, "events", f"{report.name}: {p}") for p in chain]
    else:
        result.checks.append(
            Check(
                True,
                "events",
                f"{len(events)} events, hash chain intact (last hash {events[-1]['hash'][:16]}…)",
            )
        )

    records = events
    journal = folder / JOURNAL
    if not chain and report.name == REPORT and journal.exists() and journal.stat().st_size > 0:
        try:
            records = read_records(folder)
        except ReportError as exc:
            result.checks.append(Check(False, "events", str(exc)))
        else:
            if len(records) > len(events):
                result.notes.append(
                    f"{len(records) - len(events)} records in {JOURNAL} are not yet in {REPORT}: "
                    "the run is in progress or was interrupted; they were checked too"
                )
    try:
        state = reduce(records)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        result.checks.append(
            Check(False, "events", f"the events cannot be replayed ({type(exc).__name__}: {exc})")
        )
        return result
    result.state = state

    if not chain:
        try:
            differences = compare_report(data, events)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            differences = [
                f"the tables cannot be compared with the events ({type(exc).__name__}: {exc})"
            ]
        if differences:
            result.checks += [Check(False, "tables", d) for d in differences]
        else:
            result.checks.append(
                Check(
                    True,
                    "tables",
                    f"[run] and [[steps]] agree with the events ({len(state.steps)} steps)",
                )
            )

    problem = pinned_checklist_problem(folder, state)
    if problem:
        result.checks.append(Check(False, "checklist", problem))
    else:
        result.checks.append(
            Check(
                True,
                "checklist",
                f"{PINNED} matches the pinned sha256 {state.checklist_sha256[:16]}…",
            )
        )

    _check_logs(result, folder, state)
    _check_exported_files(result, folder, report, extra, allowed, identity, state)
    if state.status not in ("succeeded", "rolled_back", "aborted"):
        result.notes.append(
            f"the run was not finished when this report was written (status {state.status})"
        )
    return result


def _check_signature_of(
    result: Verification,
    path: Path,
    data: bytes,
    allowed: AllowedSigners | None,
    identity: str | None,
    *,
    required: bool,
) -> None:
    sig = path.with_name(path.name + SIG_SUFFIX)
    if sig.exists():
        try:
            text = sig.read_bytes()
        except OSError as exc:
            result.checks.append(
                Check(False, "signature", f"cannot read {sig.name}: {exc.strerror}")
            )
            return
        from iact_tui.engine.signing import check_signature

        result.signatures.append(check_signature(path.name, data, text, allowed, identity))
    elif allowed is not None and required:
        result.checks.append(
            Check(
                False, "signature", f"{path.name} is not signed: there is no {sig.name} next to it"
            )
        )
    else:
        result.notes.append(f"{path.name} is not signed (no {sig.name})")


def _check_logs(result: Verification, folder: Path, state: RunState) -> None:
    good = 0
    unfinished = []
    for s in state.steps.values():
        if not s.log_sha256:
            continue
        if s.status in NOT_FINAL:
            unfinished.append(s.id)
            continue
        if not is_inside(s.log):
            result.checks.append(
                Check(False, "logs", f"step '{s.id}' names a log outside the folder ({s.log})")
            )
            continue
        try:
            with open(os.path.join(folder, s.log), "rb") as f:
                data = f.read()
        except FileNotFoundError:
            result.checks.append(
                Check(False, "logs", f"{s.log} is missing (step '{s.id}' recorded its sha256)")
            )
            continue
        except OSError as exc:
            result.checks.append(Check(False, "logs", f"cannot read {s.log}: {exc.strerror}"))
            continue
        digest = hashlib.sha256(data).hexdigest()
        if digest != s.log_sha256:
            size = (
                f"; {len(data)} bytes, {s.log_bytes} recorded"
                if s.log_bytes and len(data) != s.log_bytes
                else ""
            )
            result.checks.append(
                Check(
                    False,
                    "logs",
                    f"{s.log} does not match the sha256 recorded for step '{s.id}' "
                    f"(recorded {s.log_sha256[:16]}…, file {digest[:16]}…{size}): the log was changed",
                )
            )
            continue
        good += 1
    result.checks.append(
        Check(
            True, "logs", f"{good} step log{'s' if good != 1 else ''} match their recorded sha256"
        )
    )
    if unfinished:
        result.notes.append(
            f"{len(unfinished)} step log(s) still being written were not checked: {', '.join(unfinished[:5])}"
        )


def _check_exported_files(
    result: Verification,
    folder: Path,
    report: Path,
    extra: Path | None,
    allowed: AllowedSigners | None,
    identity: str | None,
    state: RunState,
) -> None:
    names = [FORMAT_FILES["md"], FORMAT_FILES["html"], MANIFEST]
    if extra is not None and extra.name not in names:
        names.append(extra.name)
    for name in names:
        path = folder / name
        if not path.exists():
            continue
        try:
            data = path.read_bytes()
        except OSError as exc:
            result.checks.append(Check(False, "export", f"cannot read {name}: {exc.strerror}"))
            continue
        _check_signature_of(
            result, path, data, allowed, identity, required=extra is not None and name == extra.name
        )
    manifest = folder / MANIFEST
    if not manifest.exists():
        return
    try:
        doc = tomllib.loads(manifest.read_text(encoding="utf-8"))
        files = doc.get("files", [])
        info = doc.get("export", {})
        if not isinstance(files, list) or not isinstance(info, dict):
            raise ValueError("unexpected layout")
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, ValueError) as exc:
        result.checks.append(Check(False, "export", f"{MANIFEST} cannot be read: {exc}"))
        return
    result.manifest = doc
    if info.get("run_id") not in (None, state.run_id):
        result.checks.append(
            Check(
                False, "export", f"{MANIFEST} is about run {info.get('run_id')}, not {state.run_id}"
            )
        )
    bad = 0
    for entry in files:
        if not isinstance(entry, dict):
            continue
        name = str(entry.get("path", ""))
        path = folder / name
        if "/" in name or name.startswith(".") or not path.exists():
            result.checks.append(Check(False, "export", f"{name} listed in {MANIFEST} is missing"))
            bad += 1
            continue
        if hashlib.sha256(path.read_bytes()).hexdigest() != entry.get("sha256"):
            result.checks.append(
                Check(
                    False,
                    "export",
                    f"{name} does not match the sha256 listed in {MANIFEST}: it was changed after the export",
                )
            )
            bad += 1
    if not bad:
        result.checks.append(
            Check(True, "export", f"the {len(files)} files listed in {MANIFEST} match their sha256")
        )


def pinned_checklist_problem(folder: Path, state: RunState) -> str:
    path = folder / PINNED
    if not state.checklist_sha256:
        return ""
    if not path.exists():
        return f"{PINNED} is missing (the report pins the checklist by sha256 {state.checklist_sha256[:16]}…)"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != state.checklist_sha256:
        return f"{PINNED} does not match the sha256 the report pins ({state.checklist_sha256[:16]}…, file {digest[:16]}…): it was changed"
    return ""


# -- the tables are a projection of the events ----------------------------------------------


def compare_report(data: dict[str, Any], events: list[dict[str, Any]]) -> list[str]:
    """Where report.toml's [run] and [[steps]] differ from what its events give, in words."""
    # build_report only copies the records into "events": give it none, compare the tables
    expected = build_report([], reduce(events))
    out: list[str] = []
    for key in data:
        if key not in expected:
            out.append(f"report.toml has '{key}', which its events do not give")
    for key in expected:
        if key not in data and key != "events":
            out.append(f"report.toml has no '{key}'")
    run, want_run = data.get("run"), expected.get("run", {})
    if isinstance(run, dict):
        if "iact_tui_version" not in events[0]:  # filled in by the writing version then
            want_run = {**want_run, "iact_tui_version": run.get("iact_tui_version")}
        out += _compare_table("[run]", run, want_run)
    elif "run" in data:
        out.append("report.toml's [run] is not a table")
    steps, want_steps = data.get("steps", []), expected.get("steps", [])
    if not isinstance(steps, list) or not all(isinstance(r, dict) for r in steps):
        out.append("report.toml's [[steps]] is not a list of tables")
    else:
        out += _compare_steps(steps, want_steps)
    if len(out) > MAX_DIFFERENCES:
        out = [*out[:MAX_DIFFERENCES], f"and {len(out) - MAX_DIFFERENCES} more differences"]
    return out


def _compare_steps(rows: list[dict[str, Any]], want: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    by_id = {str(r.get("id")): r for r in rows}
    want_ids = [str(r["id"]) for r in want]
    for r in rows:
        if str(r.get("id")) not in want_ids:
            out.append(f"[[steps]] has a row '{r.get('id')}' that the events do not give")
    for w in want:
        row = by_id.get(str(w["id"]))
        if row is None:
            out.append(f"[[steps]] has no row for step '{w['id']}', which the events give")
            continue
        out += _compare_table(f"[[steps]] row '{w['id']}'", row, w)
    if not out and [str(r.get("id")) for r in rows] != want_ids:
        out.append("the [[steps]] rows are not in the order of the events")
    return out


def _compare_table(name: str, have: dict[str, Any], want: dict[str, Any]) -> list[str]:
    out = []
    for key in have:
        if key not in want:
            out.append(f"{name} has {key} = {_show(have[key])}, which the events do not give")
    for key, value in want.items():
        if key not in have:
            out.append(f"{name} has no {key}; the events say {_show(value)}")
        elif not _same(have[key], value):
            out.append(f"{name}: {key} is {_show(have[key])} but the events say {_show(value)}")
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, datetime) and isinstance(b, datetime):
        return a == b and (a.tzinfo is None) == (b.tzinfo is None)
    if type(a) is not type(b) and not (isinstance(a, (int, float)) and isinstance(b, (int, float))):
        return False
    return bool(a == b)


def _show(value: Any) -> str:
    text = value.isoformat() if isinstance(value, datetime) else repr(value)
    return text if len(text) <= 80 else text[:77] + "…"
